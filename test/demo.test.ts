// The README's main command: `alphapulse demo` brings up the simulator, three collectors and the
// broadcaster; a WebSocket client gets live books from every venue; SIGTERM stops the whole tree.
// `demo --fabric` does the same across a three-node NATS cluster and two relay+broadcaster nodes.
import { afterAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { freePortRange } from "./support/nats.ts";

const SHM = `/dev/shm/ap-test-demo-${process.pid}`;
const PORTS = { SIMULATOR_PORT: "19601", WEBSOCKET_PORT: "19602", METRICS_PORT: "19603" };
afterAll(() => rmSync(SHM, { recursive: true, force: true }));

async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
}

test("demo: every venue's book reaches a WebSocket client, and SIGTERM stops every process", async () => {
  const demo = Bun.spawn(["bun", `${import.meta.dir}/../src/main.ts`, "demo"], {
    env: { ...process.env, ...PORTS, DEMO_COLLECTOR_METRICS_PORT: "19611", SHARED_MEMORY_PATH: SHM },
    stdout: "pipe",
    stderr: "inherit",
  });
  const logText = new Response(demo.stdout).text();
  try {
    await until(async () => {
      const response = await fetch(`http://127.0.0.1:${PORTS.METRICS_PORT}/ready`);
      return response.status === 200 ? true : undefined;
    }, "the broadcaster to be ready");
    for (const port of [19611, 19612, 19613]) {
      await until(
        async () => ((await fetch(`http://127.0.0.1:${port}/ready`)).status === 200 ? true : undefined),
        `collector :${port} ready`,
      );
    }
    const topics = ["book.kraken.BTC-USD", "book.binance.BTC-USDT", "book.coinbase.ETH-USD"];
    // A client subscribes to what the broadcaster lists: it finds each ring a moment after its collector makes it.
    await until(async () => {
      const listing = await (await fetch(`http://127.0.0.1:${PORTS.WEBSOCKET_PORT}/api/v1/symbols`)).json();
      const listed = new Set<string>();
      for (const venue of listing.exchanges) {
        for (const entry of venue.symbols)
          if (entry.book === "valid") listed.add(`book.${venue.exchange}.${entry.symbol}`);
      }
      return topics.every((topic) => listed.has(topic)) ? true : undefined;
    }, "every venue's books listed as valid");
    const ws = new WebSocket(`ws://127.0.0.1:${PORTS.WEBSOCKET_PORT}/ws`);
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
    await until(
      async () => (topics.every((t) => snapshots.has(t) && deltas.has(t)) ? true : undefined),
      "books",
    ).catch((error) => {
      throw new Error(
        `${error.message}: snapshots ${[...snapshots.keys()]}, deltas ${[...deltas]}, errors ${JSON.stringify(errors)}`,
      );
    });
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
    demo.kill("SIGTERM");
  }
  expect(await demo.exited).toBe(0);
  const lines = (await logText).trim().split("\n");
  const pids = new Set(lines.map((line) => JSON.parse(line).pid as number));
  expect(pids.size).toBeGreaterThanOrEqual(6); // demo + simulator + three collectors + broadcaster
  for (const pid of pids) {
    expect(() => process.kill(pid, 0)).toThrow(); // every one of them is gone
  }
}, 120_000);

test("demo --fabric: two nodes serve every venue from one leading collector each, and SIGTERM stops it all", async () => {
  // The demo uses ports after each of these: WebSocket +1, +10, +11; NATS +0..2, +10..12, +20..22.
  const base = freePortRange(60);
  const ports = {
    SIMULATOR_PORT: String(base),
    WEBSOCKET_PORT: String(base + 1),
    DEMO_NATS_PORT: String(base + 20),
    DEMO_COLLECTOR_METRICS_PORT: String(base + 44),
    DEMO_RELAY_METRICS_PORT: String(base + 50),
  };
  const demo = Bun.spawn(["bun", `${import.meta.dir}/../src/main.ts`, "demo", "--fabric"], {
    env: { ...process.env, ...ports, SHARED_MEMORY_PATH: `${SHM}-fabric`, FABRIC_LEASE_TTL_MS: "10000" },
    stdout: "pipe",
    stderr: "inherit",
  });
  const logText = new Response(demo.stdout).text();
  try {
    const expected = { kraken: 3, binance: 2, coinbase: 3 };
    for (const port of [base + 1, base + 11]) {
      await until(
        async () => {
          const listing = await (await fetch(`http://127.0.0.1:${port}/api/v1/symbols`)).json();
          const valid = Object.fromEntries(
            listing.exchanges.map((venue: { exchange: string; symbols: { book: string }[] }) => [
              venue.exchange,
              venue.symbols.filter((entry) => entry.book === "valid").length,
            ]),
          );
          return JSON.stringify(valid, Object.keys(expected).sort()) ===
            JSON.stringify(expected, Object.keys(expected).sort())
            ? true
            : undefined;
        },
        `node :${port} serving every venue's books`,
        90_000,
      ).catch(async (error: Error) => {
        demo.kill("SIGTERM");
        const lines = (await logText).split("\n");
        const problems = lines.filter((line) => /"level":"(warn|error)"/.test(line)).slice(0, 60);
        throw new Error(`${error.message}\n${[...problems, ...lines.slice(-20)].join("\n")}`);
      });
    }
    // Each venue: two collectors, one leading.
    const first = Number(ports.DEMO_COLLECTOR_METRICS_PORT);
    for (let venue = 0; venue < 3; venue++) {
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
