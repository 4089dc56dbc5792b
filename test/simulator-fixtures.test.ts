// Field by field against real captures: the simulator's frames have the same shape (keys, nesting
// and JSON types of every value) as recorded frames (scripts/fetch-fixtures.sh: ccxt's 2026 Kraken
// v2 and Coinbase Advanced Trade recordings, nautilus' Kraken trade and Coinbase l2_data frames,
// cryptofeed's Binance combined stream and REST depth).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { type Simulator, startSimulator } from "../src/simulator/index.ts";
import { fixtureText } from "./support/fixtures.ts";
import { RecordingClient } from "./support/simulator-ws-client.ts";
import { waitFor } from "./support/wait.ts";

// Generous on a loaded 2-core machine: the waits inside poll with their own deadlines.
setDefaultTimeout(30_000);

/** Keys (sorted), nesting and JSON types; an array's shape is its first element's. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.length === 0 ? ["empty"] : [shape(value[0])];
  if (value === null) return "null";
  if (typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = shape((value as Record<string, unknown>)[key]);
    return out;
  }
  return typeof value;
}

const json = async (file: string) => JSON.parse(await fixtureText(file)) as unknown;

interface Recorded {
  methods: Record<string, { messages: Record<string, unknown>[] }[]>;
}

let sim: Simulator;
let ccxtKraken: Recorded;
let ccxtCoinbase: Recorded;

beforeAll(async () => {
  sim = startSimulator({
    symbols: ["BTC-USD", "NKN-USDT"],
    seed: 4,
    updatesPerSecond: 100,
    tradesPerSecond: 20,
  });
  ccxtKraken = (await json("ccxt/kraken.json")) as Recorded;
  ccxtCoinbase = (await json("ccxt/coinbase.json")) as Recorded;
});

afterAll(async () => {
  await sim.stop();
});

describe("simulator frames match recorded frames", () => {
  test("kraken: status, book ack, book snapshot and update, trade", async () => {
    const client = await RecordingClient.connect(sim.urls.kraken.ws);
    try {
      client.send({
        method: "subscribe",
        params: { channel: "book", symbol: ["BTC/USD"], depth: 10 },
        req_id: 1,
      });
      client.send({ method: "subscribe", params: { channel: "trade", symbol: ["BTC/USD"] }, req_id: 2 });
      const find = (predicate: (m: Record<string, unknown>) => boolean) => client.json().find(predicate);
      await waitFor("a book update and a trade", () =>
        Boolean(
          find((m) => m.channel === "book" && m.type === "update") && find((m) => m.channel === "trade"),
        ),
      );
      const recorded = ccxtKraken.methods.watchOrderBook![0]!.messages;
      const [status, ack, snapshot, update] = recorded;
      expect(shape(client.json()[0])).toEqual(shape(status));
      expect(shape(find((m) => m.req_id === 1))).toEqual(shape(ack));
      expect(shape(find((m) => m.channel === "book" && m.type === "snapshot"))).toEqual(shape(snapshot));
      // The recorded update has bids only; compare the item and one level.
      const ours = find((m) => m.channel === "book" && m.type === "update") as {
        data: Record<string, unknown>[];
      };
      const theirs = update as { data: Record<string, unknown>[] };
      expect(Object.keys(ours.data[0]!).sort()).toEqual(Object.keys(theirs.data[0]!).sort());
      const level = (ours.data[0]!.bids as unknown[])[0] ?? (ours.data[0]!.asks as unknown[])[0];
      expect(shape(level)).toEqual(shape((theirs.data[0]!.bids as unknown[])[0]));
      const trade = (await json("nautilus/kraken/ws_trade_update.json")) as Record<string, unknown>;
      expect(shape(find((m) => m.channel === "trade"))).toEqual(shape(trade));
    } finally {
      client.close();
    }
  });

  test("coinbase: market_trades snapshot, subscriptions, updates; l2_data events", async () => {
    const trades = await RecordingClient.connect(sim.urls.coinbase.ws);
    const book = await RecordingClient.connect(sim.urls.coinbase.ws);
    try {
      trades.send({ type: "subscribe", product_ids: ["BTC-USD"], channel: "market_trades" });
      book.send({ type: "subscribe", product_ids: ["BTC-USD"], channel: "level2" });
      await waitFor(
        "trade updates and l2 updates",
        () => trades.json().length >= 3 && book.json().length >= 3,
      );
      const recorded = ccxtCoinbase.methods.watchTrades![0]!.messages;
      const ours = trades.json();
      // Recorded order: trades snapshot (0), subscriptions ack (1), an update (2).
      expect(shape(ours[0])).toEqual(shape(recorded[0]));
      expect(shape(ours[1])).toEqual(shape(recorded[1]));
      expect(shape(ours.find((m) => m.channel === "market_trades" && m !== ours[0]))).toEqual(
        shape(recorded[2]),
      );
      // nautilus' l2_data frames carry client_id, which production omits (as ccxt's 2026 frames show).
      const l2 = (await json("nautilus/coinbase/ws_l2_data_snapshot.json")) as Record<string, unknown>;
      const l2Update = (await json("nautilus/coinbase/ws_l2_data_update.json")) as Record<string, unknown>;
      const ourBook = book.json();
      const { client_id: _a, ...l2Rest } = l2;
      const { client_id: _b, ...l2UpdateRest } = l2Update;
      expect(shape(ourBook[0])).toEqual(shape(l2Rest));
      expect(shape(ourBook.find((m) => m.channel === "l2_data" && m !== ourBook[0]))).toEqual(
        shape(l2UpdateRest),
      );
    } finally {
      trades.close();
      book.close();
    }
  });

  test("binance: combined depthUpdate and REST depth", async () => {
    const lines = (await fixtureText("cryptofeed/BINANCE.ws.1.0")).split("\n");
    const depthLine = lines.find(
      (l) => l.includes('"depthUpdate"') && l.includes('"a":[["') && l.includes('"b":[["'),
    )!;
    const recordedDepth = JSON.parse(depthLine.slice(depthLine.indexOf(": ") + 2)) as unknown;
    const restLine = (await fixtureText("cryptofeed/BINANCE.http.0.0")).split("\n")[0]!;
    const recordedRest = JSON.parse(restLine.slice(restLine.indexOf(": {") + 2)) as unknown;
    const client = await RecordingClient.connect(`${sim.urls.binance.ws}/stream?streams=nknusdt@depth@100ms`);
    try {
      const withBothSides = () =>
        client.json().find((m) => {
          const data = m.data as { b: unknown[]; a: unknown[] };
          return data.b.length > 0 && data.a.length > 0;
        });
      await waitFor("a depthUpdate with bids and asks", () => withBothSides() !== undefined);
      expect(shape(withBothSides())).toEqual(shape(recordedDepth));
      const rest = await (
        await fetch(`${sim.urls.binance.rest}/api/v3/depth?symbol=NKNUSDT&limit=1000`)
      ).json();
      expect(shape(rest)).toEqual(shape(recordedRest));
    } finally {
      client.close();
    }
  });
});
