// Exact decimals as scaled integers: "45283.5" at 8 decimals is 4528350000000.
// Every price and size in AlphaPulse travels this way; a value that cannot be held exactly
// (too many significant decimals, or beyond 2^53 once scaled) is refused, never rounded.

const POW10: readonly number[] = Array.from({ length: 19 }, (_, i) => 10 ** i);

/** Why a decimal text was refused. */
export type DecimalError = "syntax" | "precision" | "range";

export class DecimalParseError extends Error {
  constructor(
    readonly reason: DecimalError,
    readonly text: string,
    readonly decimals: number,
  ) {
    super(`cannot hold "${text}" exactly at ${decimals} decimals (${reason})`);
    this.name = "DecimalParseError";
  }
}

/**
 * Parses decimal text ("123.4500", "-0.1", "1e-5") into an integer scaled by 10^decimals.
 * Digits past `decimals` must be zeros. Throws DecimalParseError otherwise.
 */
export function parseScaled(text: string, decimals: number): number {
  return parseScaledAt(text, 0, text.length, decimals);
}

/**
 * parseScaled over text[start, end) without cutting it out first: hot parsers read numbers in
 * place (a substring per number cost more than the parse). Errors name the cut-out text.
 * The plain form ([+-]digits[.digits], no excess non-zero decimal, in range) is read by two
 * tight loops; anything else goes to the general reader, which decides (about 35 ns less a
 * number on the collector's hot path).
 */
export function parseScaledAt(source: string, start: number, end: number, decimals: number): number {
  let i = start;
  let c = source.charCodeAt(i);
  const negative = c === 45; /* - */
  if (negative || c === 43 /* + */) c = source.charCodeAt(++i);
  let value = 0;
  const intAt = i;
  while (i < end && c >= 48 && c <= 57) {
    value = value * 10 + (c - 48);
    c = source.charCodeAt(++i);
  }
  let digits = i - intAt;
  let fracDigits = 0;
  if (i < end && c === 46 /* . */) {
    c = source.charCodeAt(++i);
    const fracAt = i;
    const keptEnd = Math.min(end, i + decimals);
    while (i < keptEnd && c >= 48 && c <= 57) {
      value = value * 10 + (c - 48);
      c = source.charCodeAt(++i);
    }
    fracDigits = i - fracAt;
    while (i < end && c === 48) c = source.charCodeAt(++i);
    digits += i - fracAt;
  }
  if (i !== end || digits === 0) return parseScaledGeneral(source, start, end, decimals);
  const scaled = value * POW10[decimals - fracDigits]!;
  if (!Number.isSafeInteger(scaled) || !Number.isSafeInteger(value)) {
    return parseScaledGeneral(source, start, end, decimals);
  }
  return negative ? -scaled : scaled;
}

function parseScaledGeneral(source: string, start: number, end: number, decimals: number): number {
  const n = end;
  let i = start;
  let negative = false;
  if (n <= start) throw new DecimalParseError("syntax", source.slice(start, end), decimals);
  let c = source.charCodeAt(start);
  if (c === 45 /* - */) {
    negative = true;
    i = start + 1;
  } else if (c === 43 /* + */) {
    i = start + 1;
  }
  let intPart = 0;
  let fracDigits = 0;
  let digits = 0;
  let seenDot = false;
  let extraNonZero = false;
  for (; i < n; i++) {
    c = source.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      digits++;
      if (seenDot) {
        if (fracDigits < decimals) {
          intPart = intPart * 10 + (c - 48);
          fracDigits++;
        } else if (c !== 48) {
          extraNonZero = true;
        }
      } else {
        intPart = intPart * 10 + (c - 48);
      }
    } else if (c === 46 /* . */ && !seenDot) {
      seenDot = true;
    } else if ((c === 101 || c === 69) /* e E */ && digits > 0) {
      return parseWithExponent(source.slice(start, end), decimals);
    } else {
      throw new DecimalParseError("syntax", source.slice(start, end), decimals);
    }
  }
  if (digits === 0) throw new DecimalParseError("syntax", source.slice(start, end), decimals);
  if (extraNonZero) throw new DecimalParseError("precision", source.slice(start, end), decimals);
  const scaled = intPart * POW10[decimals - fracDigits]!;
  if (!Number.isSafeInteger(scaled) || !Number.isSafeInteger(intPart)) {
    throw new DecimalParseError("range", source.slice(start, end), decimals);
  }
  return negative ? -scaled : scaled;
}

