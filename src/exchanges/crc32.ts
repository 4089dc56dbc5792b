// zlib's CRC-32 as the venues' book checksums use it, without building the checksum text: one
// byte per table step, the register after feeding zero bytes (CRC is linear, so feeding a text T
// to register r gives crcAdvance(r, |T|) ^ the CRC of T fed to a zero register, which lets a
// checksum reuse the CRCs of the parts of its text it computed before), and the decimal digits
// of a scaled integer, which is how a price or size reaches the CRC.

/** zlib's CRC-32 (reflected polynomial 0xEDB88320), one byte per step. */
const CRC_TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC_TABLE[n] = c;
}

/**
 * Rows for runs of 0 to 1023 zero bytes (longer runs take several). Row n, entry (k * 16 + v):
 * the register after feeding n zero bytes to a register holding only nibble v at nibble
 * position k; XOR the eight for a whole register. A row is 8 cache lines, one per nibble
 * position, so the few lengths a checksum uses stay in the first-level cache between frames
 * even when the rest of the ingest path has run in between (rows of bytes would be 4 KB each).
 */
const ROWS = 1024;
const ZEROS = new Int32Array(ROWS * 128);
for (let k = 0; k < 8; k++) for (let v = 0; v < 16; v++) ZEROS[k * 16 + v] = v << (4 * k);
for (let length = 1; length < ROWS; length++) {
  for (let i = 0; i < 128; i++) {
    const r = ZEROS[(length - 1) * 128 + i]!;
    ZEROS[length * 128 + i] = CRC_TABLE[r & 0xff]! ^ (r >>> 8);
  }
}

/** The register after a run of `length` (below ROWS) zero bytes. */
function zeros(register: number, length: number): number {
  const at = length << 7;
  return (
    ZEROS[at + (register & 15)]! ^
    ZEROS[at + 16 + ((register >>> 4) & 15)]! ^
    ZEROS[at + 32 + ((register >>> 8) & 15)]! ^
    ZEROS[at + 48 + ((register >>> 12) & 15)]! ^
    ZEROS[at + 64 + ((register >>> 16) & 15)]! ^
    ZEROS[at + 80 + ((register >>> 20) & 15)]! ^
    ZEROS[at + 96 + ((register >>> 24) & 15)]! ^
    ZEROS[at + 112 + (register >>> 28)]!
  );
}

/** Feeds one byte to the register. */
export function crcByte(register: number, byte: number): number {
  return CRC_TABLE[(register ^ byte) & 0xff]! ^ (register >>> 8);
}

/** The register after feeding `length` zero bytes. */
export function crcAdvance(register: number, length: number): number {
  let r = register;
  let rest = length;
  // Runs of 1024 and more (longer than any checksum text so far) take a step per 1023.
  while (rest >= ROWS) {
    r = zeros(r, ROWS - 1);
    rest -= ROWS - 1;
  }
  return zeros(r, rest);
}

/**
 * Writes the decimal digits of a non-negative integer below 2^53 into `out`, least significant
 * first (at least one: 0 gives "0"); returns how many.
 */
export function digitsOf(value: number, out: Uint8Array): number {
  let count = 0;
  let rest = value;
  // Above 2^31 the digits come from float division; below it, from cheaper int32 division.
  while (rest >= 0x80000000) {
    const next = Math.floor(rest / 10);
    out[count++] = rest - next * 10;
    rest = next;
  }
  let small = rest | 0;
  do {
    const next = (small / 10) | 0;
    out[count++] = small - next * 10;
    small = next;
  } while (small > 0);
  return count;
}
