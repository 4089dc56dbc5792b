// Venue timestamps to the ring's (seconds, nanoseconds) pairs, exactly: RFC3339 text (Kraken,
// Coinbase, down to nanoseconds) and integer epoch milliseconds (Binance).

/** Writes seconds and nanoseconds of an RFC3339 UTC time ("2023-10-06T17:35:55.440295Z") into out[0..1]; false if it is not one. */
export function rfc3339Into(text: string, out: Uint32Array): boolean {
  if (text.length < 20 || text.charCodeAt(4) !== 45 || text.charCodeAt(10) !== 84) return false;
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hour = digits(text, 11, 2);
  const minute = digits(text, 14, 2);
  const second = digits(text, 17, 2);
  if (year < 0 || month < 1 || day < 1 || hour < 0 || minute < 0 || second < 0) return false;
  let nsec = 0;
  let at = 19;
  if (text.charCodeAt(at) === 46 /* . */) {
    at++;
    let scale = 100_000_000;
    for (let c = text.charCodeAt(at); c >= 48 && c <= 57; c = text.charCodeAt(++at)) {
      nsec += (c - 48) * scale;
      scale = scale / 10;
    }
    nsec = Math.floor(nsec);
  }
  if (text.charCodeAt(at) !== 90 /* Z */ && text.slice(at) !== "+00:00") return false;
  out[0] = Date.UTC(year, month - 1, day, hour, minute, second) / 1000;
  out[1] = nsec;
  return true;
}

/** Writes seconds and nanoseconds of epoch milliseconds into out[0..1]. */
export function epochMillisInto(ms: number, out: Uint32Array): void {
  const sec = Math.floor(ms / 1000);
  out[0] = sec;
  out[1] = (ms - sec * 1000) * 1_000_000;
}

function digits(text: string, from: number, count: number): number {
  let value = 0;
  for (let i = from; i < from + count; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    value = value * 10 + (c - 48);
  }
  return value;
}
