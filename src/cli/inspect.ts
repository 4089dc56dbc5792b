// `alphapulse inspect [PATH] [--json] [--records N] [--levels N]`: what an operator needs to see
// in a ring file, read-only: its header, symbols, latest books and last records. PATH is a ring
// file or a directory of rings (default: SHARED_MEMORY_PATH). The text form is for people; --json
// prints the same report as one JSON document.
import { readdirSync, statSync } from "node:fs";
import { parseArgs } from "node:util";
import { ConfigError, type Env, readCommonConfig, Settings } from "../config.ts";
import { formatScaled } from "../market/decimal.ts";
import { nanosSince } from "../shm/clock.ts";
import {
  type BookCheck,
  BookStatus,
  ConnectionState,
  integrityChecks,
  NO_SYMBOL,
  RecordFlag,
  RecordType,
  RING_SUFFIX,
  RingState,
  StatusReason,
  type SymbolInfo,
} from "../shm/layout.ts";
import { RecordView, RingReader } from "../shm/ring-reader.ts";
import { writerGone } from "../shm/writer-liveness.ts";

export interface InspectOptions {
  /** How many of the newest records to show. */
  readonly records: number;
  /** Levels per side to show for each book. */
  readonly levels: number;
}

export interface RecordReport {
  seq: number;
  type: string;
  symbol: string | null;
  /** Trade: aggressor buy/sell/unknown. Book level: bid/ask. */
  side: string | null;
  /** Exact decimal text for trades and levels; the reason name for status records. */
  price: string;
  size: string | null;
  aux: number;
  /** Status records: the new status or connection state. */
  status: string | null;
  flags: string[];
  exchangeTime: string | null;
  receiveTime: string;
  publishTime: string;
}

export interface BookReport {
  symbol: string;
  status: string;
  lastSeq: number;
  venueSeq: number;
  /** The book, trades and bbo topics' message counts through lastSeq (what broadcasters number by). */
  topicCounts: { book: number; trades: number; bbo: number };
  /** The checks that guard the book now: "checksum", "sequence", both or none. */
  integrity: BookCheck[];
  bidCount: number;
  askCount: number;
  exchangeTime: string | null;
  /** Null while the writer has never written this entry. */
  publishTime: string | null;
  publishAgeMs: number | null;
  /** [price, size] exact decimal text, best first. */
  bids: [string, string][];
  asks: [string, string][];
}

export interface RingReport {
  path: string;
  exchange: string;
  state: string;
  generation: number;
  writerPid: number;
  heartbeatAgeMs: number;
  /** The heartbeat stopped a second ago or more and no process here has the writer's pid. */
  writerGone: boolean;
  createdAt: string;
  capacity: number;
  bookDepth: number;
  fileSize: number;
  nextSeq: number;
  oldestSeq: number;
  /** The status topic's message count through the last connection record. */
  connectionCount: number;
  symbols: SymbolInfo[];
  books: BookReport[];
  records: RecordReport[];
  /** Records among the last ones that were overwritten while we read them. */
  lost: number;
}

/** Reads one ring into a report. Throws RingFormatError or SystemError on a file that is not a ring. */
export function inspectRing(path: string, options: InspectOptions): RingReport {
  const reader = RingReader.open(path, "latest");
  try {
    const header = reader.header;
    const nextSeq = reader.writerNextSeq();
    const heartbeatAgeMs = reader.heartbeatAgeMs();
    reader.seek(Math.max(reader.oldestSeq(), nextSeq - options.records));
    const records: RecordReport[] = [];
    let lost = 0;
    const view = new RecordView();
    reader.poll(
      {
        record: (r) => {
          records.push(describeRecord(r, reader.symbols));
        },
        gap: (_from, count) => {
          lost += count;
        },
      },
      view,
      options.records,
    );
    const copy = reader.newBookCopy();
    const books = reader.symbols.map((symbol): BookReport => {
      if (!reader.readBook(symbol.id, copy)) throw new Error(`${path}: book ${symbol.symbol} kept changing`);
      const side = (prices: Float64Array, sizes: Float64Array, count: number): [string, string][] =>
        Array.from({ length: Math.min(count, options.levels) }, (_, i) => [
          formatScaled(prices[i]!, symbol.priceDecimals),
          formatScaled(sizes[i]!, symbol.sizeDecimals),
        ]);
      return {
        symbol: symbol.symbol,
        status: enumName(BookStatus, copy.status),
        lastSeq: copy.lastSeq,
        venueSeq: copy.venueSeq,
        topicCounts: { book: copy.bookCount, trades: copy.tradeCount, bbo: copy.bboCount },
        integrity: integrityChecks(copy.integrity),
        bidCount: copy.bidCount,
        askCount: copy.askCount,
        exchangeTime: copy.exchangeSec === 0 ? null : isoTime(copy.exchangeSec, copy.exchangeNsec),
        publishTime: copy.publishSec === 0 ? null : isoTime(copy.publishSec, copy.publishNsec),
        publishAgeMs:
          copy.publishSec === 0 ? null : Math.round(nanosSince(copy.publishSec, copy.publishNsec) / 1e6),
        bids: side(copy.bidPrices, copy.bidSizes, copy.bidCount),
        asks: side(copy.askPrices, copy.askSizes, copy.askCount),
      };
    });
    return {
      path,
      exchange: reader.exchange,
      state: enumName(RingState, reader.state()),
      generation: reader.generation,
      writerPid: reader.writerPid,
      heartbeatAgeMs,
      writerGone: writerGone(reader.writerPid, heartbeatAgeMs),
      createdAt: isoTime(header.createdSec, header.createdNsec),
      capacity: reader.capacity,
      bookDepth: reader.bookDepth,
      fileSize: header.fileSize,
      nextSeq,
      oldestSeq: Math.max(1, nextSeq - reader.capacity + 1),
      connectionCount: reader.connectionCount(),
      symbols: [...reader.symbols],
      books,
      records,
      lost,
    };
  } finally {
    reader.close();
  }
}

