// The README's main command: `alphapulse demo` brings up the simulator, a collector per venue and
// the broadcaster; a WebSocket client gets live books from every venue; SIGTERM stops the whole tree.
// `demo --fabric` does the same across a three-node NATS cluster and two relay+broadcaster nodes.
import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { SIMULATED_VENUES } from "../src/exchanges/simulators.ts";
import { type LogRecord, ModeProcess } from "./support/mode-process.ts";
import { freePortRange } from "./support/nats.ts";
import { onFreePorts } from "./support/ports.ts";
import { httpStatus, waitFor } from "./support/wait.ts";

const SHM = `/dev/shm/ap-test-demo-${process.pid}`;
afterAll(() => rmSync(SHM, { recursive: true, force: true }));

/** Every venue the demo runs, with a topic of its. */
const VENUES = Object.entries(SIMULATED_VENUES).map(([exchange, venue]) => ({
  topic: `book.${exchange}.${venue.demoSymbols[0]}`,
}));

/** Demo waits poll HTTP: every 100 ms, for up to 45 s (a collector per venue syncs on a busy machine). */
const POLL = { timeoutMs: 45_000, intervalMs: 100 };

/**
 * The demo with its children's start-up lines. The collectors must know the simulator's port and
 * the demo numbers collector ports from one base, so those are named in advance (again on other
 * ports if someone else took one first); the broadcaster picks its own and logs them.
 */
function startDemo(): Promise<{ demo: ModeProcess; broadcaster: LogRecord; collectors: LogRecord[] }> {
  return onFreePorts(1 + VENUES.length, async ([simulatorPort, firstCollectorPort]) => {
    const demo = new ModeProcess("demo", "demo", {
      SIMULATOR_PORT: String(simulatorPort),
      DEMO_COLLECTOR_METRICS_PORT: String(firstCollectorPort),
      WEBSOCKET_PORT: "0",
      METRICS_PORT: "0",
      SHARED_MEMORY_PATH: SHM,
    });
    try {
      const broadcaster = await demo.logged("broadcasting");
      const collectors = await waitFor(
        "a collector per venue",
        () => {
          if (demo.proc.exitCode !== null) throw new Error(`the demo exited: ${demo.output()}`);
          const started = demo.records.filter((record) => record.msg === "collecting");
          return started.length === VENUES.length ? started : undefined;
        },
        POLL,
      );
      return { demo, broadcaster, collectors };
    } catch (error) {
      await demo.stop();
      throw error;
    }
  });
}

test("demo: every venue's book reaches a WebSocket client, and SIGTERM stops every process", async () => {
  const { demo, broadcaster, collectors } = await startDemo();
  const http = `http://127.0.0.1:${broadcaster.websocketPort}`;
  try {
    await waitFor(
      "the broadcaster to be ready",
      async () => (await httpStatus(`http://127.0.0.1:${broadcaster.metricsPort}/ready`)) === 200,
      POLL,
    );
    for (const { metricsPort } of collectors) {
      await waitFor(
        `collector :${metricsPort} ready`,
        async () => (await httpStatus(`http://127.0.0.1:${metricsPort}/ready`)) === 200,
        POLL,
      );
    }
    const topics = VENUES.map((venue) => venue.topic);
    // A client subscribes to what the broadcaster lists: it finds each ring a moment after its collector makes it.
    await waitFor(
      "every venue's books listed as valid",
      async () => {
        const listing = await (await fetch(`${http}/api/v1/symbols`)).json();
        const listed = new Set<string>();
        for (const venue of listing.exchanges) {
          for (const entry of venue.symbols)
            if (entry.book === "valid") listed.add(`book.${venue.exchange}.${entry.symbol}`);
        }
        return topics.every((topic) => listed.has(topic));
      },
      POLL,
    );
    const ws = new WebSocket(`ws://127.0.0.1:${broadcaster.websocketPort}/ws`);
    const snapshots = new Map<string, { bids: [string, string][]; asks: [string, string][] }>();
    const deltas = new Set<string>();
    const errors: unknown[] = [];
    ws.onopen = () => ws.send(JSON.stringify({ op: "subscribe", topics }));
    ws.onmessage = (event) => {
      const message = JSON.parse(String(event.data));
      if (message.type === "snapshot") snapshots.set(message.topic, message);
      if (message.type === "delta") deltas.add(message.topic);
      if (message.type === "error") errors.push(message);
    };
    await waitFor("books", () => topics.every((t) => snapshots.has(t) && deltas.has(t)), POLL).catch(
      (error) => {
        throw new Error(
          `${error.message}: snapshots ${[...snapshots.keys()]}, deltas ${[...deltas]}, errors ${JSON.stringify(errors)}`,
        );
      },
    );
    for (const topic of topics) {
      const book = snapshots.get(topic)!;
      expect(book.bids.length).toBeGreaterThan(0);
      expect(book.asks.length).toBeGreaterThan(0);
      // A sane book: best bid below best ask, prices as exact decimal strings.
      expect(Number(book.bids[0]![0])).toBeLessThan(Number(book.asks[0]![0]));
      expect(book.bids[0]![0]).toMatch(/^\d+(\.\d+)?$/);
    }
    ws.close();
  } finally {
    expect(await demo.stop()).toBe(0);
  }
  const pids = new Set(demo.records.map((record) => record.pid));
  expect(pids.size).toBeGreaterThanOrEqual(3 + VENUES.length); // demo, simulator, collectors, broadcaster
  for (const pid of pids) {
    expect(() => process.kill(pid, 0)).toThrow(); // every one of them is gone
  }
}, 120_000);

