// The TypeScript side of the cross-language conformance test: decodes a ring with
// src/shm/ring-reader.ts and prints it as JSON lines, one per record or gap, then one per
// latest book. python/tests compares this, line for line, with what alphapulse_shm decodes.
//
//   bun test/support/python-ring-dump.ts PATH [oldest|latest|SEQ]
import { formatScaled } from "../../src/market/decimal.ts";
import { RecordType } from "../../src/shm/layout.ts";
import { RecordView, RingReader, type StartAt } from "../../src/shm/ring-reader.ts";

const [path, startArg = "oldest"] = process.argv.slice(2);
if (path === undefined)
  throw new Error("usage: bun test/support/python-ring-dump.ts PATH [oldest|latest|SEQ]");
const start: StartAt = startArg === "oldest" || startArg === "latest" ? startArg : Number(startArg);
const reader = RingReader.open(path, start);
const lines: string[] = [];

reader.poll(
  {
    record(r) {
      const symbol = reader.symbols[r.symbolId];
      const amount = (r.type === RecordType.Trade || r.type === RecordType.BookLevel) && symbol !== undefined;
      lines.push(
        JSON.stringify({
          seq: r.seq,
          type: r.type,
          flags: r.flags,
          symbolId: r.symbolId,
          price: r.price,
          size: r.size,
          aux: r.aux,
          exchangeSec: r.exchangeSec,
          exchangeNsec: r.exchangeNsec,
          receiveSec: r.receiveSec,
          receiveNsec: r.receiveNsec,
          publishSec: r.publishSec,
          publishNsec: r.publishNsec,
          ...(amount
            ? {
                priceText: formatScaled(r.price, symbol.priceDecimals),
                sizeText: formatScaled(r.size, symbol.sizeDecimals),
              }
            : {}),
        }),
      );
    },
    gap(fromSeq, lost) {
      lines.push(JSON.stringify({ gap: fromSeq, lost }));
    },
  },
  new RecordView(),
  Number.MAX_SAFE_INTEGER,
);

const copy = reader.newBookCopy();
for (const symbol of reader.symbols) {
  if (!reader.readBook(symbol.id, copy)) throw new Error(`book ${symbol.symbol} kept changing`);
  const side = (prices: Float64Array, sizes: Float64Array, count: number) =>
    Array.from({ length: count }, (_, i) => [prices[i]!, sizes[i]!]);
  lines.push(
    JSON.stringify({
      book: symbol.symbol,
      status: copy.status,
      lastSeq: copy.lastSeq,
      venueSeq: copy.venueSeq,
      exchangeSec: copy.exchangeSec,
      exchangeNsec: copy.exchangeNsec,
      publishSec: copy.publishSec,
      publishNsec: copy.publishNsec,
      bids: side(copy.bidPrices, copy.bidSizes, copy.bidCount),
      asks: side(copy.askPrices, copy.askSizes, copy.askCount),
      bookCount: copy.bookCount,
      tradeCount: copy.tradeCount,
      bboCount: copy.bboCount,
      bookBase: copy.bookBase,
      tradeBase: copy.tradeBase,
      bboBase: copy.bboBase,
      integrity: copy.integrity,
    }),
  );
}
reader.close();
console.log(lines.join("\n"));
