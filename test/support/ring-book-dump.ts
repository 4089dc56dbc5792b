// Test support, run as its own process: opens a ring read-only and prints every symbol's latest
// book as one JSON line (status, venueSeq, top levels as exact decimal strings), so tests
// compare what another process really reads from shared memory.

import { formatScaled } from "../../src/market/decimal.ts";
import { BookStatus } from "../../src/shm/layout.ts";
import { RingReader } from "../../src/shm/ring-reader.ts";

const [path = "", depthText = "10"] = process.argv.slice(2);
const depth = Number(depthText);
const reader = RingReader.open(path, "latest");
const copy = reader.newBookCopy();
const books: Record<string, unknown> = {};
for (const symbol of reader.symbols) {
  if (!reader.readBook(symbol.id, copy)) throw new Error(`torn book ${symbol.symbol}`);
  const side = (prices: Float64Array, sizes: Float64Array, count: number) =>
    Array.from({ length: Math.min(count, depth) }, (_, i) => [
      formatScaled(prices[i]!, symbol.priceDecimals),
      formatScaled(sizes[i]!, symbol.sizeDecimals),
    ]);
  books[symbol.symbol] = {
    status: BookStatus[copy.status],
    venueSeq: copy.venueSeq,
    bids: side(copy.bidPrices, copy.bidSizes, copy.bidCount),
    asks: side(copy.askPrices, copy.askSizes, copy.askCount),
  };
}
reader.close();
console.log(JSON.stringify(books));
