// Maps a new ring's pages in ahead of the writer's first touch of them, one slice per event-loop
// turn: no append then waits for a page fault (on tmpfs, a first write allocates and zeroes the
// page), and creating the ring does not wait for the whole file (16 MiB took 13 ms in one go).
import { type Mapping, populateForWriting } from "./libc.ts";

/** Bytes mapped in per event-loop turn: 64 pages, about 0.2 ms. */
const SLICE = 64 * 4096;

export class Prefault {
  private offset: number;
  private pending: ReturnType<typeof setImmediate> | null = null;

  /** Starts mapping in `mapping` from `from` (page aligned) to its end. */
  constructor(
    private readonly mapping: Mapping,
    from: number,
  ) {
    this.offset = from;
    this.schedule();
  }

  /** Stops; call it before the mapping goes away. */
  stop(): void {
    if (this.pending !== null) clearImmediate(this.pending);
    this.pending = null;
  }

  private schedule(): void {
    this.pending = setImmediate(this.slice);
    this.pending.unref(); // never what keeps a process alive
  }

  private readonly slice = (): void => {
    this.pending = null;
    const length = Math.min(SLICE, this.mapping.length - this.offset);
    if (length <= 0 || !populateForWriting(this.mapping, this.offset, length)) return;
    this.offset += length;
    this.schedule();
  };
}
