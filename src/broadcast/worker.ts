// One fan-out worker thread of a broadcaster with BROADCAST_WORKERS > 1 (workers.ts starts
// them): its own ring hub over the same rings (mapped read-only, as every reader does) and its
// own server on the shared port, serving the connections the kernel gives it. It answers the
// main thread's questions (readiness, metrics, its clients and rings) and drains when told.
import { parentPort, workerData } from "node:worker_threads";
import { readProcessConfig, Settings } from "../config.ts";
import { newRegistry } from "../health/server.ts";
import { log } from "../log.ts";
import { readBroadcastConfig } from "./config.ts";
import { type Fanout, startFanout } from "./main.ts";
import { BROADCAST_LABELS } from "./metrics.ts";
import { type FromWorker, type ToWorker, WORKER_ROLE, type WorkerInfo, type WorkerSetup } from "./workers.ts";

/** Whether this thread was started as a fan-out worker (src/main.ts asks before anything else). */
export function isFanoutWorker(): boolean {
  return (workerData as Partial<WorkerSetup> | null)?.role === WORKER_ROLE;
}

export function runFanoutWorker(): void {
  const port = parentPort!;
  const send = (message: FromWorker) => port.postMessage(message);
  const { worker, websocketPort } = workerData as WorkerSetup;
  // The main thread validated the same environment before starting this thread.
  log.setLevel(readProcessConfig(new Settings(process.env)).logLevel);
  const config = { ...readBroadcastConfig(process.env), websocketPort };
  const logger = log.child({ mode: "broadcast", worker });
  const registry = newRegistry(BROADCAST_LABELS);
  let fanout: Fanout;
  try {
    fanout = startFanout(config, registry, logger, worker);
  } catch (error) {
    send({ type: "failed", message: error instanceof Error ? error.message : String(error) });
    port.close();
    return;
  }
  const { hub, server } = fanout;
  port.on("message", async (message: ToWorker) => {
    if (message.type === "drain") {
      await server.drain(message.graceMs);
      send({ type: "drained" });
      return;
    }
    const value =
      message.what === "readiness"
        ? hub.freshness()
        : message.what === "info"
          ? ({ clients: server.clientCount(), rings: hub.followers.size } satisfies WorkerInfo)
          : await registry.getMetricsAsJSON();
    send({ type: "answer", id: message.id, value });
  });
  logger.debug("fan-out worker serving", { websocketPort: server.port });
  send({ type: "listening", port: server.port });
}
