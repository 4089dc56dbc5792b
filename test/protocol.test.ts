// The wire module alone: request validation and its refusals, topic names, the exact text of
// every server message (and that it parses to its type), whole-microsecond timestamps, the
// followsOn rule, and the sorted book side both ends keep.
import { describe, expect, test } from "bun:test";
import {
  encodeBbo,
  encodeDelta,
  encodeError,
  encodeNotice,
  encodePong,
  encodeSlowConsumerWarning,
  encodeSnapshot,
  encodeStatus,
  encodeSubscribeAck,
  encodeTrade,
  encodeUnsubscribeAck,
  epochMicros,
} from "../src/protocol/encode.ts";
import { type DataMessage, followsOn, type ServerMessage } from "../src/protocol/messages.ts";
import { decodeRequest, MAX_TOPICS_PER_REQUEST } from "../src/protocol/requests.ts";
import { SortedLevels } from "../src/protocol/sorted-levels.ts";
import { isPattern, parseTopic, topicMatches, topicName } from "../src/protocol/topics.ts";

describe("requests", () => {
  test("every refusal has its code, and the id when the frame had one", () => {
    const cases: Array<[string | Uint8Array, string, string | number | undefined]> = [
      [new Uint8Array([1, 2]), "bad_request", undefined],
      ["x".repeat(100_001), "frame_too_large", undefined],
      ["{not json", "bad_json", undefined],
      ["[1,2]", "bad_request", undefined],
      ["null", "bad_request", undefined],
      ['{"op":"dance","id":4}', "unknown_op", 4],
      ['{"op":"subscribe","topics":"book.kraken.BTC-USD","id":"a"}', "bad_request", "a"],
      ['{"op":"subscribe","topics":[]}', "bad_request", undefined],
      [
        JSON.stringify({ op: "subscribe", topics: Array(MAX_TOPICS_PER_REQUEST + 1).fill("status.kraken") }),
        "bad_request",
        undefined,
      ],
      ['{"op":"subscribe","topics":["book.kraken"],"id":5}', "bad_topic", 5],
      ['{"op":"subscribe","topics":[7]}', "bad_topic", undefined],
      ['{"op":"subscribe","topics":["book.kraken.BTC-USD"],"resume":[1]}', "bad_request", undefined],
      ['{"op":"unsubscribe","topics":["BOOK.kraken.BTC-USD"]}', "bad_topic", undefined],
      ['{"op":"unsubscribe"}', "bad_request", undefined],
    ];
    for (const [frame, code, id] of cases) {
      const decoded = decodeRequest(frame, 100_000);
      expect(decoded).toMatchObject({ op: "refused", code, id });
      if (decoded.op === "refused") expect(decoded.message.length).toBeGreaterThan(10);
    }
  });

  test("a valid subscribe: parsed topics and patterns, the resume map with non-seqs as null", () => {
    const decoded = decodeRequest(
      JSON.stringify({
        op: "subscribe",
        topics: ["book.kraken.BTC-USD", "trades.*.ETH-USD"],
        resume: { "book.kraken.BTC-USD": 41, "bbo.x.A-B": "zz", "trades.y.A-B": 1.5 },
        id: "r1",
      }),
      16_384,
    );
    expect(decoded.op).toBe("subscribe");
    if (decoded.op !== "subscribe") return;
    expect(decoded.id).toBe("r1");
    expect(decoded.topics).toEqual([
      {
        name: "book.kraken.BTC-USD",
        parts: { channel: "book", exchange: "kraken", symbol: "BTC-USD" },
        pattern: false,
      },
      {
        name: "trades.*.ETH-USD",
        parts: { channel: "trades", exchange: "*", symbol: "ETH-USD" },
        pattern: true,
      },
    ]);
    expect([...decoded.resume]).toEqual([
      ["book.kraken.BTC-USD", 41],
      ["bbo.x.A-B", null],
      ["trades.y.A-B", null],
    ]);
    expect(decodeRequest('{"op":"ping"}', 256)).toEqual({ op: "ping", id: undefined });
    expect(decodeRequest('{"op":"unsubscribe","topics":["status.*"],"id":2}', 256)).toMatchObject({
      op: "unsubscribe",
      id: 2,
      topics: [{ name: "status.*", pattern: true }],
    });
  });
});

