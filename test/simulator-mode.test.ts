// `alphapulse simulate` as a real process: it logs its URLs, serves Kraken on SIMULATOR_PORT,
// stops cleanly (exit 0) on SIGTERM, and refuses a bad setting with exit code 2 naming it.
import { expect, setDefaultTimeout, test } from "bun:test";
import path from "node:path";
import { RecordingClient, waitFor } from "./simulator-ws-client.ts";

// Generous on a loaded 2-core machine: the waits inside poll with their own deadlines.
setDefaultTimeout(30_000);

const ROOT = path.resolve(import.meta.dir, "..");
const PORT = 19250;

test("simulate serves on SIMULATOR_PORT and stops on SIGTERM with exit code 0", async () => {
  const child = Bun.spawn(["bun", "src/main.ts", "simulate"], {
    cwd: ROOT,
    env: {
      ...process.env,
      SIMULATOR_PORT: String(PORT),
      SIMULATOR_SYMBOLS: "BTC-USD,ETH-USDT",
      SIMULATOR_SEED: "9",
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  let output = "";
  const reader = (async () => {
    for await (const chunk of child.stdout) output += new TextDecoder().decode(chunk);
  })();
  try {
    await waitFor("the listening log line", () => output.includes("simulator listening"), 20_000);
    const line = JSON.parse(output.split("\n").find((l) => l.includes("simulator listening"))!) as {
      urls: { kraken: { ws: string }; binance: { rest: string } };
    };
    expect(line.urls.kraken.ws).toBe(`ws://127.0.0.1:${PORT}/kraken/v2`);
    const client = await RecordingClient.connect(line.urls.kraken.ws);
    await waitFor("the status frame", () => client.frames.length > 0);
    expect(client.json()[0]).toMatchObject({ channel: "status" });
    client.close();
    const info = await fetch(`${line.urls.binance.rest}/api/v3/exchangeInfo?symbol=ETHUSDT`);
    expect(info.status).toBe(200);
    child.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    await reader;
    expect(output).toContain('"msg":"stopped"');
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
  }
}, 30_000);

test("a bad setting exits 2 and names it", async () => {
  const child = Bun.spawn(["bun", "src/main.ts", "simulate"], {
    cwd: ROOT,
    env: { ...process.env, SIMULATOR_PORT: String(PORT + 1), SIMULATOR_UPDATES_PER_SECOND: "fast" },
    stdout: "pipe",
    stderr: "pipe",
  });
  expect(await child.exited).toBe(2);
  expect(await new Response(child.stderr).text()).toContain("SIMULATOR_UPDATES_PER_SECOND");
}, 30_000);
