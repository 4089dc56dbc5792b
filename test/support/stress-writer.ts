// Stress writer process: appends COUNT pattern records to a ring as fast as it can, optionally
// paced (RATE records/s), optionally forever (COUNT=0) so a test can SIGKILL it mid-stream.
import { RingWriter } from "../../src/shm/ring-writer.ts";
import {
  expectedAux,
  expectedExchangeSec,
  expectedPrice,
  expectedSize,
  expectedSymbol,
  STRESS_FLAGS,
  STRESS_SYMBOLS,
  STRESS_TYPE,
} from "./stress-record.ts";

const [dir = "", name = "stress", capacityText = "1024", countText = "0", rateText = "0"] =
  process.argv.slice(2);
const count = Number(countText);
const rate = Number(rateText);
const writer = RingWriter.create({
  dir,
  name,
  exchange: "stress",
  capacity: Number(capacityText),
  bookDepth: 4,
  symbols: Array.from({ length: STRESS_SYMBOLS }, (_, i) => ({
    venueSymbol: `S${i}`,
    symbol: `S${i}-USD`,
    priceDecimals: 2,
    sizeDecimals: 4,
  })),
});
writer.startHeartbeat();
console.log(JSON.stringify({ ready: true, generation: writer.generation, path: writer.path }));

function writeOne(): void {
  const seq = writer.nextSeq;
  writer.setFrameTimes(expectedExchangeSec(seq), seq % 1_000_000_000, 0, 0);
  writer.append(
    STRESS_TYPE,
    STRESS_FLAGS,
    expectedSymbol(seq),
    expectedPrice(seq),
    expectedSize(seq),
    expectedAux(seq),
  );
}

if (rate === 0) {
  while (count === 0 || writer.nextSeq <= count) writeOne();
  writer.close();
} else {
  const perTick = Math.max(1, Math.round(rate / 1000));
  const timer = setInterval(() => {
    for (let i = 0; i < perTick; i++) writeOne();
    if (count !== 0 && writer.nextSeq > count) {
      clearInterval(timer);
      writer.close();
    }
  }, 1);
}
