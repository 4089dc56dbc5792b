// Capture files: every raw frame with its receive time, one file per connection, in the line
// format of cryptofeed's sample captures (github.com/bmoscon/cryptofeed, sample_data/; the tests
// replay some): `<epoch>: <frame>` for a frame, `<url> <-> <epoch>` for a connect,
// `<url> <- <epoch>: <frame>` for a frame sent and `<url> -> <epoch>: <body>` for a REST answer.
// Files rotate by size. The reader and the recorded REST client let `replay` and the tests feed a
// capture back through a venue.
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import type { RestClient } from "../exchanges/venue.ts";

export class CaptureFile {
  private fd: number | null = null;
  private written = 0;
  private part = 0;

  constructor(
    private readonly dir: string,
    /** File name stem: exchange and connection, e.g. "binance-binance". */
    private readonly stem: string,
    private readonly maxBytes: number,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  frame(epochSeconds: number, text: string): void {
    this.write(`${epochText(epochSeconds)}: ${text}\n`);
  }

  connect(url: string, epochSeconds: number): void {
    this.write(`${url} <-> ${epochText(epochSeconds)}\n`);
  }

  sent(url: string, epochSeconds: number, text: string): void {
    this.write(`${url} <- ${epochText(epochSeconds)}: ${text}\n`);
  }

  rest(url: string, epochSeconds: number, body: string): void {
    this.write(`${url} -> ${epochText(epochSeconds)}: ${body}\n`);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private write(line: string): void {
    if (this.fd === null || this.written >= this.maxBytes) this.rotate();
    this.written += writeSync(this.fd!, line);
  }

  private rotate(): void {
    this.close();
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    const part = String(this.part++).padStart(4, "0"); // names sort in write order
    this.fd = openSync(`${this.dir}/${this.stem}.${stamp}.${part}.capture`, "a", 0o640);
    this.written = 0;
  }
}

function epochText(seconds: number): string {
  return seconds.toFixed(6);
}

export type CaptureEntry =
  | { kind: "frame"; epoch: number; text: string }
  | { kind: "connect"; epoch: number; url: string }
  | { kind: "sent"; epoch: number; url: string; text: string }
  | { kind: "rest"; epoch: number; url: string; text: string };

/** Parses one capture line; null for a blank or unreadable line. */
export function parseCaptureLine(line: string): CaptureEntry | null {
  if (line === "") return null;
  const first = line.charCodeAt(0);
  if (first >= 48 && first <= 57) {
    const colon = line.indexOf(": ");
    if (colon < 0) return null;
    const epoch = Number(line.slice(0, colon));
    return Number.isFinite(epoch) ? { kind: "frame", epoch, text: line.slice(colon + 2) } : null;
  }
  const match = /^(\S+) (<->|<-|->) ([0-9.]+)(?:: )?/.exec(line);
  if (!match) return null;
  const [head, url = "", arrow, epochText = ""] = match;
  const epoch = Number(epochText);
  const text = line.slice(head.length);
  if (arrow === "<->") return { kind: "connect", epoch, url };
  if (arrow === "<-") return { kind: "sent", epoch, url, text };
  return { kind: "rest", epoch, url, text };
}

export function parseCapture(text: string): CaptureEntry[] {
  const entries: CaptureEntry[] = [];
  for (const line of text.split("\n")) {
    const entry = parseCaptureLine(line);
    if (entry) entries.push(entry);
  }
  return entries;
}

/** A replay asked for a REST answer the capture does not hold. */
export class NotCapturedError extends Error {
  constructor(readonly url: string) {
    super(`no answer for ${url} in the capture`);
    this.name = "NotCapturedError";
  }
}

/**
 * Answers REST requests from a capture's recorded answers, matched by path and query (the
 * host differs between the venue and a test), each answer used once and then the last repeated.
 */
export class RecordedRest implements RestClient {
  private readonly answers = new Map<string, string[]>();
  private readonly pending = new Set<Promise<unknown>>();

  constructor(entries: readonly CaptureEntry[]) {
    for (const entry of entries) {
      if (entry.kind !== "rest") continue;
      const key = requestKey(entry.url);
      const list = this.answers.get(key) ?? [];
      list.push(entry.text);
      this.answers.set(key, list);
    }
  }

  getJson(url: string): Promise<unknown> {
    const list = this.answers.get(requestKey(url));
    const body = list && list.length > 1 ? list.shift() : list?.[0];
    const answer =
      body === undefined
        ? Promise.reject(new NotCapturedError(url))
        : Promise.resolve(JSON.parse(body) as unknown);
    this.pending.add(answer);
    const settle = () => this.pending.delete(answer);
    answer.then(settle, settle);
    return answer;
  }

  /** Answers handed out and not yet delivered. */
  get waiting(): number {
    return this.pending.size;
  }

  /** Waits until every answer handed out has been delivered (replay keeps capture order). */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    // Let the venue's then-callbacks run.
    await Promise.resolve();
  }
}

function requestKey(url: string): string {
  const parsed = new URL(url);
  return decodeURIComponent(parsed.pathname.replace(/^.*?(\/api\/)/, "$1") + parsed.search);
}
