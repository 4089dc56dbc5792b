// The one polling wait of the tests and benchmarks: processes and servers here start, sync and
// drain at their own pace, so a test waits for what it needs to see, never for a fixed time.

export interface WaitOptions {
  /** Give up after this long (default 20 s: generous on a loaded 2-core machine, yet under the
   * tests' own timeouts, so a failed wait names what it waited for). */
  readonly timeoutMs?: number;
  /** Time between probes (default 10 ms; probes that make HTTP requests pass more). */
  readonly intervalMs?: number;
}

/**
 * Polls `probe` until it returns something other than false or undefined and resolves with that.
 * An error the probe throws ends the wait at once (a probe fails early that way, e.g. when the
 * process it waits for has exited); after the timeout the error names `what`.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | Promise<T>,
  options: WaitOptions = {},
): Promise<Exclude<T, false | undefined>> {
  const { timeoutMs = 20_000, intervalMs = 10 } = options;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== false && value !== undefined) return value as Exclude<T, false | undefined>;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(intervalMs);
  }
}

/** The status of a GET, or 0 when nothing answers (connection refused, timeout). */
export async function httpStatus(url: string): Promise<number> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}
