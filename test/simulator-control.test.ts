// The simulator's control API over HTTP: fault requests validated (bad JSON, unknown kind, venue,
// symbol, a kind the venue cannot do), the true book by normalized or venue symbol with depth, stats,
// and unknown routes; all against a real server on loopback.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { SIMULATED_VENUES } from "../src/exchanges/simulators.ts";
import { type Simulator, startSimulator } from "../src/simulator/index.ts";

// Generous on a loaded 2-core machine: the waits inside poll with their own deadlines.
setDefaultTimeout(30_000);

let sim: Simulator;
/** The control API's base, on the port the simulator picked. */
let base: string;

beforeAll(() => {
  sim = startSimulator({ symbols: ["BTC-USD", "ETH-USDT"], seed: 3, bookLevels: 50 });
  base = `http://127.0.0.1:${sim.port}`;
});

afterAll(async () => {
  await sim.stop();
});

const post = (body: string) => fetch(`${base}/control/fault`, { method: "POST", body });

describe("simulator control API", () => {
  test("fault requests are validated and answered with a reason", async () => {
    const cases: [string, RegExp][] = [
      ["{", /./],
      [JSON.stringify({ venue: "kraken", kind: "explode" }), /unknown fault kind/],
      [JSON.stringify({ venue: "bitmex", kind: "garbage" }), /unknown venue/],
      [JSON.stringify({ venue: "kraken", kind: "garbage", symbol: "XRP-USD" }), /does not serve/],
      [JSON.stringify({ venue: "kraken", kind: "skip-sequence" }), /kraken cannot inject skip-sequence/],
      [JSON.stringify({ venue: "coinbase", kind: "rate-limit" }), /coinbase cannot inject rate-limit/],
      [JSON.stringify({ venue: "binance", kind: "stall", durationMs: -5 }), /durationMs/],
    ];
    for (const [body, reason] of cases) {
      const response = await post(body);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toMatch(reason);
    }
    expect(() => sim.inject("kraken", "skip-sequence")).toThrow(/cannot inject/);
    const ok = await post(JSON.stringify({ venue: "binance", kind: "drop-frame", symbol: "ETHUSDT" }));
    expect(ok.status).toBe(200);
    const stats = (await (await fetch(`${base}/control/stats`)).json()) as ReturnType<Simulator["stats"]>;
    expect(stats.venues.binance.faultsInjected["drop-frame"]).toBe(1);
    expect(Object.keys(stats.venues).sort()).toEqual(Object.keys(SIMULATED_VENUES).sort());
  });

  test("true book by normalized or venue symbol, with depth", async () => {
    const kraken = (await (await fetch(`${base}/control/book/kraken/BTC-USD?depth=10`)).json()) as {
      venueSymbol: string;
      bids: [string, string][];
      asks: [string, string][];
      venueSeq: number;
    };
    expect(kraken.venueSymbol).toBe("BTC/USD");
    expect(kraken.bids.length).toBe(10);
    expect(kraken.asks.length).toBe(10);
    expect(kraken.bids[0]![0]).toMatch(/^\d+\.\d$/);
    expect(kraken.asks[0]![1]).toMatch(/^\d+\.\d{8}$/);
    expect(Number(kraken.bids[0]![0])).toBeLessThan(Number(kraken.asks[0]![0]));
    const binance = (await (await fetch(`${base}/control/book/binance/ETHUSDT`)).json()) as typeof kraken;
    expect(binance.venueSymbol).toBe("ETHUSDT");
    expect(binance.bids.length).toBeGreaterThanOrEqual(25);
    expect((await fetch(`${base}/control/book/binance/ETHUSDT?depth=0`)).status).toBe(400);
    expect((await fetch(`${base}/control/book/coinbase/XRP-USD`)).status).toBe(400);
    expect(sim.trueBook("coinbase", "ETH-USDT", 3).bids.length).toBe(3);
  });

  test("a venue-wide disconnect with a duration refuses new connections for that long", async () => {
    const client = new WebSocket(`ws://127.0.0.1:${sim.port}/coinbase`);
    await new Promise((resolve) => {
      client.onopen = resolve;
    });
    const closed = new Promise((resolve) => {
      client.onclose = resolve;
    });
    sim.inject("coinbase", { kind: "disconnect", durationMs: 1_500 });
    await closed;
    const attempt = () =>
      new Promise<boolean>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${sim.port}/coinbase`);
        ws.onopen = () => {
          ws.close();
          resolve(true);
        };
        ws.onerror = () => resolve(false);
      });
    expect(await attempt()).toBe(false);
    expect(sim.stats().venues.coinbase.connectionsRefused).toBe(1);
    const deadline = performance.now() + 20_000;
    while (!(await attempt())) {
      if (performance.now() > deadline) throw new Error("the venue never came back");
      await Bun.sleep(100);
    }
  });

  test("unknown routes and WebSocket paths answer 404", async () => {
    expect((await fetch(`${base}/control/nothing`)).status).toBe(404);
    expect((await fetch(`${base}/nasdaq/feed`)).status).toBe(404);
    expect((await fetch(`${base}/binance/api/v3/trades`)).status).toBe(404);
    const refused = await new Promise<boolean>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${sim.port}/kraken/v1`);
      ws.onopen = () => resolve(false);
      ws.onerror = () => resolve(true);
    });
    expect(refused).toBe(true);
  });
});
