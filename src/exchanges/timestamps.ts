// Venue timestamps to the ring's (seconds, nanoseconds) pairs, exactly: RFC3339 text (Kraken,
// Coinbase, down to nanoseconds) and integer epoch milliseconds (Binance).

/**
 * Writes seconds and nanoseconds of an RFC3339 UTC time ("2023-10-06T17:35:55.440295Z") into
 * out[0..1]; false if it is not one. Reads text[start, end) in place (a frame's field).
 */
export function rfc3339Into(text: string, out: Uint32Array, start = 0, end = text.length): boolean {
  if (end - start < 20 || text.charCodeAt(start + 4) !== 45 || text.charCodeAt(start + 10) !== 84)
    return false;
  const year = digits(text, start, 4);
  const month = digits(text, start + 5, 2);
  const day = digits(text, start + 8, 2);
  const hour = digits(text, start + 11, 2);
  const minute = digits(text, start + 14, 2);
  const second = digits(text, start + 17, 2);
  if (year < 0 || month < 1 || day < 1 || hour < 0 || minute < 0 || second < 0) return false;
  let nsec = 0;
  let at = start + 19;
  if (text.charCodeAt(at) === 46 /* . */) {
    at++;
    let scale = 100_000_000;
    for (let c = text.charCodeAt(at); at < end && c >= 48 && c <= 57; c = text.charCodeAt(++at)) {
      nsec += (c - 48) * scale;
      scale = scale / 10;
    }
    nsec = Math.floor(nsec);
  }
  const utc = (at + 1 === end && text.charCodeAt(at) === 90) /* Z */ || text.slice(at, end) === "+00:00";
  if (!utc) return false;
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