function describeRecord(r: RecordView, symbols: readonly SymbolInfo[]): RecordReport {
  const symbol = r.symbolId === NO_SYMBOL ? undefined : symbols[r.symbolId];
  const flags: string[] = [];
  if (r.flags & RecordFlag.BatchEnd) flags.push("batch-end");
  if (r.flags & RecordFlag.Snapshot) flags.push("snapshot");
  const report: RecordReport = {
    seq: r.seq,
    type: enumName(RecordType, r.type),
    symbol: symbol?.symbol ?? (r.symbolId === NO_SYMBOL ? null : `#${r.symbolId}`),
    side: null,
    price: String(r.price),
    size: null,
    aux: r.aux,
    status: null,
    flags,
    exchangeTime: r.exchangeSec === 0 ? null : isoTime(r.exchangeSec, r.exchangeNsec),
    receiveTime: isoTime(r.receiveSec, r.receiveNsec),
    publishTime: isoTime(r.publishSec, r.publishNsec),
  };
  if ((r.type === RecordType.Trade || r.type === RecordType.BookLevel) && symbol !== undefined) {
    report.price = formatScaled(r.price, symbol.priceDecimals);
    report.size = formatScaled(r.size, symbol.sizeDecimals);
  }
  if (r.type === RecordType.Trade) {
    report.side = r.flags & RecordFlag.SideUnknown ? "unknown" : r.flags & RecordFlag.Side ? "sell" : "buy";
  } else if (r.type === RecordType.BookLevel) {
    report.side = r.flags & RecordFlag.Side ? "ask" : "bid";
  } else if (r.type === RecordType.BookStatus || r.type === RecordType.ConnectionStatus) {
    report.price = enumName(StatusReason, r.price);
    report.status = enumName(r.type === RecordType.BookStatus ? BookStatus : ConnectionState, r.aux);
  }
  return report;
}

/** "Live" -> "live", "ChecksumMismatch" -> "checksum-mismatch"; unknown codes stay numbers. */
function enumName(kind: Record<number, string>, value: number): string {
  const name = kind[value];
  return name === undefined ? `unknown(${value})` : name.replace(/([a-z])([A-Z])/g, "$1-$2").toLowerCase();
}

/** CLOCK_REALTIME pair as ISO-8601 UTC with all nine decimals. */
function isoTime(sec: number, nsec: number): string {
  const iso = new Date(sec * 1000).toISOString();
  return `${iso.slice(0, 19)}.${String(nsec).padStart(9, "0")}Z`;
}

