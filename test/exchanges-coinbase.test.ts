// Coinbase Advanced Trade: l2_data snapshot/update (nautilus fixtures), market_trades with
// sequence numbers (ccxt and nautilus fixtures), the per-connection sequence check, and the
// documented trade-side switch.
import { afterEach, describe, expect, test } from "bun:test";
import {
  COINBASE_TRADE_SIDE_IS,
  coinbase,
  coinbaseAggressor,
  parseProduct,
} from "../src/exchanges/coinbase/venue.ts";
import { TradeSide, UnknownSymbolError } from "../src/exchanges/venue.ts";
import { fixtureText } from "./support/fixtures.ts";
import { RecordingStream, VenueHarness } from "./support/venue-harness.ts";

const SPECS = [
  { venueSymbol: "BTC-USD", symbol: "BTC-USD", priceDecimals: 2, sizeDecimals: 8 },
  { venueSymbol: "ETH-USD", symbol: "ETH-USD", priceDecimals: 2, sizeDecimals: 8 },
];

const harnesses: VenueHarness[] = [];
function harness(): VenueHarness {
  const h = new VenueHarness(coinbase, SPECS, { depth: 10 });
  harnesses.push(h);
  return h;
}
afterEach(() => {
  for (const h of harnesses.splice(0)) h.close();
});

describe("coinbase level2", () => {
  test("snapshot then update: offer is the ask side, exact decimals, valid book", async () => {
    const h = harness();
    const book = new RecordingStream("coinbase-book-BTC-USD");
    h.open(book);
    expect(book.sent.map((s) => JSON.parse(s) as unknown)).toEqual([
      { type: "subscribe", product_ids: ["BTC-USD"], channel: "level2" },
      { type: "subscribe", channel: "heartbeats" },
    ]);
    h.feed(await fixtureText("nautilus/coinbase/ws_l2_data_snapshot.json"), 1, 0, book);
    expect(h.publisher.isValid(0)).toBe(true);
    expect(h.top(0, false, 1)).toEqual([[6890000, 150000000]]);
    const bestAskBefore = h.top(0, true, 1)[0]!;
    h.feed(await fixtureText("nautilus/coinbase/ws_l2_data_update.json"), 1, 0, book);
    expect(h.counters.total(h.counters.sequenceGaps)).toBe(0);
    expect(h.top(0, false, 1)).toEqual([[6890000, 200000000]]);
    // 68901.00 was deleted from the ask side ("offer", new_quantity 0).
    expect(h.publisher.books[0]!.asks.sizeOf(6890100)).toBe(0);
    expect(bestAskBefore[0]).toBe(6890100);
    expect(h.publisher.isValid(1)).toBe(false); // ETH-USD never got a snapshot
  });

  test("a sequence_num gap on a book connection resyncs that product alone", async () => {
    const h = harness();
    const btc = new RecordingStream("coinbase-book-BTC-USD");
    const eth = new RecordingStream("coinbase-book-ETH-USD");
    h.open(btc);
    h.open(eth);
    const snapshot = await fixtureText("nautilus/coinbase/ws_l2_data_snapshot.json");
    h.feed(snapshot, 1, 0, btc);
    h.feed(snapshot.replaceAll("BTC-USD", "ETH-USD"), 1, 0, eth);
    expect(h.publisher.isValid(0) && h.publisher.isValid(1)).toBe(true);
    const update = JSON.parse(await fixtureText("nautilus/coinbase/ws_l2_data_update.json")) as {
      sequence_num: number;
    };
    update.sequence_num = 3; // 1 and 2 never came
    const sentBefore = btc.sent.length;
    h.feed(JSON.stringify(update), 1, 0, btc);
    expect(h.counters.sequenceGaps[0]).toBe(1);
    expect(h.publisher.isValid(0)).toBe(false);
    expect(h.publisher.isValid(1)).toBe(true);
    expect(btc.sent.slice(sentBefore).map((s) => (JSON.parse(s) as { type: string }).type)).toEqual([
      "unsubscribe",
      "subscribe",
    ]);
    expect(eth.sent.length).toBe(2);
    // The fresh snapshot makes it valid again (the connection's counter goes on).
    h.feed(snapshot.replace('"sequence_num": 0', '"sequence_num": 4'), 1, 0, btc);
    expect(h.publisher.isValid(0)).toBe(true);
  });
});

describe("coinbase market_trades", () => {
  test("ccxt recording: newest-first batches, subscriptions ack in the sequence, ids deduped", async () => {
    const h = harness();
    const trades = new RecordingStream("coinbase-trades");
    h.open(trades);
    const fixture = JSON.parse(await fixtureText("ccxt/coinbase.json")) as {
      methods: { watchTrades: { messages: unknown[] }[] };
    };
    const messages = fixture.methods.watchTrades[0]!.messages;
    for (const message of messages) h.feed(JSON.stringify(message), 1, 0, trades);
    for (const message of messages) h.feed(JSON.stringify(message), 1, 0, trades); // replayed: all duplicates
    const ids = messages.flatMap((m) =>
      ((m as { events: { trades?: { trade_id: string }[] }[] }).events ?? []).flatMap((e) =>
        (e.trades ?? []).map((t) => t.trade_id),
      ),
    );
    expect(ids.length).toBeGreaterThan(2);
    expect(h.publisher.trades[0]!.duplicates).toBe(ids.length);
    expect(h.counters.totalParseErrors()).toBe(0);
  });

  test("the trade-side switch: one constant decides, documented as maker side", () => {
    expect(COINBASE_TRADE_SIDE_IS).toBe("maker");
    expect(coinbaseAggressor("BUY")).toBe(TradeSide.Sell);
    expect(coinbaseAggressor("SELL")).toBe(TradeSide.Buy);
    expect(coinbaseAggressor("weird")).toBe(TradeSide.Unknown);
  });
});

describe("coinbase products", () => {
  test("increments give precisions; a bad answer names the symbol", () => {
    expect(
      parseProduct("BTC-USD", {
        product_id: "BTC-USD",
        quote_increment: "0.01",
        base_increment: "0.00000001",
      }),
    ).toEqual({ venueSymbol: "BTC-USD", symbol: "BTC-USD", priceDecimals: 2, sizeDecimals: 8 });
    expect(() => parseProduct("FOO-BAR", { error: "NOT_FOUND" })).toThrow(UnknownSymbolError);
    expect(() => parseProduct("FOO-BAR", { error: "NOT_FOUND" })).toThrow(/FOO-BAR/);
  });
});