describe("topics", () => {
  test("names, patterns and matching", () => {
    expect(parseTopic("book.kraken.BTC-USD")).toEqual({
      channel: "book",
      exchange: "kraken",
      symbol: "BTC-USD",
    });
    expect(parseTopic("status.coinbase")).toEqual({ channel: "status", exchange: "coinbase", symbol: "" });
    for (const bad of [
      "book.kraken",
      "status.kraken.BTC-USD",
      "depth.kraken.BTC-USD",
      "book.Kraken.BTC-USD",
      "book.kraken.btc-usd",
      "",
    ]) {
      expect(parseTopic(bad)).toBeNull();
    }
    expect(topicName("status", "kraken", "")).toBe("status.kraken");
    expect(topicName("bbo", "kraken", "ETH-USD")).toBe("bbo.kraken.ETH-USD");
    expect(isPattern("trades.*.BTC-USD")).toBe(true);
    const pattern = parseTopic("trades.*.BTC-USD")!;
    expect(topicMatches(pattern, parseTopic("trades.binance.BTC-USD")!)).toBe(true);
    expect(topicMatches(pattern, parseTopic("trades.binance.ETH-USD")!)).toBe(false);
    expect(topicMatches(pattern, parseTopic("book.binance.BTC-USD")!)).toBe(false);
    expect(topicMatches(parseTopic("status.*")!, parseTopic("status.okx")!)).toBe(true);
  });
});

describe("encoders", () => {
  const T = "book.kraken.BTC-USD";
  const ts = epochMicros(1_796_291_801, 813_004_999);
  const pt = epochMicros(1_796_291_801, 813_566_000);

  test("shared-clock times become whole microseconds, cut and never rounded up", () => {
    expect(ts).toBe(1_796_291_801_813_004);
    expect(epochMicros(1, 999_999_999)).toBe(1_999_999);
    expect(epochMicros(0, 0)).toBe(0);
    for (let nsec = 0; nsec < 1e9; nsec += 7_777_777)
      expect(Number.isInteger(epochMicros(1_800_000_000, nsec))).toBe(true);
  });

  test("the exact text of every message, which parses to its type", () => {
    const texts: Array<[string, ServerMessage]> = [
      [
        encodeSnapshot(
          T,
          9,
          ts,
          pt,
          "kraken",
          "BTC-USD",
          "valid",
          1,
          8,
          [["45000.1", "0.5"]],
          [["45000.2", "1"]],
        ),
        {
          type: "snapshot",
          topic: T,
          seq: 9,
          ts,
          pt,
          exchange: "kraken",
          symbol: "BTC-USD",
          status: "valid",
          decimals: [1, 8],
          bids: [["45000.1", "0.5"]],
          asks: [["45000.2", "1"]],
        },
      ],
      [
        encodeDelta(T, 10, ts, pt, [["45000.1", "0"]], []),
        { type: "delta", topic: T, seq: 10, ts, pt, bids: [["45000.1", "0"]], asks: [] },
      ],
      [
        encodeTrade("trades.kraken.BTC-USD", 3, ts, pt, "45000.2", "0.01", "sell", "991"),
        {
          type: "trade",
          topic: "trades.kraken.BTC-USD",
          seq: 3,
          ts,
          pt,
          price: "45000.2",
          size: "0.01",
          side: "sell",
          id: "991",
        },
      ],
      [
        encodeBbo("bbo.kraken.BTC-USD", 4, ts, pt, ["1", "2"], null),
        { type: "bbo", topic: "bbo.kraken.BTC-USD", seq: 4, ts, pt, bid: ["1", "2"], ask: null },
      ],
      [
        encodeStatus(T, 11, 0, pt, "invalid", "checksum_mismatch"),
        { type: "status", topic: T, seq: 11, ts: 0, pt, status: "invalid", reason: "checksum_mismatch" },
      ],
      [
        encodeNotice(T, 11, "gap", 'lost "3"'),
        { type: "status", topic: T, seq: 11, ts: 0, pt: 0, status: "gap", reason: 'lost "3"' },
      ],
      [
        encodeSubscribeAck([T], { [T]: 8 }, [], 1),
        { type: "ack", op: "subscribe", topics: [T], seqs: { [T]: 8 }, resumed: [], id: 1 },
      ],
      [encodeUnsubscribeAck([], 'a"b'), { type: "ack", op: "unsubscribe", topics: [], id: 'a"b' }],
      [encodePong(1_800_000_000_000_000, undefined), { type: "pong", time: 1_800_000_000_000_000 }],
      [
        encodeError("bad_topic", 'not a topic: "x"', "q"),
        { type: "error", code: "bad_topic", message: 'not a topic: "x"', id: "q" },
      ],
      [
        encodeSlowConsumerWarning("behind", 1234),
        { type: "warning", code: "slow_consumer", message: "behind", bufferedBytes: 1234 },
      ],
    ];
    for (const [text, message] of texts) {
      expect(JSON.parse(text)).toEqual(message);
      // Field order as typed: type first, then (for data messages) topic, seq, ts, pt.
      expect(text).toBe(JSON.stringify(message));
    }
  });
});

