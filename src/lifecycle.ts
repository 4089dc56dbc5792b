// Clean stops. Bun as PID 1 ignores SIGTERM unless the program handles it, so every mode
// registers its shutdown steps here; SIGTERM or SIGINT runs them in order within a grace period
// (SHUTDOWN_GRACE_MS, validated with the process settings in src/main.ts).
import { DEFAULT_SHUTDOWN_GRACE_MS } from "./config.ts";
import { log } from "./log.ts";

type Step = { name: string; run: () => void | Promise<void> };
const steps: Step[] = [];
let stopping: Promise<void> | null = null;
let graceMs = DEFAULT_SHUTDOWN_GRACE_MS;

/** Adds a shutdown step; steps run in the order they were added. */
export function onShutdown(name: string, run: () => void | Promise<void>): void {
  steps.push({ name, run });
}

export function shutdownRequested(): boolean {
  return stopping !== null;
}

/** Runs every step once, bounded by the grace period, then exits with `code`. */
export function shutdown(reason: string, code = 0) {
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

/** SIGTERM and SIGINT stop the process cleanly, its steps taking at most `shutdownGraceMs`. */
export function installSignalHandlers(shutdownGraceMs: number): void {
  graceMs = shutdownGraceMs;
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}
