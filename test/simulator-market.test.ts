// The simulator's synthetic market on its own: the same seed gives the same events, the book stays
// sane (bid < ask, positive exact sizes, bounded depth), every change is reported (replaying the
// changes rebuilds the book exactly), and Kraken's number text parses back exactly.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import fc from "fast-check";
import { krakenNumber } from "../src/exchanges/kraken/simulator.ts";
import { SIMULATED_VENUES, type SimulatedVenueName } from "../src/exchanges/simulators.ts";
import { parseScaled } from "../src/market/decimal.ts";
import { instrumentFor } from "../src/simulator/instruments.ts";
import { Market, MarketSide } from "../src/simulator/market.ts";
import { Random } from "../src/simulator/random.ts";

// Generous on a loaded 2-core machine: the waits inside poll with their own deadlines.
setDefaultTimeout(30_000);

function market(seed: number, venue: SimulatedVenueName = "kraken", symbol = "BTC-USD", levels = 200) {
  const random = new Random(seed, `${venue}:${symbol}`);
  return new Market(instrumentFor(SIMULATED_VENUES[venue], symbol), random, {
    levels,
    tradeShare: 0.2,
    firstUpdateId: 1_000,
    firstTradeId: 5_000,
    openedMs: 1_800_000_000_000,
  });
}

describe("simulator market", () => {
  test("the same seed replays the same events; another seed does not", () => {
    const a = market(42);
    const b = market(42);
    const c = market(43);
    const run = (m: Market) => Array.from({ length: 2_000 }, () => m.next(0));
    const eventsA = run(a);
    expect(run(b)).toEqual(eventsA);
    expect(run(c)).not.toEqual(eventsA);
    expect(eventsA.filter((e) => e.trade !== undefined).length).toBeGreaterThan(200);
    // The trade history before the opening, for trade snapshots: 50 trades, oldest first, one a second.
    const history = market(42).recentTrades;
    expect(history.length).toBe(50);
    expect(history[49]!.timeMs).toBe(1_800_000_000_000 - 1_000);
    for (let i = 1; i < history.length; i++) expect(history[i]!.id).toBe(history[i - 1]!.id + 1);
  });

  test("invariants hold and the reported changes rebuild the book exactly (any seed, venue, symbol)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.constantFrom(...(Object.keys(SIMULATED_VENUES) as SimulatedVenueName[])),
        fc.constantFrom("BTC-USD", "ETH-USDT", "SOL-USD", "DOGE-USD", "ABC-EUR"),
        (seed, venue, symbol) => {
          const m = market(seed, venue, symbol, 50);
          const replica = { bid: new MarketSide("bid"), ask: new MarketSide("ask") };
          for (const [price, size] of m.bids.top(1_000)) replica.bid.set(price, size);
          for (const [price, size] of m.asks.top(1_000)) replica.ask.set(price, size);
          let lastUpdate = 1_000;
          let lastTrade = m.lastTradeId;
          for (let i = 0; i < 300; i++) {
            const event = m.next(i);
            expect(event.updateId).toBe(++lastUpdate);
            if (event.trade !== undefined) {
              expect(event.trade.id).toBe(++lastTrade);
              expect(event.trade.size).toBeGreaterThan(0);
            }
            for (const change of event.changes) replica[change.side].set(change.price, change.size);
            const bestBid = m.bids.priceAt(0)!;
            const bestAsk = m.asks.priceAt(0)!;
            expect(bestBid).toBeLessThan(bestAsk);
            expect(m.bids.count).toBeGreaterThanOrEqual(25);
            expect(m.bids.count).toBeLessThanOrEqual(55);
          }
          expect(replica.bid.top(1_000)).toEqual(m.bids.top(1_000));
          expect(replica.ask.top(1_000)).toEqual(m.asks.top(1_000));
          for (const [price, size] of [...m.bids.top(1_000), ...m.asks.top(1_000)]) {
            expect(Number.isSafeInteger(price) && price > 0).toBe(true);
            expect(Number.isSafeInteger(size) && size > 0).toBe(true);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  test("Kraken number text: shortest form, exponent below 0.0001, parses back exactly", () => {
    expect(krakenNumber(452835, 1)).toBe("45283.5");
    expect(krakenNumber(632980, 1)).toBe("63298");
    expect(krakenNumber(0, 8)).toBe("0");
    expect(krakenNumber(5_100, 8)).toBe("5.1e-05");
    expect(krakenNumber(5_000, 8)).toBe("5e-05");
    expect(krakenNumber(1, 8)).toBe("1e-08");
    expect(krakenNumber(10_000, 8)).toBe("0.0001");
    expect(krakenNumber(10_000_000, 8)).toBe("0.1");
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 50 }), fc.integer({ min: 0, max: 8 }), (value, decimals) => {
        const text = krakenNumber(value, decimals);
        expect(typeof JSON.parse(text)).toBe("number");
        expect(parseScaled(text, decimals)).toBe(value);
      }),
      { numRuns: 2_000 },
    );
  });
});
