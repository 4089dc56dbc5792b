// Clean stops. Bun as PID 1 ignores SIGTERM unless the program handles it, so every mode
// registers its shutdown steps here; SIGTERM or SIGINT runs them in order within a grace period.
import { log } from "./log.ts";

type Step = { name: string; run: () => void | Promise<void> };
const steps: Step[] = [];
let stopping: Promise<void> | null = null;

/** Adds a shutdown step; steps run in the order they were added. */
export function onShutdown(name: string, run: () => void | Promise<void>): void {
  steps.push({ name, run });
}

export function shutdownRequested(): boolean {
  return stopping !== null;
}

/** Runs every step once, bounded by graceMs, then exits with `code`. */
export function shutdown(
  reason: string,
  code = 0,
  graceMs = Number(process.env.SHUTDOWN_GRACE_MS ?? 10_000),
) {
  stopping ??= (async () => {
    log.info("shutting down", { reason, graceMs });
    const timer = setTimeout(() => {
      log.error("shutdown grace period ran out; exiting", { graceMs });
      process.exit(code === 0 ? 1 : code);
    }, graceMs);
    for (const step of steps) {
      try {
        await step.run();
      } catch (error) {
        log.error("shutdown step failed", { step: step.name, error });
      }
    }
    clearTimeout(timer);
    log.info("stopped", { reason });
    process.exit(code);
  })();
  return stopping;
}

export function installSignalHandlers(): void {
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}
