// `bun bench/ingest.ts`: the collector's ingest path per venue, on one core: raw frame text ->
// venue adapter -> exact book (Kraken checksum verified; OKX seqId chain checked, with and without
// checksums) -> ring records, through the same FrameIngest the collector runs. Also tardis-dev's normalizers on the same Binance trade frames,
// and the RSS of real collector processes with 50 symbols at depth 1000 against the simulator.
// Prints its result as one JSON line, last.
import { rmSync } from "node:fs";
import { Registry } from "prom-client";
import { normalizeTrades } from "tardis-dev";
import { OrderBook } from "../src/book/order-book.ts";
import { TokenBucket } from "../src/collector/budget.ts";
import { wireVenue } from "../src/collector/ingest.ts";
import { CollectorMetrics } from "../src/collector/metrics.ts";
import { HttpRest } from "../src/collector/rest.ts";
import { binance } from "../src/exchanges/binance/venue.ts";
import { coinbase } from "../src/exchanges/coinbase/venue.ts";
import { KrakenChecksum } from "../src/exchanges/kraken/checksum.ts";
import { kraken } from "../src/exchanges/kraken/venue.ts";
import { OkxChecksum } from "../src/exchanges/okx/checksum.ts";
import { okx } from "../src/exchanges/okx/venue.ts";
import { EXCHANGE_NAMES } from "../src/exchanges/registry.ts";
import type { RestClient, StreamHandle, VenueDefinition } from "../src/exchanges/venue.ts";
import { Logger } from "../src/log.ts";
import { formatScaled, formatScaledTrimmed } from "../src/market/decimal.ts";
import { realtimeInto } from "../src/shm/clock.ts";
import type { SymbolSpec } from "../src/shm/layout.ts";
import { RingWriter } from "../src/shm/ring-writer.ts";
import { startSimulator } from "../src/simulator/index.ts";
import { startCollectorProcess } from "../test/support/mode-process.ts";

const DIR = `/dev/shm/ap-test-collector-bench-${process.pid}`;
const quiet = new Logger("error", {}, () => {});

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** A frame as the WebSocket hands it over: one flat string decoded from bytes (not a rope). */
function wire(text: string): string {
  return decoder.decode(encoder.encode(text));
}

/** Deterministic pseudo-random numbers, so every run measures the same frames. */
let seed = 12345;
function random(): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
}

class BenchStream implements StreamHandle {
  constructor(readonly name: string) {}
  send(): void {}
  reconnect(): void {}
  rollover(): void {}
}

let pipelines = 0;

/** One venue wired exactly as the collector wires it, into a real ring. */
function pipeline(
  definition: VenueDefinition,
  spec: SymbolSpec,
  depth: number,
  stream: string,
  rest: RestClient = { getJson: () => Promise.reject(new Error("no REST in the bench")) },
) {
  const writer = RingWriter.create({
    dir: DIR,
    name: `${definition.name}-${++pipelines}`,
    exchange: definition.name,
    capacity: 1 << 18,
    bookDepth: depth,
    symbols: [spec],
  });
  // The latency hook the collector installs (clock read, histogram, p99 window) is part of the path.
  let metrics: CollectorMetrics | null = null;
  const { counters, publisher, venue, ingest } = wireVenue({
    definition,
    writer,
    depth,
    wsUrl: "ws://bench",
    restUrl: "http://bench",
    rest,
    budget: new TokenBucket(1e12, 1e12),
    maxFrameBytes: 64 << 20,
    log: quiet,
    onPublished: (ns) => metrics?.published(ns),
  });
  metrics = new CollectorMetrics(new Registry(), {
    exchange: definition.name,
    symbols: writer.symbols,
    counters,
    publisher,
    connections: [],
    rest: new HttpRest(new TokenBucket(1, 1), null),
  });
  const handle = new BenchStream(stream);
  venue.onOpen(handle);
  const now = new Uint32Array(2);
  return {
    writer,
    counters,
    publisher,
    venue,
    /** Feeds frames as the connection does (receive time taken per frame); returns ns per frame. */
    run(frames: readonly string[]): number {
      const started = Bun.nanoseconds();
      for (const frame of frames) {
        realtimeInto(now, 0);
        ingest!.frame(handle, frame, now[0]!, now[1]!);
      }
      return (Bun.nanoseconds() - started) / frames.length;
    },
  };
}

function rate(nsPerFrame: number) {
  return { framesPerSecond: Math.round(1e9 / nsPerFrame), nsPerFrame: Math.round(nsPerFrame) };
}