describe("followsOn", () => {
  const at = (type: DataMessage["type"], seq: number, status?: string) =>
    ({ type, topic: "t", seq, ts: 0, pt: 0, status, bids: [], asks: [] }) as unknown as DataMessage;
  test("the next seq and a restatement follow; a snapshot, bbo, gap or restart set the position; else a hole", () => {
    expect(followsOn(at("delta", 5), undefined)).toBe(true);
    expect(followsOn(at("delta", 5), -1)).toBe(true);
    expect(followsOn(at("delta", 5), 4)).toBe(true);
    expect(followsOn(at("status", 4, "connected"), 4)).toBe(true);
    expect(followsOn(at("delta", 6), 4)).toBe(false);
    expect(followsOn(at("trade", 3), 4)).toBe(false);
    expect(followsOn(at("snapshot", 90), 4)).toBe(true);
    expect(followsOn(at("bbo", 90), 4)).toBe(true);
    expect(followsOn(at("status", 90, "gap"), 4)).toBe(true);
    expect(followsOn(at("status", 2, "restarted"), 4)).toBe(true);
    expect(followsOn(at("status", 90, "invalid"), 4)).toBe(false);
  });
});

describe("SortedLevels", () => {
  test("best first on both sides; sets, replaces and removes; wire levels at the side's decimals", () => {
    const bids = new SortedLevels(true, 2, 8);
    const asks = new SortedLevels(false, 2, 8);
    for (const [price, size] of [
      [100_00, 5],
      [101_50, 7],
      [99_00, 1],
    ] as const) {
      bids.set(price, size);
      asks.set(price, size);
    }
    expect(bids.levels()).toEqual([
      ["101.5", "0.00000007"],
      ["100", "0.00000005"],
      ["99", "0.00000001"],
    ]);
    expect(asks.levels(2)).toEqual([
      ["99", "0.00000001"],
      ["100", "0.00000005"],
    ]);
    bids.set(100_00, 150_000_000);
    bids.set(98_00, 0); // absent: nothing happens
    bids.set(101_50, 0);
    expect(bids.levels()).toEqual([
      ["100", "1.5"],
      ["99", "0.00000001"],
    ]);
    expect(bids.best()).toEqual(["100", "1.5"]);
    expect(new SortedLevels(false, 2, 8).best()).toBeNull();
  });

  test("jsonBytes bounds what the levels cost in a snapshot, and returns to 0 when emptied", () => {
    const side = new SortedLevels(true, 1, 8);
    for (let i = 1; i <= 50; i++) side.set(450_000_0 - i * 7, 1 + i * 12_345);
    const cost = side.levels().reduce((sum, level) => sum + JSON.stringify(level).length + 1, 0);
    expect(side.jsonBytes).toBeGreaterThanOrEqual(cost);
    expect(side.jsonBytes).toBeLessThan(cost * 1.5);
    for (const price of [...side.prices]) side.set(price, 0);
    expect(side.jsonBytes).toBe(0);
    expect(side.count).toBe(0);
  });
});
