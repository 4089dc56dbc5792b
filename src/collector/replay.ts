// `alphapulse replay FILE...`: feeds capture files (CAPTURE_PATH output, or cryptofeed's
// captures of the same line format) through the same venue adapter and FrameIngest into a ring,
// as fast as possible or at recorded speed (REPLAY_SPEED=max|recorded). REST answers in the
// capture (Binance snapshots, metadata) are served back from it; one JSON summary line at the end.
import { basename } from "node:path";
import { ConfigError, type Env, readCommonConfig, Settings } from "../config.ts";
import { VENUE_DEFINITIONS } from "../exchanges/registry.ts";
import { type StreamHandle, UnknownSymbolError, type VenueDefinition } from "../exchanges/venue.ts";
import { type Logger, log } from "../log.ts";
import { BookStatus, type SymbolSpec } from "../shm/layout.ts";
import { RingWriter } from "../shm/ring-writer.ts";
import { TokenBucket } from "./budget.ts";
import { type CaptureEntry, NotCapturedError, parseCapture, RecordedRest } from "./capture.ts";
import { readCollectorConfig } from "./config.ts";
import { wireVenue } from "./ingest.ts";

/** Where a replayed venue thinks it is connected: nothing is ever dialled there. */
const REPLAY_ENDPOINTS = { wsUrl: "ws://replay", restUrl: "http://replay" };

/** A captured connection being replayed: it accepts what the venue sends and drops it. */
class ReplayStream implements StreamHandle {
  constructor(readonly name: string) {}
  send(): void {}
  reconnect(): void {}
  rollover(): void {}
}

interface TaggedEntry {
  readonly entry: CaptureEntry;
  readonly stream: string;
}

/** The connection a capture file belongs to, from CaptureFile's "<exchange>-<stream>.<stamp>..." names. */
export function streamOfFile(exchange: string, path: string, fallback: string): string {
  const name = basename(path);
  const prefix = `${exchange}-`;
  if (!name.startsWith(prefix) || !name.endsWith(".capture")) return fallback;
  return name.slice(prefix.length, name.indexOf(".", prefix.length));
}

export interface ReplaySummary {
  readonly exchange: string;
  readonly ring: string;
  readonly frames: number;
  readonly records: number;
  readonly parseErrors: number;
  readonly validBooks: string[];
  readonly seconds: number;
}

async function resolveSpecs(
  definition: VenueDefinition,
  symbols: string[],
  entries: readonly TaggedEntry[],
  rest: RecordedRest,
): Promise<SymbolSpec[]> {
  const frames = entries.flatMap((t) => (t.entry.kind === "frame" ? [t.entry.text] : []));
  if (definition.resolveFromFrames) {
    const specs = definition.resolveFromFrames(symbols, frames);
    if (specs === null) {
      throw new ConfigError(
        "FILE",
        `the capture holds no ${definition.name} metadata frame (instrument snapshot)`,
      );
    }
    return specs;
  }
  try {
    return await definition.resolveSymbols(symbols, REPLAY_ENDPOINTS, rest);
  } catch (error) {
    if (error instanceof NotCapturedError) {
      throw new ConfigError("FILE", `the capture holds no ${definition.name} metadata answer (${error.url})`);
    }
    throw error;
  }
}

export async function replayFiles(
  env: Env,
  files: readonly string[],
  logger: Logger,
): Promise<ReplaySummary> {
  const settings = new Settings(env);
  const common = readCommonConfig(settings);
  const config = readCollectorConfig(settings, "-replay");
  const { exchange, symbols, depth } = config;
  const definition: VenueDefinition = VENUE_DEFINITIONS[exchange];
  const speed = settings.oneOf("REPLAY_SPEED", ["max", "recorded"], "max");
  if (files.length === 0) throw new ConfigError("FILE", "give one or more capture files to replay");

  const tagged: TaggedEntry[] = [];
  for (const file of files) {
    const stream = streamOfFile(exchange, file, definition.replayStream);
    for (const entry of parseCapture(await Bun.file(file).text())) tagged.push({ entry, stream });
  }
  // Several connections' files interleave by receive time (sort is stable within a file).
  tagged.sort((a, b) => a.entry.epoch - b.entry.epoch);
  const rest = new RecordedRest(tagged.map((t) => t.entry));
  let specs: SymbolSpec[];
  try {
    specs = await resolveSpecs(definition, symbols, tagged, rest);
  } catch (error) {
    if (error instanceof UnknownSymbolError) throw new ConfigError("SYMBOLS", error.message);
    throw error;
  }
  const writer = RingWriter.create({
    dir: common.sharedMemoryPath,
    name: config.ringName,
    exchange,
    capacity: config.ringCapacity,
    bookDepth: depth,
    symbols: specs,
  });
  const { counters, publisher, venue, ingest } = wireVenue({
    definition,
    writer,
    depth,
    wsUrl: REPLAY_ENDPOINTS.wsUrl,
    restUrl: REPLAY_ENDPOINTS.restUrl,
    rest,
    budget: new TokenBucket(1e12, 1e12),
    maxFrameBytes: config.maxFrameBytes,
    log: logger,
  });
  const streams = new Map<string, ReplayStream>();
  const started = performance.now();
  const firstEpoch = tagged[0]?.entry.epoch ?? 0;
  let frames = 0;
  for (const { entry, stream: name } of tagged) {
    if (entry.kind === "rest" || entry.kind === "sent") continue; // served by RecordedRest; echoes of ours
    let stream = streams.get(name);
    if (entry.kind === "connect" || stream === undefined) {
      const closing = stream;
      if (closing !== undefined) ingest.batch(() => venue.onClose(closing, false));
      stream = new ReplayStream(name);
      streams.set(name, stream);
      venue.onOpen(stream);
    }
    if (entry.kind !== "frame") continue;
    if (speed === "recorded") {
      const dueMs = (entry.epoch - firstEpoch) * 1000 - (performance.now() - started);
      if (dueMs > 1) await Bun.sleep(dueMs);
    }
    const sec = Math.floor(entry.epoch);
    ingest.frame(stream, entry.text, sec, Math.round((entry.epoch - sec) * 1e9));
    frames++;
    if (rest.waiting > 0) await rest.settled();
  }
  const summary: ReplaySummary = {
    exchange,
    ring: writer.path,
    frames,
    records: publisher.recordsWritten,
    parseErrors: counters.totalParseErrors(),
    validBooks: writer.symbols
      .filter((s) => publisher.status[s.id] === BookStatus.Valid)
      .map((s) => s.symbol),
    seconds: (performance.now() - started) / 1000,
  };
  writer.close();
  return summary;
}

export async function run(args: string[], env: Env): Promise<void> {
  const logger = log.child({ mode: "replay" });
  const summary = await replayFiles(env, args, logger);
  console.log(JSON.stringify(summary));
}