/** Slow path for exponent notation, done on exact digit strings. */
function parseWithExponent(text: string, decimals: number): number {
  const match = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!match) throw new DecimalParseError("syntax", text, decimals);
  const [, sign, whole = "", frac = "", exp = "0"] = match;
  // Shift the decimal point: all digits, with the point after `whole.length + exp` digits.
  const allDigits = whole + frac;
  const point = whole.length + Number(exp) + decimals;
  let integerDigits: string;
  if (point <= 0) {
    integerDigits = "0";
    if (/[1-9]/.test(allDigits)) throw new DecimalParseError("precision", text, decimals);
  } else if (point >= allDigits.length) {
    integerDigits = allDigits + "0".repeat(point - allDigits.length);
  } else {
    if (/[1-9]/.test(allDigits.slice(point))) throw new DecimalParseError("precision", text, decimals);
    integerDigits = allDigits.slice(0, point);
  }
  const value = Number(integerDigits);
  if (!Number.isSafeInteger(value)) throw new DecimalParseError("range", text, decimals);
  return sign === "-" && value !== 0 ? -value : value;
}

/** Formats a scaled integer back to fixed-point text with exactly `decimals` decimals. */
export function formatScaled(value: number, decimals: number): string {
  const negative = value < 0;
  const digits = String(negative ? -value : value);
  if (decimals === 0) return negative ? `-${digits}` : digits;
  const padded = digits.length <= decimals ? "0".repeat(decimals - digits.length + 1) + digits : digits;
  const cut = padded.length - decimals;
  const text = `${padded.slice(0, cut)}.${padded.slice(cut)}`;
  return negative ? `-${text}` : text;
}

/**
 * Formats without trailing zeros ("45283.50000000" -> "45283.5"): the compact form for clients.
 * Built from the whole and fractional parts as numbers, on every message the broadcaster sends:
 * two number-to-text conversions and one concatenation, where cutting formatScaled's text
 * made five strings.
 */
export function formatScaledTrimmed(value: number, decimals: number): string {
  if (decimals === 0) return String(value);
  const negative = value < 0;
  const magnitude = negative ? -value : value;
  const scale = POW10[decimals]!;
  // Exact below 2^53: a quotient r/scale short of the next integer (r >= 1) is further from it
  // than half the spacing of doubles there (under 1/scale), so it never rounds up to it.
  const whole = Math.floor(magnitude / scale);
  let fraction = magnitude - whole * scale;
  const sign = negative ? "-" : "";
  if (fraction === 0) return `${sign}${whole}`;
  let digits = decimals;
  while (fraction % 10 === 0) {
    fraction /= 10;
    digits--;
  }
  const fractionText = String(fraction);
  return `${sign}${whole}.${ZERO_RUNS[digits - fractionText.length]}${fractionText}`;
}

/** "", "0", "00", ...: the zeros after the point that a fraction's own digits do not show. */
const ZERO_RUNS: readonly string[] = POW10.map((_, length) => "0".repeat(length));

/** Number of decimals a tick or step size such as "0.00010000" implies (4 here). */
export function decimalsOfIncrement(increment: string): number {
  const dot = increment.indexOf(".");
  if (dot < 0) return 0;
  let end = increment.length;
  while (end > dot + 1 && increment.charCodeAt(end - 1) === 48) end--;
  return end - dot - 1;
}