test("demo --fabric: two nodes serve every venue from one leading collector each, and SIGTERM stops it all", async () => {
  const venues = Object.keys(SIMULATED_VENUES).length;
  // The demo uses ports after each of these: WebSocket +1, +10, +11; NATS +0..2, +10..12, +20..22;
  // two collectors and two relays per venue.
  const base = freePortRange(43 + 4 * venues);
  const ports = {
    SIMULATOR_PORT: String(base),
    WEBSOCKET_PORT: String(base + 1),
    DEMO_NATS_PORT: String(base + 20),
    DEMO_COLLECTOR_METRICS_PORT: String(base + 43),
    DEMO_RELAY_METRICS_PORT: String(base + 43 + 2 * venues),
  };
  const demo = Bun.spawn(["bun", `${import.meta.dir}/../src/main.ts`, "demo", "--fabric"], {
    env: { ...process.env, ...ports, SHARED_MEMORY_PATH: `${SHM}-fabric`, FABRIC_LEASE_TTL_MS: "10000" },
    stdout: "pipe",
    stderr: "inherit",
  });
  const logText = new Response(demo.stdout).text();
  const expected = JSON.stringify(
    Object.fromEntries(
      Object.entries(SIMULATED_VENUES)
        .map(([exchange, venue]) => [exchange, venue.demoSymbols.length] as const)
        .sort(([a], [b]) => a.localeCompare(b)),
    ),
  );
  /** Each venue's count of valid books a node lists ("" while it does not answer). */
  const validBooks = async (port: number): Promise<string> => {
    try {
      const listing = await (await fetch(`http://127.0.0.1:${port}/api/v1/symbols`)).json();
      const entries = listing.exchanges.map((venue: { exchange: string; symbols: { book: string }[] }) => [
        venue.exchange,
        venue.symbols.filter((entry) => entry.book === "valid").length,
      ]) as [string, number][];
      return JSON.stringify(Object.fromEntries(entries.sort(([a], [b]) => a.localeCompare(b))));
    } catch {
      return "";
    }
  };
  try {
    for (const port of [base + 1, base + 11]) {
      await waitFor(
        `node :${port} serving every venue's books`,
        async () => {
          if (demo.exitCode !== null) throw new Error(`the demo exited ${demo.exitCode}`);
          return (await validBooks(port)) === expected;
        },
        { timeoutMs: 90_000, intervalMs: 100 },
      ).catch(async (error: Error) => {
        demo.kill("SIGTERM");
        const lines = (await logText).split("\n");
        const problems = lines.filter((line) => /"level":"(warn|error)"/.test(line)).slice(0, 60);
        throw new Error(`${error.message}\n${[...problems, ...lines.slice(-20)].join("\n")}`);
      });
    }
    // Each venue: two collectors, one leading.
    const first = Number(ports.DEMO_COLLECTOR_METRICS_PORT);
    for (let venue = 0; venue < venues; venue++) {
      const leaders = await Promise.all(
        [0, 1].map(async (copy) => {
          const text = await (await fetch(`http://127.0.0.1:${first + 2 * venue + copy}/metrics`)).text();
          return Number(/^alphapulse_fabric_leader\{[^}]*\} (\d+)/m.exec(text)?.[1]);
        }),
      );
      expect(leaders.sort()).toEqual([0, 1]);
    }
  } finally {
    demo.kill("SIGTERM");
    rmSync(`${SHM}-fabric`, { recursive: true, force: true });
  }
  expect(await demo.exited).toBe(0);
}, 150_000);
