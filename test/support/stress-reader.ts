// Stress reader process: follows a ring from sequence 1 until it has accounted for COUNT records
// (delivered or reported lost) and prints what it saw as JSON: no record may be torn or
// misattributed, and delivered + lost must equal COUNT exactly.
import { RecordView, RingReader } from "../../src/shm/ring-reader.ts";
import { recordIsIntact } from "./stress-record.ts";

const [path = "", countText = "0"] = process.argv.slice(2);
const count = Number(countText);
const reader = RingReader.open(path, 1);
const view = new RecordView();
let delivered = 0;
let lost = 0;
let bad = 0;
let outOfOrder = 0;
let gaps = 0;
let expected = 1;
const sink = {
  record(r: RecordView) {
    if (r.seq !== expected) outOfOrder++;
    if (!recordIsIntact(r)) bad++;
    expected = r.seq + 1;
    delivered++;
  },
  gap(fromSeq: number, n: number) {
    if (fromSeq !== expected) outOfOrder++;
    expected = fromSeq + n;
    lost += n;
    gaps++;
  },
};
let idle = 0;
while (reader.position <= count) {
  if (reader.poll(sink, view, 4096) === 0) {
    // Yield now and then so three processes can share two cores.
    if (++idle % 64 === 0) await Bun.sleep(0);
  }
}
console.log(JSON.stringify({ delivered, lost, bad, outOfOrder, gaps, position: reader.position }));