// --- Binance trades -------------------------------------------------------------------------

function binanceTrades(from: number, count: number): string[] {
  const frames: string[] = [];
  let price = 6_000_000;
  for (let id = from; id < from + count; id++) {
    price += Math.round((random() - 0.5) * 20);
    const qty = 1 + Math.floor(random() * 500_000);
    const time = 1_795_000_000_000 + id;
    frames.push(
      wire(
        `{"stream":"btcusdt@trade","data":{"e":"trade","E":${time},"s":"BTCUSDT","t":${id},"p":"${formatScaled(price, 2)}000000","q":"${formatScaled(qty, 5)}000","T":${time},"m":${random() < 0.5},"M":true}}`,
      ),
    );
  }
  return frames;
}

// --- Kraken book updates with checksums --------------------------------------------------------

function krakenBookFrames(count: number): string[] {
  const book = new OrderBook(10);
  const checksum = new KrakenChecksum();
  const level = (p: number, q: number) => `{"price":${formatScaled(p, 1)},"qty":${formatScaled(q, 8)}}`;
  const mid = 600_000;
  for (let i = 1; i <= 10; i++) {
    book.bids.set(mid - i, 1 + Math.floor(random() * 1e8));
    book.asks.set(mid + i, 1 + Math.floor(random() * 1e8));
  }
  const side = (isAsk: boolean) => {
    const s = book.side(isAsk);
    return Array.from({ length: s.count }, (_, i) => level(s.priceAt(i), s.sizeAt(i))).join(",");
  };
  const frames = [
    `{"channel":"book","type":"snapshot","data":[{"symbol":"BTC/USD","bids":[${side(false)}],"asks":[${side(true)}],"checksum":${checksum.of(book)}}]}`,
  ];
  for (let n = 0; n < count; n++) {
    const isAsk = random() < 0.5;
    const s = book.side(isAsk);
    const changes: string[] = [];
    const rank = Math.floor(random() * s.count);
    const price = s.priceAt(rank);
    if (random() < 0.7) {
      const qty = 1 + Math.floor(random() * 1e8);
      s.set(price, qty);
      changes.push(level(price, qty));
    } else {
      // A level leaves and another arrives, as Kraken sends it: the book stays 10 deep.
      s.set(price, 0);
      changes.push(level(price, 0));
      let fresh = isAsk ? mid + 1 + Math.floor(random() * 15) : mid - 1 - Math.floor(random() * 15);
      while (s.sizeOf(fresh) > 0 || fresh === price) fresh += isAsk ? 1 : -1;
      const qty = 1 + Math.floor(random() * 1e8);
      s.set(fresh, qty);
      changes.push(level(fresh, qty));
    }
    book.truncate(10);
    const bids = isAsk ? "" : changes.join(",");
    const asks = isAsk ? changes.join(",") : "";
    frames.push(
      wire(
        `{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[${bids}],"asks":[${asks}],"checksum":${checksum.of(book)},"timestamp":"2026-11-27T09:35:55.440295Z"}]}`,
      ),
    );
  }
  return frames;
}

// --- OKX book updates: the same changes as Kraken's, on OKX's 400-level view --------------------

/**
 * A 400-level BTC-USDT book, then `count` updates of one or two levels in the top 25 (what the
 * checksum covers), each chained by seqId with varying steps; checksums real or 0 (not sent).
 */
