// The symbol table's bytes (docs/shm-format.md, "Symbol table"): decoded the same way from a
// mapped ring and from a copy that travelled between machines.
import { S, SYMBOL_ENTRY_SIZE, SYMBOL_NAME_BYTES, type SymbolInfo } from "./layout.ts";
import { readAscii } from "./words.ts";

/** The `count` entries starting at byte `offset` of `bytes`. */
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
