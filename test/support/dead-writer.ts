// A writer that died, as a real process: it creates its ring the way a collector does (state
// live, one heartbeat), optionally commits TRADES one-trade batches of the first symbol as a
// relay's copy would (source: stream created at 1 ms, generation 1, its message 1 applied;
// settled once, after the 290th) and leaves one more trade in a batch it never commits, then
// kills itself with SIGKILL, leaving the ring with no writer. Arguments: DIR RING_NAME EXCHANGE SYMBOL,SYMBOL... [TRADES]
import { RecordFlag, RecordType } from "../../src/shm/layout.ts";
import { RingWriter } from "../../src/shm/ring-writer.ts";

const [dir = "", name = "", exchange = "", symbols = "", trades = "0"] = process.argv.slice(2);
const writer = RingWriter.create({
  dir,
  name,
  exchange,
  capacity: 1024,
  bookDepth: 10,
  symbols: symbols
    .split(",")
    .map((symbol) => ({ venueSymbol: symbol, symbol, priceDecimals: 1, sizeDecimals: 8 })),
});
const count = Number(trades);
if (count > 0) writer.setSource(1, 1, 1);
for (let i = 1; i <= count; i++) {
  writer.append(RecordType.Trade, RecordFlag.BatchEnd, 0, 1000 + i, 1, i);
  if (i === 290) writer.settle(); // as a relay does every 100 ms
}
if (count > 0) writer.append(RecordType.Trade, 0, 0, 999, 1, 0);
process.kill(process.pid, "SIGKILL");
