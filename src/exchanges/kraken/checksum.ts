// Kraken's book checksum (PROTOCOLS.md 1.3): CRC-32 of the top 10 asks (low to high) then the
// top 10 bids (high to low), each level as price then qty with the dot and leading zeros
// removed. At the instrument's precision that text is exactly the scaled integer, so the
// book's scaled values are printed as they are.
import type { OrderBook } from "../../book/order-book.ts";

const CHECKSUM_LEVELS = 10;

export function krakenChecksum(book: OrderBook): number {
  let text = "";
  const asks = book.asks;
  for (let rank = 0, n = Math.min(CHECKSUM_LEVELS, asks.count); rank < n; rank++) {
    text += `${asks.priceAt(rank)}${asks.sizeAt(rank)}`;
  }
  const bids = book.bids;
  for (let rank = 0, n = Math.min(CHECKSUM_LEVELS, bids.count); rank < n; rank++) {
    text += `${bids.priceAt(rank)}${bids.sizeAt(rank)}`;
  }
  return Bun.hash.crc32(text);
}
