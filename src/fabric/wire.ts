// What the venue's stream carries, as bytes: docs/shm-format.md's own records, symbol table and
// latest-book entries, so the ring format is also the wire format. Builds the leader's message
// bodies and headers, and reads them back for a relay.
import { headers, type MsgHdrs } from "@nats-io/transport-node";
import { decodeSymbolTable } from "../shm/header.ts";
import { bookStride, SLOT_SIZE, SYMBOL_ENTRY_SIZE, type SymbolInfo } from "../shm/layout.ts";
import type { RingStart, RingWriter } from "../shm/ring-writer.ts";
import { HEADER } from "./names.ts";

export class WireError extends Error {
  constructor(subject: string, detail: string) {
    super(`${subject}: ${detail}`);
    this.name = "WireError";
  }
}

/** A generation's shape and its first entries: where a copy of it starts when it can start at record 1. */
export interface GenerationMessage {
  readonly generation: number;
  readonly bookDepth: number;
  readonly symbols: SymbolInfo[];
  readonly start: RingStart;
}

/** Every entry at one batch boundary of a generation: where a copy starts later on. */
export interface BooksMessage {
  readonly generation: number;
  readonly start: RingStart;
}

/** Headers every leader message carries: its generation, its number, and the fence. */
export function leaderHeaders(generation: number, index: number, expectedLastSeq: number): MsgHdrs {
  const h = headers();
  h.set(HEADER.generation, String(generation));
  h.set(HEADER.index, String(index));
  h.set(HEADER.expectedLastSeq, String(expectedLastSeq));
  return h;
}

/** The generation message of a ring just created: body = symbol table, then entries. */
export function generationMessage(writer: RingWriter, h: MsgHdrs): Uint8Array {
  const entries = writer.copyEntries();
  if (entries === null) throw new Error("a new ring's entries are always at a batch boundary");
  const table = writer.copySymbolTable();
  const body = new Uint8Array(table.length + entries.length);
  body.set(table, 0);
  body.set(entries, table.length);
  h.set(HEADER.bookDepth, String(writer.bookDepth));
  h.set(HEADER.connectionBase, String(writer.connectionCounts().base));
  return body;
}

/** The books message now, or null when the entries are not all at the last batch boundary. */
export function booksMessage(writer: RingWriter, h: MsgHdrs): Uint8Array | null {
  const entries = writer.copyEntries();
  if (entries === null) return null;
  h.set(HEADER.ringSeq, String(writer.nextSeq - 1));
  h.set(HEADER.connectionCount, String(writer.connectionCounts().count));
  return entries;
}

export function decodeGeneration(
  subject: string,
  h: MsgHdrs | undefined,
  body: Uint8Array,
): GenerationMessage {
  const generation = intHeader(subject, h, HEADER.generation);
  const bookDepth = intHeader(subject, h, HEADER.bookDepth);
  const connectionBase = intHeader(subject, h, HEADER.connectionBase);
  const perSymbol = SYMBOL_ENTRY_SIZE + bookStride(bookDepth);
  if (bookDepth < 1 || body.length % perSymbol !== 0) {
    throw new WireError(
      subject,
      `${body.length} bytes is not a whole number of symbols at depth ${bookDepth}`,
    );
  }
  const count = body.length / perSymbol;
  const symbols = decodeSymbolTable(body, 0, count);
  const entries = body.slice(count * SYMBOL_ENTRY_SIZE);
  return {
    generation,
    bookDepth,
    symbols,
    start: { firstSeq: 1, connectionBase, connectionCount: connectionBase, entries },
  };
}

/** A books message of `generation` (whose shape and connection base it needs). */
export function decodeBooks(
  subject: string,
  h: MsgHdrs | undefined,
  body: Uint8Array,
  of: GenerationMessage,
): BooksMessage {
  const expected = of.symbols.length * bookStride(of.bookDepth);
  if (body.length !== expected) throw new WireError(subject, `${body.length} bytes, expected ${expected}`);
  return {
    generation: intHeader(subject, h, HEADER.generation),
    start: {
      firstSeq: intHeader(subject, h, HEADER.ringSeq) + 1,
      connectionBase: of.start.connectionBase,
      connectionCount: intHeader(subject, h, HEADER.connectionCount),
      entries: body.slice(),
    },
  };
}

/** A records message's records as aligned words (16 per record), with the first one's sequence. */
export function recordWords(subject: string, body: Uint8Array, scratch: { words: Int32Array }): number {
  if (body.length === 0 || body.length % SLOT_SIZE !== 0) {
    throw new WireError(subject, `${body.length} bytes is not a whole number of 64-byte records`);
  }
  if (scratch.words.byteLength < body.length) scratch.words = new Int32Array((body.length * 2) / 4);
  new Uint8Array(scratch.words.buffer, 0, body.length).set(body);
  return body.length / SLOT_SIZE;
}

export function generationOf(subject: string, h: MsgHdrs | undefined): number {
  return intHeader(subject, h, HEADER.generation);
}

export function intHeader(subject: string, h: MsgHdrs | undefined, name: string): number {
  const text = h?.get(name) ?? "";
  const value = Number(text);
  if (text === "" || !Number.isSafeInteger(value) || value < 0) {
    throw new WireError(subject, `header ${name} is "${text}", not a whole number`);
  }
  return value;
}
