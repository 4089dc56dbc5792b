// When a reader first saw each record committed: its pick-up time. Before every live record it
// handles, a reader loads the ring's cursor; a cursor that moved is a sighting (the cursor, and
// the time then) of every record below it. A record's pick-up is the first sighting that covers
// it, so a burst's later records are not charged the time spent on the messages before them,
// only the record being handled when they were committed. The broadcaster's follower times its
// pick-up with it, and `bun bench shm` its bare reader, the same way.
export class Sightings {
  private static readonly CAPACITY = 256;
  private readonly below = new Float64Array(Sightings.CAPACITY);
  private readonly at = new Float64Array(Sightings.CAPACITY);
  private head = 0;
  private count = 0;
  private lastBelow = 0;
  /** The pick-up time (performance.now()) of the record given to the last `look`. */
  atMs = 0;

  /**
   * Sights `cursor` if it moved, then finds the sighting of record `seq`. A record read before
   * the writer stored the cursor past it (it is in a batch still being written, or the store is
   * yet to land) is sighted now: the cursor taken is at least just past it.
   */
  look(cursor: number, seq: number): void {
    const capacity = Sightings.CAPACITY;
    while (this.count > 0 && this.below[this.head]! <= seq) {
      this.head = (this.head + 1) % capacity;
      this.count--;
    }
    const seen = Math.max(cursor, seq + 1);
    // A full queue leaves the cursor to a later look (its head covers `seq`): its records take a
    // later sighting, never an earlier.
    if (seen > this.lastBelow && this.count < capacity) {
      const slot = (this.head + this.count) % capacity;
      this.below[slot] = seen;
      this.at[slot] = performance.now();
      this.count++;
      this.lastBelow = seen;
    }
    this.atMs = this.at[this.head]!;
  }

  clear(): void {
    this.head = 0;
    this.count = 0;
    this.lastBelow = 0;
  }
}
