// The libc calls behind the rings that no ring test reaches directly: a path's modification
// time through statx, against node:fs, and its refusal of a path that is not there.
import { expect, test } from "bun:test";
import { mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { ModificationTime } from "../src/shm/libc.ts";

test("ModificationTime reads the mtime node:fs reads, and moves when the directory changes", async () => {
  const dir = `/dev/shm/ap-test-libc-${process.pid}`;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  try {
    const mtime = new ModificationTime(dir);
    const before = mtime.read();
    expect(before).toBe(statSync(dir).mtimeMs);
    await Bun.sleep(20); // past the file system's timestamp tick
    writeFileSync(`${dir}/a.ring`, "x");
    expect(mtime.read()).toBeGreaterThan(before);
    expect(mtime.read()).toBe(statSync(dir).mtimeMs);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("ModificationTime of a missing path throws, naming the call, the path and the error", () => {
  expect(() => new ModificationTime("/dev/shm/ap-test-libc-missing/x").read()).toThrow(
    "statx(/dev/shm/ap-test-libc-missing/x) failed: No such file or directory (errno 2)",
  );
});