function okxBookFrames(count: number, checksums: boolean): string[] {
  const book = new OrderBook(400);
  const checksum = new OkxChecksum(1, 8);
  const level = (p: number, q: number) =>
    `["${formatScaledTrimmed(p, 1)}","${formatScaledTrimmed(q, 8)}","0","2"]`;
  const mid = 600_000;
  for (let i = 1; i <= 400; i++) {
    book.bids.set(mid - 2 * i, 1 + Math.floor(random() * 1e8));
    book.asks.set(mid + 2 * i, 1 + Math.floor(random() * 1e8));
  }
  const side = (isAsk: boolean) => {
    const s = book.side(isAsk);
    return Array.from({ length: s.count }, (_, i) => level(s.priceAt(i), s.sizeAt(i))).join(",");
  };
  let seqId = 1_000_000;
  const sum = () => (checksums ? checksum.of(book) : 0);
  const head = '{"arg":{"channel":"books","instId":"BTC-USDT"},"action":';
  const frames = [
    `${head}"snapshot","data":[{"asks":[${side(true)}],"bids":[${side(false)}],"ts":"1795000000000","checksum":${sum()},"prevSeqId":-1,"seqId":${seqId}}]}`,
  ];
  for (let n = 0; n < count; n++) {
    const isAsk = random() < 0.5;
    const s = book.side(isAsk);
    const changes: string[] = [];
    const price = s.priceAt(Math.floor(random() * 25));
    const set = (p: number, q: number) => {
      s.set(p, q);
      checksum.level(isAsk, p, null);
      changes.push(level(p, q));
    };
    if (random() < 0.7) {
      set(price, 1 + Math.floor(random() * 1e8));
    } else {
      // A level leaves and another arrives, as for Kraken: the book stays 400 deep.
      set(price, 0);
      let fresh = isAsk ? mid + 1 + Math.floor(random() * 50) : mid - 1 - Math.floor(random() * 50);
      while (s.sizeOf(fresh) > 0 || fresh === price) fresh += isAsk ? 1 : -1;
      set(fresh, 1 + Math.floor(random() * 1e8));
    }
    const prevSeqId = seqId;
    seqId += 1 + Math.floor(random() * 5);
    const asks = isAsk ? changes.join(",") : "";
    const bids = isAsk ? "" : changes.join(",");
    frames.push(
      wire(
        `${head}"update","data":[{"asks":[${asks}],"bids":[${bids}],"ts":"${1_795_000_000_000 + n}","checksum":${sum()},"prevSeqId":${prevSeqId},"seqId":${seqId}}]}`,
      ),
    );
  }
  return frames;
}

// --- Binance depth and Coinbase level2 diffs ------------------------------------------------------

function diffs(count: number, format: (levels: [boolean, number, number][], n: number) => string): string[] {
  const frames: string[] = [];
  for (let n = 0; n < count; n++) {
    const levels: [boolean, number, number][] = [];
    for (let k = 1 + Math.floor(random() * 4); k > 0; k--) {
      const isAsk = random() < 0.5;
      const offset = 1 + Math.floor(random() * 200);
      levels.push([
        isAsk,
        isAsk ? 6_000_000 + offset : 6_000_000 - offset,
        random() < 0.2 ? 0 : Math.floor(random() * 1e6),
      ]);
    }
    frames.push(wire(format(levels, n)));
  }
  return frames;
}

function binanceDepthFrames(count: number, firstId: number): string[] {
  return diffs(count, (levels, n) => {
    const pick = (ask: boolean) =>
      levels
        .filter(([a]) => a === ask)
        .map(([, p, q]) => `["${formatScaled(p, 2)}","${formatScaled(q, 5)}"]`)
        .join(",");
    const u = firstId + n;
    return `{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":${1_795_000_000_000 + n},"s":"BTCUSDT","U":${u},"u":${u},"b":[${pick(false)}],"a":[${pick(true)}]}}`;
  });
}

function coinbaseFrames(count: number): string[] {
  const snapshotLevels: string[] = [];
  for (let i = 1; i <= 200; i++) {
    snapshotLevels.push(
      `{"side":"bid","event_time":"2026-11-27T09:35:55.440295Z","price_level":"${formatScaled(6_000_000 - i, 2)}","new_quantity":"1.00000000"}`,
    );
    snapshotLevels.push(
      `{"side":"offer","event_time":"2026-11-27T09:35:55.440295Z","price_level":"${formatScaled(6_000_000 + i, 2)}","new_quantity":"1.00000000"}`,
    );
  }
  const head = (seq: number, type: string) =>
    `{"channel":"l2_data","client_id":"","timestamp":"2026-11-27T09:35:55.440295123Z","sequence_num":${seq},"events":[{"type":"${type}","product_id":"BTC-USD","updates":[`;
  const frames = [`${head(0, "snapshot")}${snapshotLevels.join(",")}]}]}`];
  return frames.concat(
    diffs(count, (levels, n) => {
      const updates = levels.map(
        ([a, p, q]) =>
          `{"side":"${a ? "offer" : "bid"}","event_time":"2026-11-27T09:35:55.440295Z","price_level":"${formatScaled(p, 2)}","new_quantity":"${formatScaled(q * 100, 8)}"}`,
      );
      return `${head(n + 1, "update")}${updates.join(",")}]}]}`;
    }),
  );
}

// --- memory of real collectors ----------------------------------------------------------------------

