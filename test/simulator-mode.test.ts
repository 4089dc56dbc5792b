// `alphapulse simulate` as a real process: it logs its URLs, serves Kraken on SIMULATOR_PORT,
// stops cleanly (exit 0) on SIGTERM, and refuses a bad setting with exit code 2 naming it.
import { expect, setDefaultTimeout, test } from "bun:test";
import { ModeProcess } from "./support/mode-process.ts";
import { onFreePorts } from "./support/ports.ts";
import { RecordingClient } from "./support/simulator-ws-client.ts";
import { waitFor } from "./support/wait.ts";

// Generous on a loaded 2-core machine: the waits inside poll with their own deadlines.
setDefaultTimeout(30_000);

interface ListeningLine {
  readonly urls: { kraken: { ws: string }; binance: { rest: string } };
}

test("simulate serves on SIMULATOR_PORT and stops on SIGTERM with exit code 0", async () => {
  // A port named in advance, as an operator would; another one if someone else took it first.
  const { simulator, port, line } = await onFreePorts(1, async ([port]) => {
    const simulator = new ModeProcess("simulator", "simulate", {
      SIMULATOR_PORT: String(port),
      SIMULATOR_SYMBOLS: "BTC-USD,ETH-USDT",
      SIMULATOR_SEED: "9",
    });
    const line = (await simulator.startupLine("simulator listening", 20_000)) as unknown as ListeningLine;
    return { simulator, port, line };
  });
  try {
    expect(line.urls.kraken.ws).toBe(`ws://127.0.0.1:${port}/kraken/v2`);
    const client = await RecordingClient.connect(line.urls.kraken.ws);
    await waitFor("the status frame", () => client.frames.length > 0);
    expect(client.json()[0]).toMatchObject({ channel: "status" });
    client.close();
    const info = await fetch(`${line.urls.binance.rest}/api/v3/exchangeInfo?symbol=ETHUSDT`);
    expect(info.status).toBe(200);
    expect(await simulator.stop()).toBe(0);
    expect(simulator.records.map((record) => record.msg)).toContain("stopped");
  } finally {
    await simulator.stop("SIGKILL");
  }
}, 30_000);

test("a bad setting exits 2 and names it", async () => {
  const simulator = new ModeProcess("simulator", "simulate", {
    SIMULATOR_PORT: "0",
    SIMULATOR_UPDATES_PER_SECOND: "fast",
  });
  expect(await simulator.finished()).toBe(2);
  expect(simulator.output()).toContain("SIMULATOR_UPDATES_PER_SECOND");
}, 30_000);
