// The ring file's fixed part as one value: the header fields that never change once the file is
// at its path, and the symbol table. The writer encodes it here; every reader of a file (the ring
// reader, the writer looking at the generation it replaces, `inspect`, a fabric copy's symbol
// table) decodes and checks it here. The words that do change (state, heartbeat, next_seq,
// connection_count, first_seq) are loaded and stored by the reader and the writer themselves,
// each with one aligned access, at the indices LiveWord gives.
import {
  FORMAT_VERSION,
  H,
  MAGIC,
  S,
  SLOT_SIZE,
  SYMBOL_ENTRY_SIZE,
  SYMBOL_NAME_BYTES,
  type SymbolInfo,
} from "./layout.ts";
import { readAscii, writeAscii } from "./words.ts";

export class RingFormatError extends Error {
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`${path}: ${detail}`);
    this.name = "RingFormatError";
  }
}

/** Header fields that are fixed for the life of a file (docs/shm-format.md, "Header"). */
export interface RingHeader {
  readonly version: number;
  readonly generation: number;
  readonly writerPid: number;
  readonly capacity: number;
  readonly slotSize: number;
  readonly symbolCount: number;
  readonly bookDepth: number;
  readonly bookStride: number;
  readonly symbolsOffset: number;
  readonly booksOffset: number;
  readonly slotsOffset: number;
  readonly fileSize: number;
  readonly createdSec: number;
  readonly createdNsec: number;
  readonly exchange: string;
  /** Status-topic messages before this generation's first record. */
  readonly connectionBase: number;
}

/**
 * Decodes the fixed header fields from the file's first page, of any format version: the
 * writer retires a file of another version it finds at its path. Throws on a foreign file.
 */
export function decodeHeader(page: ArrayBuffer, path: string): RingHeader {
  if (page.byteLength < H.size) {
    throw new RingFormatError(path, `file is ${page.byteLength} bytes, smaller than a header`);
  }
  const bytes = new Uint8Array(page, 0, H.size);
  const magic = readAscii(bytes, H.magic, 8);
  if (magic !== MAGIC) throw new RingFormatError(path, `bad magic "${magic}": not an AlphaPulse ring`);
  const view = new DataView(page, 0, H.size);
  const u32 = (at: number) => view.getUint32(at, true);
  const u64 = (at: number) => Number(view.getBigUint64(at, true));
  return {
    version: u32(H.version),
    generation: u32(H.generation),
    writerPid: u32(H.writerPid),
    capacity: u32(H.capacity),
    slotSize: u32(H.slotSize),
    symbolCount: u32(H.symbolCount),
    bookDepth: u32(H.bookDepth),
    bookStride: u32(H.bookStride),
    symbolsOffset: u64(H.symbolsOffset),
    booksOffset: u64(H.booksOffset),
    slotsOffset: u64(H.slotsOffset),
    fileSize: u64(H.fileSize),
    createdSec: u32(H.createdSec),
    createdNsec: u32(H.createdNsec),
    exchange: readAscii(bytes, H.exchange, 16),
    connectionBase: view.getFloat64(H.connectionBase, true),
  };
}

/** Refuses, with the reason, a header this code cannot read in a file of `fileLength` bytes. */
export function checkHeader(header: RingHeader, fileLength: number, path: string): void {
  if (header.version !== FORMAT_VERSION) {
    throw new RingFormatError(
      path,
      `format version ${header.version}; this reader understands ${FORMAT_VERSION}`,
    );
  }
  if (header.slotSize !== SLOT_SIZE) {
    throw new RingFormatError(path, `slot size ${header.slotSize}, expected ${SLOT_SIZE}`);
  }
  if (fileLength < header.fileSize) {
    throw new RingFormatError(path, `file is ${fileLength} bytes but its header says ${header.fileSize}`);
  }
  const regions: [string, number, number][] = [
    ["symbol table", header.symbolsOffset, header.symbolCount * SYMBOL_ENTRY_SIZE],
    ["latest-book area", header.booksOffset, header.symbolCount * header.bookStride],
    ["record slots", header.slotsOffset, header.capacity * SLOT_SIZE],
  ];
  for (const [name, offset, length] of regions) {
    if (offset < H.size || offset % 8 !== 0 || offset + length > header.fileSize) {
      throw new RingFormatError(path, `${name} at ${offset} (${length} bytes) lies outside the file`);
    }
  }
}