async function collectorRss(): Promise<Record<string, { rssMiB: number; validBooks: number }>> {
  const symbols = Array.from({ length: 50 }, (_, i) => `C${String(i).padStart(2, "0")}-USD`);
  const simulator = startSimulator({
    hostname: "127.0.0.1",
    symbols,
    seed: 9,
    updatesPerSecond: 5,
    tradesPerSecond: 1,
    bookLevels: 1_000,
  });
  const result: Record<string, { rssMiB: number; validBooks: number }> = {};
  try {
    const venues = EXCHANGE_NAMES;
    const children = await Promise.all(
      venues.map((venue) =>
        startCollectorProcess(venue, simulator.urls, {
          SYMBOLS: symbols.join(","),
          BOOK_DEPTH: "1000",
          SHARED_MEMORY_PATH: DIR,
        }),
      ),
    );
    // Binance's snapshot budget syncs 50 deep books over minutes, as on the real venue: give
    // every collector 30 s, then read its RSS with however many books are valid by then.
    const deadline = Date.now() + 30_000;
    const valid = async (metrics: string) => {
      const text = await (await fetch(`${metrics}/metrics`).catch(() => null))?.text();
      return (text ?? "")
        .split("\n")
        .filter((l) => l.startsWith("alphapulse_book_valid{") && l.endsWith(" 1")).length;
    };
    while (Date.now() < deadline) {
      const counts = await Promise.all(children.map((child) => valid(child.metrics)));
      if (counts.every((c) => c === symbols.length)) break;
      await Bun.sleep(500);
    }
    for (const [i, venue] of venues.entries()) {
      const child = children[i]!;
      const status = await Bun.file(`/proc/${child.process.proc.pid}/status`).text();
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      result[venue] = { rssMiB: Math.round(kb / 102.4) / 10, validBooks: await valid(child.metrics) };
    }
    await Promise.all(children.map((child) => child.process.stop()));
  } finally {
    await simulator.stop();
  }
  return result;
}

// --- main -----------------------------------------------------------------------------------------

