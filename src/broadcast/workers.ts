// The broadcaster with BROADCAST_WORKERS > 1, main thread's side: takes the port's guard, starts
// the fan-out workers (threads of this same executable, worker.ts) on the shared port, serves one
// /health, /ready and /metrics for all of them, drains them all on shutdown, and stops the
// process when one dies. The messages between the two sides are defined here.
import { Worker } from "node:worker_threads";
import { AggregatorRegistry } from "prom-client";
import { newRegistry, type Readiness, startHealthServer } from "../health/server.ts";
import { shutdown } from "../lifecycle.ts";
import { type Logger, log } from "../log.ts";
import type { BroadcastConfig } from "./config.ts";
import { BROADCAST_LABELS } from "./metrics.ts";

/** What a worker thread is told at start (its `workerData`). */
export interface WorkerSetup {
  readonly role: typeof WORKER_ROLE;
  /** 1..BROADCAST_WORKERS. */
  readonly worker: number;
  /** The port every worker binds: WEBSOCKET_PORT, or the one the first worker got for port 0. */
  readonly websocketPort: number;
}

export const WORKER_ROLE = "broadcast-fanout-worker";

/** What the main thread asks a worker; each answer carries the question's id. */
type WorkerQuestion = "readiness" | "metrics" | "info";

/** A worker's answer to "info": its part of /health. */
export interface WorkerInfo {
  readonly clients: number;
  readonly rings: number;
}

export type ToWorker =
  | { readonly type: "ask"; readonly id: number; readonly what: WorkerQuestion }
  | { readonly type: "drain"; readonly graceMs: number };

export type FromWorker =
  | { readonly type: "listening"; readonly port: number }
  | { readonly type: "failed"; readonly message: string }
  | { readonly type: "answer"; readonly id: number; readonly value: unknown }
  | { readonly type: "drained" };

/**
 * A worker that does not answer in this long counts as not ready (and /metrics fails): inside
 * the k8s readiness probe's 3 s, so /ready says which worker rather than the probe timing out.
 */
const ANSWER_TIMEOUT_MS = 2500;

class FanoutWorker {
  private readonly thread: Worker;
  private readonly pending = new Map<number, (value: unknown) => void>();
  private nextQuestion = 1;
  private onStarted: ((message: FromWorker) => void) | null = null;
  private onDrained: (() => void) | null = null;
  private exited = false;

  constructor(
    readonly id: number,
    websocketPort: number,
    onExit: (worker: FanoutWorker, code: number) => void,
    logger: Logger,
  ) {
    const setup: WorkerSetup = { role: WORKER_ROLE, worker: id, websocketPort };
    // Bun.main is this executable's entry (src/main.ts, or the compiled binary's): it sees
    // workerData and runs worker.ts instead of the command line.
    this.thread = new Worker(Bun.main, { workerData: setup });
    this.thread.on("message", (message: FromWorker) => this.received(message));
    this.thread.on("error", (error) => logger.error("broadcast worker failed", { worker: id, error }));
    this.thread.on("exit", (code) => {
      this.exited = true;
      this.onStarted?.({ type: "failed", message: `broadcast worker ${id} exited (${code}) before serving` });
      this.onDrained?.();
      onExit(this, code);
    });
  }

  /** Resolves with the port once the worker serves; rejects with its error if it cannot. */
  started(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.onStarted = (message) => {
        this.onStarted = null;
        if (message.type === "listening") resolve(message.port);
        else if (message.type === "failed") reject(new Error(message.message));
      };
    });
  }

  /** The worker's answer, or undefined when it has none within ANSWER_TIMEOUT_MS. */
  ask(what: WorkerQuestion): Promise<unknown> {
    const id = this.nextQuestion++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(undefined);
      }, ANSWER_TIMEOUT_MS);
      this.pending.set(id, (value) => {
        clearTimeout(timer);
        resolve(value);
      });
      this.send({ type: "ask", id, what });
    });
  }

  /** Closes the worker's clients (1001), waits for them (up to graceMs), and ends the thread. */
  async drain(graceMs: number): Promise<void> {
    if (this.exited) return;
    const drained = new Promise<void>((resolve) => {
      this.onDrained = resolve;
    });
    this.send({ type: "drain", graceMs });
    await drained;
    await this.thread.terminate();
  }

  terminate(): void {
    void this.thread.terminate();
  }

  private send(message: ToWorker): void {
    this.thread.postMessage(message);
  }

  private received(message: FromWorker): void {
    if (message.type === "answer") {
      this.pending.get(message.id)?.(message.value);
      this.pending.delete(message.id);
    } else if (message.type === "drained") {
      this.onDrained?.();
    } else {
      this.onStarted?.(message);
    }
  }
}