/** The symbol table of a checked header, from a mapping of the whole file. */
export function decodeSymbols(file: ArrayBuffer, header: RingHeader): SymbolInfo[] {
  return decodeSymbolTable(new Uint8Array(file), header.symbolsOffset, header.symbolCount);
}

/**
 * The `count` symbol-table entries starting at byte `offset` of `bytes`: a mapped ring's, or
 * a copy of its table that travelled between machines.
 */
export function decodeSymbolTable(bytes: Uint8Array, offset: number, count: number): SymbolInfo[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const symbols: SymbolInfo[] = [];
  for (let id = 0; id < count; id++) {
    const at = offset + id * SYMBOL_ENTRY_SIZE;
    symbols.push({
      id: view.getUint16(at + S.id, true),
      priceDecimals: view.getUint8(at + S.priceDecimals),
      sizeDecimals: view.getUint8(at + S.sizeDecimals),
      venueSymbol: readAscii(bytes, at + S.venueSymbol, SYMBOL_NAME_BYTES),
      symbol: readAscii(bytes, at + S.symbol, SYMBOL_NAME_BYTES),
    });
  }
  return symbols;
}

/**
 * Writes the fixed header (state Initializing) and the symbol table into a new file's mapping.
 * `header.version` and `header.slotSize` are this format's; the live words are the writer's.
 */
export function encodeHeader(file: ArrayBuffer, header: RingHeader, symbols: readonly SymbolInfo[]): void {
  const bytes = new Uint8Array(file);
  const view = new DataView(file);
  const u32 = (at: number, value: number) => view.setUint32(at, value, true);
  const u64 = (at: number, value: number) => view.setBigUint64(at, BigInt(value), true);
  bytes.set(new TextEncoder().encode(MAGIC), H.magic); // exactly 8 bytes, no terminator
  u32(H.version, header.version);
  u32(H.generation, header.generation);
  u32(H.writerPid, header.writerPid);
  u32(H.capacity, header.capacity);
  u32(H.slotSize, header.slotSize);
  u32(H.symbolCount, header.symbolCount);
  u32(H.bookDepth, header.bookDepth);
  u32(H.bookStride, header.bookStride);
  u64(H.symbolsOffset, header.symbolsOffset);
  u64(H.booksOffset, header.booksOffset);
  u64(H.slotsOffset, header.slotsOffset);
  u64(H.fileSize, header.fileSize);
  u32(H.createdSec, header.createdSec);
  u32(H.createdNsec, header.createdNsec);
  writeAscii(bytes, H.exchange, 16, header.exchange);
  view.setFloat64(H.connectionBase, header.connectionBase, true);
  for (const symbol of symbols) {
    const at = header.symbolsOffset + symbol.id * SYMBOL_ENTRY_SIZE;
    view.setUint16(at + S.id, symbol.id, true);
    view.setUint8(at + S.priceDecimals, symbol.priceDecimals);
    view.setUint8(at + S.sizeDecimals, symbol.sizeDecimals);
    writeAscii(bytes, at + S.venueSymbol, SYMBOL_NAME_BYTES, symbol.venueSymbol);
    writeAscii(bytes, at + S.symbol, SYMBOL_NAME_BYTES, symbol.symbol);
  }
}

/**
 * Where the words that change live, as indices into the views over the mapping that hold them
 * (state: Int32Array; heartbeat: BigInt64Array; next_seq, connection_count, first_seq:
 * Float64Array).
 */
export const LiveWord = {
  state: H.state / 4,
  heartbeatMs: H.heartbeatMs / 8,
  nextSeq: H.nextSeq / 8,
  connectionCount: H.connectionCount / 8,
  /** Changes only when a relay's copy jumps past records it could not get (0 in older files: 1). */
  firstSeq: H.firstSeq / 8,
  settledSeq: H.settledSeq / 8,
  sourceCreatedMs: H.sourceCreatedMs / 8,
  sourceGeneration: H.sourceGeneration / 8,
  sourceSeq: H.sourceSeq / 8,
} as const;
