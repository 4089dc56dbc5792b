// A collector that died at start, as a real process: it creates its ring the way a collector
// does (state live, one heartbeat, no records) and then kills itself with SIGKILL, leaving the
// ring with no writer. Arguments: DIR RING_NAME EXCHANGE SYMBOL,SYMBOL...
import { RingWriter } from "../../src/shm/ring-writer.ts";

const [dir = "", name = "", exchange = "", symbols = ""] = process.argv.slice(2);
RingWriter.create({
  dir,
  name,
  exchange,
  capacity: 1024,
  bookDepth: 10,
  symbols: symbols
    .split(",")
    .map((symbol) => ({ venueSymbol: symbol, symbol, priceDecimals: 1, sizeDecimals: 8 })),
});
process.kill(process.pid, "SIGKILL");
