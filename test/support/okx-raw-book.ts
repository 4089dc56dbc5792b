// Test support: an OKX book rebuilt from the venue's raw strings alone, and OKX's checksum over
// them, written from the venue's rules (not from src/exchanges/okx), so tests check the adapter
// and the simulator against an independent reference.

export type Level = [string, string];

export class RawBook {
  /** By price value (one level however it is spelled): [px, sz] as last received. */
  readonly bids = new Map<number, Level>();
  readonly asks = new Map<number, Level>();

  /** Applies a books message's levels ([px, sz, ...] strings); size "0" deletes. */
  apply(data: { asks: string[][]; bids: string[][] }): void {
    for (const [levels, side] of [
      [data.asks, this.asks],
      [data.bids, this.bids],
    ] as const) {
      for (const [px, sz] of levels) {
        if (Number(sz) === 0) side.delete(Number(px));
        else side.set(Number(px), [px!, sz!]);
      }
    }
  }

  /** One side, best first. */
  sorted(isAsk: boolean): Level[] {
    const levels = [...(isAsk ? this.asks : this.bids)];
    levels.sort(([a], [b]) => (isAsk ? a - b : b - a));
    return levels.map(([, level]) => level);
  }

  /** OKX's checksum: top 25 interleaved bid, ask, bid, ask... as "px:sz" joined by ":", signed CRC32. */
  checksum(): number {
    const bids = this.sorted(false);
    const asks = this.sorted(true);
    const parts: string[] = [];
    for (let i = 0; i < 25; i++) {
      if (i < bids.length) parts.push(`${bids[i]![0]}:${bids[i]![1]}`);
      if (i < asks.length) parts.push(`${asks[i]![0]}:${asks[i]![1]}`);
    }
    return Bun.hash.crc32(parts.join(":")) | 0;
  }
}
