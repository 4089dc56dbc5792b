// The few libc calls the shared-memory rings need, through bun:ffi: open/mmap a /dev/shm file,
// lock it for the single writer, read CLOCK_REALTIME, the one clock every process shares, let a
// reader wait between polls for less than a timer can (a kernel sleep, or a timerfd that the
// event loop waits on), and tell cheaply whether the rings' directory changed.
import { dlopen, FFIType, type Pointer, read, toArrayBuffer } from "bun:ffi";

const libc = dlopen("libc.so.6", {
  open: { args: [FFIType.cstring, FFIType.i32, FFIType.u32], returns: FFIType.i32 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
  ftruncate: { args: [FFIType.i32, FFIType.i64], returns: FFIType.i32 },
  fchmod: { args: [FFIType.i32, FFIType.u32], returns: FFIType.i32 },
  flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  mmap: {
    args: [FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.i32, FFIType.i32, FFIType.i64],
    returns: FFIType.ptr,
  },
  munmap: { args: [FFIType.ptr, FFIType.u64], returns: FFIType.i32 },
  madvise: { args: [FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i32 },
  clock_gettime: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  malloc: { args: [FFIType.u64], returns: FFIType.ptr },
  __errno_location: { args: [], returns: FFIType.ptr },
  strerror: { args: [FFIType.i32], returns: FFIType.cstring },
  usleep: { args: [FFIType.u32], returns: FFIType.i32 },
  timerfd_create: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  timerfd_settime: { args: [FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  statx: {
    args: [FFIType.i32, FFIType.cstring, FFIType.i32, FFIType.u32, FFIType.ptr],
    returns: FFIType.i32,
  },
}).symbols;

export const O_RDONLY = 0;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
const O_CLOEXEC = 0o2000000;
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const MADV_POPULATE_WRITE = 23;
const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = 11;
const CLOCK_REALTIME = 0;
const CLOCK_MONOTONIC = 1;
const TFD_NONBLOCK = 0o4000;

class SystemError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
    readonly path: string,
  ) {
    super(`${call}(${path}) failed: ${String(libc.strerror(errno))} (errno ${errno})`);
    this.name = "SystemError";
  }
}

function errno(): number {
  const location = libc.__errno_location();
  return location === null ? 0 : read.i32(location, 0);
}

function cString(text: string): Buffer {
  return Buffer.from(`${text}\0`, "utf8");
}

export function openFile(path: string, flags: number, mode = 0o600): number {
  const fd = libc.open(cString(path), flags | O_CLOEXEC, mode);
  if (fd < 0) throw new SystemError("open", errno(), path);
  return fd;
}

export function closeFile(fd: number): void {
  libc.close(fd);
}

export function setFileSize(fd: number, size: number, path: string): void {
  if (libc.ftruncate(fd, size) !== 0) throw new SystemError("ftruncate", errno(), path);
}

export function setFileMode(fd: number, mode: number, path: string): void {
  if (libc.fchmod(fd, mode) !== 0) throw new SystemError("fchmod", errno(), path);
}

/** Takes an exclusive advisory lock without waiting; false if another process holds it. */
export function tryLockExclusive(fd: number, path: string): boolean {
  if (libc.flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
  const code = errno();
  if (code === EWOULDBLOCK) return false;
  throw new SystemError("flock", code, path);
}

/** A MAP_SHARED mapping of a file; `buffer` is valid until `unmap`. */
export interface Mapping {
  readonly buffer: ArrayBuffer;
  readonly address: Pointer;
  readonly length: number;
}

/** Maps the first `length` bytes of the file; pages fault in on first touch. */
export function mapFile(fd: number, length: number, writable: boolean, path: string): Mapping {
  const prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
  const address: Pointer | bigint | null = libc.mmap(null, length, prot, MAP_SHARED, fd, 0);
  // MAP_FAILED is (void*)-1, which bun:ffi hands back as the bigint 2^64 - 1.
  if (address === null || typeof address === "bigint") throw new SystemError("mmap", errno(), path);
  return { buffer: toArrayBuffer(address, 0, length), address, length };
}

/**
 * Maps in `length` bytes of a writable mapping from `offset` (page aligned) as a first write
 * would, without writing: a tmpfs page never written is allocated and zeroed now
 * (MADV_POPULATE_WRITE, Linux 5.14). False when the kernel cannot, or on any error: the pages
 * then simply fault in on first touch.
 */
export function populateForWriting(mapping: Mapping, offset: number, length: number): boolean {
  return libc.madvise((mapping.address + offset) as Pointer, length, MADV_POPULATE_WRITE) === 0;
}

/** Unmaps; any later access to mapping.buffer would fault, so callers drop it first. */
export function unmap(mapping: Mapping): void {
  libc.munmap(mapping.address, mapping.length);
}

// The timespec lives in malloc'd memory, which never moves. A JS typed array's storage can move,
// and once the call is JIT-compiled a stale pointer froze the clock (seen in the shm bench).
// It is read back through a typed array over that same memory: half the cost of two
// read.u32 calls (about 25 ns a clock read instead of 55), and it stays live when JIT-hot.
const timespec = stableAllocation(16);
const timespecWords = new Uint32Array(toArrayBuffer(timespec, 0, 16));

function stableAllocation(bytes: number): Pointer {
  const address: Pointer | bigint | null = libc.malloc(bytes);
  if (address === null || typeof address === "bigint") throw new Error(`malloc(${bytes}) failed`);
  return address;
}

/**
 * Reads CLOCK_REALTIME into out[index] (seconds) and out[index + 1] (nanoseconds).
 * Seconds fit an unsigned 32-bit word until 2106; the pair is exact, unlike a double of ns.
 */
export function realtimeInto(out: Uint32Array, index: number): void {
  libc.clock_gettime(CLOCK_REALTIME, timespec);
  out[index] = timespecWords[0]!; // tv_sec's low word (little-endian)
  out[index + 1] = timespecWords[2]!; // tv_nsec
}

/** Blocks the calling thread for about `micros` (plus the kernel's timer slack, 50 us by default). */
export function sleepMicros(micros: number): void {
  libc.usleep(micros);
}

/**
 * A timerfd (CLOCK_MONOTONIC, non-blocking, close-on-exec), disarmed: readable once it expires,
 * so an event loop can wait on it like on a socket.
 */
export function openTimerFd(): number {
  const fd = libc.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw new SystemError("timerfd_create", errno(), "timerfd");
  return fd;
}

// The itimerspec is malloc'd for the same reason as the timespec above.
const itimerspec = stableAllocation(32);
const itimerspecWords = new BigInt64Array(toArrayBuffer(itimerspec, 0, 32));

/** Makes the timer expire once, `micros` from now (no interval); 0 disarms it. */
export function armTimerFd(fd: number, micros: number): void {
  const nanos = BigInt(Math.round(micros * 1000));
  const words = itimerspecWords;
  words[0] = 0n; // it_interval: none
  words[1] = 0n;
  words[2] = nanos / 1_000_000_000n; // it_value
  words[3] = nanos % 1_000_000_000n;
  if (libc.timerfd_settime(fd, 0, itimerspec, null) !== 0) {
    throw new SystemError("timerfd_settime", errno(), "timerfd");
  }
}

const AT_FDCWD = -100;
const STATX_MTIME = 0x40;
// struct statx is 256 bytes on every architecture; stx_mtime (i64 seconds, u32 nanoseconds) is
// at byte 112. Malloc'd for the same reason as the timespec above.
const statxBuffer = stableAllocation(256);
const statxWords = new Int32Array(toArrayBuffer(statxBuffer, 0, 256));

/**
 * A path's modification time, read with one statx call into a reused buffer: a few
 * microseconds and no garbage, where node:fs `statSync` costs 15 to 40 us on a cold path.
 */
export class ModificationTime {
  private readonly cPath: Buffer;

  constructor(readonly path: string) {
    this.cPath = cString(path);
  }

  /** Milliseconds since the epoch, the nanoseconds as its fraction; throws when statx fails. */
  read(): number {
    if (libc.statx(AT_FDCWD, this.cPath, 0, STATX_MTIME, statxBuffer) !== 0) {
      throw new SystemError("statx", errno(), this.path);
    }
    const seconds = statxWords[29]! * 2 ** 32 + (statxWords[28]! >>> 0);
    return seconds * 1000 + (statxWords[30]! >>> 0) / 1e6;
  }
}