/** The text form, for people. */
export function formatReport(report: RingReport): string {
  const out: string[] = [];
  out.push(report.path);
  out.push(
    `  exchange ${report.exchange}   state ${report.state}   generation ${report.generation}   writer pid ${report.writerPid}${report.writerGone ? " (gone)" : ""}   heartbeat ${report.heartbeatAgeMs} ms ago`,
  );
  out.push(
    `  capacity ${report.capacity} slots   book depth ${report.bookDepth}   next seq ${report.nextSeq} (oldest readable ${report.oldestSeq})   status messages ${report.connectionCount}   ${report.fileSize} bytes   created ${report.createdAt}`,
  );
  out.push("", "  symbols");
  out.push(...table([["id", "symbol", "venue", "price dec", "size dec"], ...report.symbols.map(symbolRow)]));
  for (const book of report.books) {
    out.push(
      "",
      `  book ${book.symbol}: ${book.status}, ${book.bidCount} bids / ${book.askCount} asks, last seq ${book.lastSeq}, venue seq ${book.venueSeq}, topic counts book ${book.topicCounts.book} trades ${book.topicCounts.trades} bbo ${book.topicCounts.bbo}, ${book.publishTime === null ? "never published" : `published ${book.publishTime} (${book.publishAgeMs} ms ago)`}`,
    );
    const rows: string[][] = [["bid size", "bid", "ask", "ask size"]];
    for (let i = 0; i < Math.max(book.bids.length, book.asks.length); i++) {
      const bid = book.bids[i];
      const ask = book.asks[i];
      rows.push([bid?.[1] ?? "", bid?.[0] ?? "", ask?.[0] ?? "", ask?.[1] ?? ""]);
    }
    if (rows.length > 1) out.push(...table(rows, [true, true, false, false]));
  }
  out.push(
    "",
    `  last ${report.records.length} records${report.lost > 0 ? ` (${report.lost} overwritten while reading)` : ""}`,
  );
  const rows = report.records.map((r) => [
    String(r.seq),
    r.publishTime.slice(11),
    r.type,
    r.symbol ?? "-",
    r.side ?? r.status ?? "",
    r.price,
    r.size ?? "",
    String(r.aux),
    r.flags.join(","),
  ]);
  if (rows.length > 0) {
    out.push(
      ...table(
        [
          ["seq", "published", "type", "symbol", "side/status", "price/reason", "size", "aux", "flags"],
          ...rows,
        ],
        [true, false, false, false, false, true, true, true, false],
      ),
    );
  }
  return out.join("\n");
}

function symbolRow(s: SymbolInfo): string[] {
  return [String(s.id), s.symbol, s.venueSymbol, String(s.priceDecimals), String(s.sizeDecimals)];
}

/** Aligned columns, indented four spaces; `right` marks right-aligned (numeric) columns. */
function table(rows: string[][], right: boolean[] = []): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length)));
  return rows.map(
    (row) =>
      `    ${row
        .map((cell, column) =>
          right[column] ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!),
        )
        .join("  ")
        .trimEnd()}`,
  );
}

/** Ring files named by PATH: the file itself, or every *.ring in a directory, sorted. */
function ringPaths(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .filter((name) => name.endsWith(RING_SUFFIX))
    .sort()
    .map((name) => `${path.replace(/\/+$/, "")}/${name}`);
}

function parseCount(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) > 1_000_000) {
    throw new ConfigError(`--${name}`, `"${text}" is not a count from 0 to 1000000`);
  }
  return Number(text);
}

export async function run(args: string[], env: Env): Promise<void> {
  let parsed: ReturnType<typeof parseInspectArgs>;
  try {
    parsed = parseInspectArgs(args);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(
      "inspect",
      `${(error as Error).message}; usage: alphapulse inspect [PATH] [--json] [--records N] [--levels N]`,
    );
  }
  const { values, positionals } = parsed;
  const options: InspectOptions = {
    records: parseCount("records", values.records, 20),
    levels: parseCount("levels", values.levels, 5),
  };
  const target = positionals[0] ?? readCommonConfig(new Settings(env)).sharedMemoryPath;
  const reports: RingReport[] = [];
  let failed = false;
  let paths: string[] = [];
  try {
    paths = ringPaths(target);
  } catch (error) {
    console.error(`inspect: ${target}: ${(error as Error).message}`);
    failed = true;
  }
  for (const path of paths) {
    try {
      reports.push(inspectRing(path, options));
    } catch (error) {
      console.error(`inspect: ${(error as Error).message}`);
      failed = true;
    }
  }
  if (!failed && paths.length === 0) {
    console.error(`inspect: no ${RING_SUFFIX} files in ${target}`);
    failed = true;
  }
  if (values.json) {
    // A file gives one report; a directory gives the list of its rings' reports.
    const single = paths.length === 1 && paths[0] === target;
    console.log(JSON.stringify(single ? (reports[0] ?? null) : reports, null, 2));
  } else if (reports.length > 0) {
    console.log(reports.map(formatReport).join("\n\n"));
  }
  if (failed) process.exitCode = 1;
}

function parseInspectArgs(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    options: {
      json: { type: "boolean", default: false },
      records: { type: "string" },
      levels: { type: "string" },
    },
  });
}
