// 64-bit fields as two 32-bit words. JS numbers hold integers exactly up to 2^53, which bounds
// every scaled price, size, sequence and id the rings carry; BigInt is kept off the hot path.

const TWO_32 = 4294967296;

/** Writes an integer (|value| < 2^53) as a little-endian i64 at 32-bit word `index`. */
export function writeI64(i32: Int32Array, index: number, value: number): void {
  // Most values (sequences, trade ids, many scaled prices and sizes) fit an i32: no division.
  const low = value | 0;
  if (low === value) {
    i32[index] = low;
    i32[index + 1] = low >> 31;
    return;
  }
  const hi = Math.floor(value / TWO_32);
  i32[index] = value - hi * TWO_32; // ToInt32 wraps the unsigned low word into place
  i32[index + 1] = hi;
}

/**
 * Reads a little-endian i64 at 32-bit word `index`; exact while |value| < 2^53. A value that fits
 * an i32 (high word = its sign) stays an integer: no int-to-double conversion, multiply and add.
 */
export function readI64(i32: Int32Array, index: number): number {
  const low = i32[index]!;
  const high = i32[index + 1]!;
  return high === low >> 31 ? low : high * TWO_32 + (low >>> 0);
}

/** Writes ASCII text NUL-padded into a fixed-size field; refuses what does not fit. */
export function writeAscii(bytes: Uint8Array, offset: number, width: number, text: string): void {
  if (text.length >= width || !/^[\x20-\x7e]*$/.test(text)) {
    throw new Error(`"${text}" must be printable ASCII shorter than ${width} bytes`);
  }
  bytes.fill(0, offset, offset + width);
  for (let i = 0; i < text.length; i++) bytes[offset + i] = text.charCodeAt(i);
}

export function readAscii(bytes: Uint8Array, offset: number, width: number): string {
  let end = offset;
  while (end < offset + width && bytes[end] !== 0) end++;
  return String.fromCharCode(...bytes.subarray(offset, end));
}