/**
 * Starts the workers, the first alone (it may be the one that learns a port-0 port), then the
 * others on its port, and the health server over them all.
 */
export async function startWorkers(config: BroadcastConfig): Promise<{ stop(): Promise<void> }> {
  const logger = log.child({ mode: "broadcast" });
  let stopping = false;
  const onExit = (worker: FanoutWorker, code: number) => {
    if (stopping) return;
    // Never serve on with fewer workers than configured: the supervisor restarts the process.
    logger.error("broadcast worker died; stopping the broadcaster", { worker: worker.id, code });
    void shutdown(`broadcast worker ${worker.id} died`, 1);
  };
  const workers: FanoutWorker[] = [];
  let guard = config.websocketPort === 0 ? null : takePortGuard(config.websocketPort);
  try {
    workers.push(new FanoutWorker(1, config.websocketPort, onExit, logger));
    const port = await workers[0]!.started();
    guard ??= takePortGuard(port);
    for (let id = 2; id <= config.workers; id++) workers.push(new FanoutWorker(id, port, onExit, logger));
    await Promise.all(workers.slice(1).map((worker) => worker.started()));
    const health = startHealthServer({
      port: config.metricsPort,
      hostname: config.hostname,
      registry: workersRegistry(workers),
      mode: "broadcast",
      readiness: () => workersReadiness(workers),
      info: () => workersInfo(workers),
    });
    logger.info("broadcasting", {
      dir: config.sharedMemoryPath,
      websocketPort: port,
      metricsPort: health.port,
      auth: config.token !== undefined,
      workers: workers.length,
    });
    const heldGuard = guard;
    return {
      async stop() {
        stopping = true;
        await Promise.all(workers.map((worker) => worker.drain(config.graceMs)));
        await health.stop();
        heldGuard.stop(true);
      },
    };
  } catch (error) {
    stopping = true;
    for (const worker of workers) worker.terminate();
    guard?.stop(true);
    throw error;
  }
}

/**
 * SO_REUSEPORT lets any process of this user join the port, so the workers' process first takes
 * an exclusive name for it: the abstract Unix socket "@alphapulse-broadcast-port-<port>". The
 * kernel refuses a second bind of the name, and frees it when the process ends, however it ends.
 * Abstract names live in the network namespace, like the port itself (a pod, a host). So a
 * second alphapulse broadcast with workers is refused here, and one without workers (or any
 * program not asking for SO_REUSEPORT) is refused by the kernel's bind.
 */
function takePortGuard(port: number) {
  const name = `alphapulse-broadcast-port-${port}`;
  try {
    return Bun.listen({ unix: `\0${name}`, socket: { data() {} } });
  } catch (error) {
    if ((error as { code?: unknown }).code !== "EADDRINUSE") throw error;
    throw new Error(
      `WEBSOCKET_PORT ${port} is already in use: another alphapulse broadcast serves it (it holds @${name})`,
    );
  }
}

/** /metrics: this thread's process metrics and every worker's, merged (counts add up). */
function workersRegistry(workers: readonly FanoutWorker[]) {
  const own = newRegistry(BROADCAST_LABELS);
  return {
    contentType: own.contentType,
    async metrics(): Promise<string> {
      const answers = await Promise.all(workers.map((worker) => worker.ask("metrics")));
      const missing = answers.indexOf(undefined);
      if (missing >= 0) throw new Error(`broadcast worker ${workers[missing]!.id} did not send its metrics`);
      const all = [await own.getMetricsAsJSON(), ...(answers as object[][])];
      return AggregatorRegistry.aggregate(all).metrics();
    },
  };
}

/** /ready: ready when every worker is; otherwise the first reason, naming its worker. */
async function workersReadiness(workers: readonly FanoutWorker[]): Promise<Readiness> {
  const answers = await Promise.all(workers.map((worker) => worker.ask("readiness")));
  for (const [index, answer] of answers.entries()) {
    const worker = workers[index]!.id;
    if (answer === undefined) return { ready: false, reason: `broadcast worker ${worker} does not answer` };
    const readiness = answer as Readiness;
    if (!readiness.ready)
      return { ...readiness, reason: `worker ${worker}: ${readiness.reason ?? "not ready"}` };
  }
  return answers[0] as Readiness;
}

/** /health: clients of all workers, rings as the workers see them (each follows every ring). */
async function workersInfo(workers: readonly FanoutWorker[]): Promise<Record<string, unknown>> {
  const answers = (await Promise.all(workers.map((worker) => worker.ask("info")))) as Array<
    WorkerInfo | undefined
  >;
  return {
    clients: answers.reduce((sum, info) => sum + (info?.clients ?? 0), 0),
    rings: Math.max(0, ...answers.map((info) => info?.rings ?? 0)),
    workers: workers.length,
  };
}
