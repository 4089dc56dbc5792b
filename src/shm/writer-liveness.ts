// What a reader can tell about a ring's writer besides its heartbeat: whether its process is
// still there. The header's pid names the writer only in the writer's own PID namespace (from
// another it may name nothing, or some other process), so the pid decides only once the
// heartbeat has stopped as well: a writer that beats is alive wherever it runs.

/** How long the heartbeat must have stopped (ten beats) before a missing process means the writer is gone. */
const WRITER_GONE_AFTER_MS = 1000;

/** True when the writer is gone: no heartbeat for WRITER_GONE_AFTER_MS and no process `pid` here. */
export function writerGone(pid: number, heartbeatAgeMs: number): boolean {
  if (pid <= 0 || heartbeatAgeMs < WRITER_GONE_AFTER_MS) return false;
  try {
    process.kill(pid, 0); // signal 0: only asks whether the process exists
    return false;
  } catch (error) {
    // EPERM means a process of another user has that pid; only ESRCH says there is none.
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}
