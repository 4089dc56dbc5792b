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

/** Runs of zero bytes below 64 take one table step, runs below 4096 two. */
const STEP = 64;

/**
 * Rows of 1024 entries: row n (n < 64) for a run of n zero bytes, row 64 + m for a run of 64 * m.
 * Entry (k * 256 + v) is the register after feeding the run to a register holding only byte v
 * at byte position k (XOR the four for a whole register).
 */
const ZEROS = new Int32Array(2 * STEP * 1024);
for (let k = 0; k < 4; k++) for (let v = 0; v < 256; v++) ZEROS[k * 256 + v] = v << (8 * k);
for (let length = 1; length < STEP; length++) {
  for (let i = 0; i < 1024; i++) {
    const r = ZEROS[(length - 1) * 1024 + i]!;
    ZEROS[length * 1024 + i] = CRC_TABLE[r & 0xff]! ^ (r >>> 8);
  }
}
// Row 64 + 0 is the empty run; row 64 + 1 is row 63 and one byte more; row 64 + m is row
// 64 + (m - 1) and 64 bytes more.
ZEROS.copyWithin(STEP * 1024, 0, 1024);
for (let i = 0; i < 1024; i++) {
  const r = ZEROS[(STEP - 1) * 1024 + i]!;
  ZEROS[(STEP + 1) * 1024 + i] = CRC_TABLE[r & 0xff]! ^ (r >>> 8);
}
for (let m = 2; m < STEP; m++) {
  for (let i = 0; i < 1024; i++)
    ZEROS[(STEP + m) * 1024 + i] = zeros(ZEROS[(STEP + m - 1) * 1024 + i]!, STEP + 1);
}

/** The register after the run of zero bytes whose ZEROS row is `row`. */
function zeros(register: number, row: number): number {
  const at = row << 10;
  return (
    ZEROS[at + (register & 0xff)]! ^
    ZEROS[at + 256 + ((register >>> 8) & 0xff)]! ^
    ZEROS[at + 512 + ((register >>> 16) & 0xff)]! ^
    ZEROS[at + 768 + (register >>> 24)]!
  );
}

/** Feeds one byte to the register. */
export function crcByte(register: number, byte: number): number {
  return CRC_TABLE[(register ^ byte) & 0xff]! ^ (register >>> 8);
}

/** The register after feeding `length` zero bytes. */
export function crcAdvance(register: number, length: number): number {
  if (length < STEP) return zeros(register, length);
  let r = zeros(register, length & (STEP - 1));
  let rest = length >>> 6;
  // Runs of 4096 and more (longer than any checksum text so far) take a step per 4032.
  while (rest >= STEP) {
    r = zeros(r, 2 * STEP - 1);
    rest -= STEP - 1;
  }
  return zeros(r, STEP + rest);
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