const results: Record<string, unknown> = {};
try {
  const btcusdt: SymbolSpec = {
    venueSymbol: "BTCUSDT",
    symbol: "BTC-USDT",
    priceDecimals: 8,
    sizeDecimals: 8,
  };
  // Steady state, as in a long-running collector: a 300k-frame warm-up (the JIT's top tier),
  // then six rounds of fresh trade ids (repeated ids would take the cheaper duplicate path), ours
  // and tardis-dev's taking turns on the same frames so a noisy neighbour hits both alike.
  const tradeWarm = binanceTrades(1, 300_000);
  const TRADE_ROUNDS = 6;
  const ours = pipeline(binance, btcusdt, 100, "binance");

  const mapper = normalizeTrades("binance", new Date());
  const tardisRun = (frames: readonly string[]) => {
    const started = Bun.nanoseconds();
    let n = 0;
    for (const frame of frames) {
      const local = new Date();
      for (const trade of mapper.map(JSON.parse(frame), local) ?? []) n += trade.amount > 0 ? 1 : 0;
    }
    if (n === 0) throw new Error("tardis produced nothing");
    return (Bun.nanoseconds() - started) / frames.length;
  };
  ours.run(tradeWarm);
  tardisRun(tradeWarm);
  let trades = Number.POSITIVE_INFINITY;
  let tardis = Number.POSITIVE_INFINITY;
  for (let round = 1; round <= TRADE_ROUNDS; round++) {
    const frames = binanceTrades(round * 400_000 + 1, 300_000);
    trades = Math.min(trades, ours.run(frames));
    tardis = Math.min(tardis, tardisRun(frames));
  }
  if (ours.counters.messages.get("trade") !== tradeWarm.length + TRADE_ROUNDS * 300_000) {
    throw new Error("binance bench frames were not all read as trades");
  }
  results.binanceTrades = rate(trades);
  results.tardisBinanceTrades = rate(tardis);
  results.speedupVsTardis = Math.round((tardis / trades) * 10) / 10;

  // Kraken and OKX book updates (the seqId chain checked on every update, then also a checksum
  // on each): the three take turns, round after round, so a noisy neighbour hits them alike.
  const krakenSpec: SymbolSpec = {
    venueSymbol: "BTC/USD",
    symbol: "BTC-USD",
    priceDecimals: 1,
    sizeDecimals: 8,
  };
  const okxSpec: SymbolSpec = {
    venueSymbol: "BTC-USDT",
    symbol: "BTC-USDT",
    priceDecimals: 1,
    sizeDecimals: 8,
  };
  const BOOK_FRAMES = 340_000;
  const BOOK_WARM = 100_001; // snapshot + warm-up
  const BOOK_ROUNDS = 4;
  const books = [
    {
      key: "krakenBookUpdatesWithChecksum",
      type: "book",
      frames: krakenBookFrames(BOOK_FRAMES),
      p: pipeline(kraken, krakenSpec, 10, "kraken"),
    },
    {
      key: "okxBookUpdatesWithSeqId",
      type: "books",
      frames: okxBookFrames(BOOK_FRAMES, false),
      p: pipeline(okx, okxSpec, 10, "okx"),
    },
    {
      key: "okxBookUpdatesWithChecksum",
      type: "books",
      frames: okxBookFrames(BOOK_FRAMES, true),
      p: pipeline(okx, okxSpec, 10, "okx"),
    },
  ];
  const best = books.map(() => Number.POSITIVE_INFINITY);
  for (const { frames, p } of books) p.run(frames.slice(0, BOOK_WARM));
  const perRound = (BOOK_FRAMES - BOOK_WARM + 1) / BOOK_ROUNDS;
  for (let round = 0; round < BOOK_ROUNDS; round++) {
    const from = BOOK_WARM + round * perRound;
    books.forEach(({ frames, p }, i) => {
      best[i] = Math.min(best[i]!, p.run(frames.slice(from, from + perRound)));
    });
  }
  for (const [i, { key, type, frames, p }] of books.entries()) {
    const counters = p.counters;
    const gaps = counters.total(counters.checksumMismatches) + counters.total(counters.sequenceGaps);
    const applied = counters.messages.get(type);
    if (gaps !== 0 || !p.publisher.isValid(0) || applied !== frames.length) {
      throw new Error(`${key}: bench frames did not all apply in sequence`);
    }
    results[key] = rate(best[i]!);
  }
  // Per frame, against Kraken's book updates (the same changes, a checksum on each) in this run.
  results.okxSpeedVsKraken = {
    seqId: Math.round((best[0]! / best[1]!) * 100) / 100,
    checksum: Math.round((best[0]! / best[2]!) * 100) / 100,
  };

  // Binance depth: the first event asks for the REST snapshot (answered at once, update id 0),
  // then every diff goes through the per-event continuity check.
  const snapshotAnswer = {
    getJson: async () => ({
      lastUpdateId: 0,
      bids: [["59999.00", "1.00000"]],
      asks: [["60001.00", "1.00000"]],
    }),
  };
  const depthSpec: SymbolSpec = { ...btcusdt, priceDecimals: 2, sizeDecimals: 5 };
  const depth = pipeline(binance, depthSpec, 100, "binance", snapshotAnswer);
  const depthFrames = binanceDepthFrames(300_001, 1);
  depth.run(depthFrames.slice(0, 1));
  await Bun.sleep(1);
  depth.run(depthFrames.slice(1, 100_001));
  const depthNs = Math.min(
    depth.run(depthFrames.slice(100_001, 200_001)),
    depth.run(depthFrames.slice(200_001)),
  );
  if (depth.counters.total(depth.counters.sequenceGaps) !== 0 || !depth.publisher.isValid(0)) {
    throw new Error("binance depth bench frames did not stay in sync");
  }
  results.binanceDepth = rate(depthNs);

  const cb = pipeline(
    coinbase,
    { venueSymbol: "BTC-USD", symbol: "BTC-USD", priceDecimals: 2, sizeDecimals: 8 },
    100,
    "coinbase-book-BTC-USD",
  );
  const cbFrames = coinbaseFrames(300_000);
  cb.run(cbFrames.slice(0, 100_001));
  results.coinbaseLevel2 = rate(
    Math.min(cb.run(cbFrames.slice(100_001, 200_001)), cb.run(cbFrames.slice(200_001))),
  );

  results.collectorRss50SymbolsDepth1000 = await collectorRss();
  const rss = results.collectorRss50SymbolsDepth1000 as Record<string, { rssMiB: number }>;
  results.goals = {
    binanceTradesAtLeast2M:
      (results.binanceTrades as { framesPerSecond: number }).framesPerSecond >= 2_000_000,
    krakenAtLeast400k:
      (results.krakenBookUpdatesWithChecksum as { framesPerSecond: number }).framesPerSecond >= 400_000,
    okxAtLeastKraken: Object.values(results.okxSpeedVsKraken as Record<string, number>).every((r) => r >= 1),
    atLeast3xTardis: (results.speedupVsTardis as number) >= 3,
    rssAtMost256MiB: Object.values(rss).every((r) => r.rssMiB <= 256),
  };
} finally {
  rmSync(DIR, { recursive: true, force: true });
}

console.log(JSON.stringify({ bench: "ingest", ...results }));
