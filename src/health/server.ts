// The operator's endpoints every mode serves on METRICS_PORT: /health (the process works),
// /ready (it can do its job now, else 503 with the reason) and /metrics (Prometheus text).
import { Gauge, Registry } from "prom-client";

export interface Readiness {
  readonly ready: boolean;
  /** Why not ready, for people: "kraken BTC-USD book invalid (checksum mismatch)". */
  readonly reason?: string;
  readonly detail?: unknown;
}

export interface HealthServerOptions {
  readonly port: number;
  readonly hostname?: string;
  /** What /metrics serves: a registry, or one that gathers several (a broadcaster's workers). */
  readonly registry: Pick<Registry, "metrics" | "contentType">;
  readonly mode: string;
  readonly readiness: () => Readiness | Promise<Readiness>;
  /** Extra JSON for /health (versions, ring generation...). */
  readonly info?: () => Record<string, unknown> | Promise<Record<string, unknown>>;
}

export interface HealthServer {
  readonly port: number;
  stop(): Promise<void>;
}

const JSON_HEADERS = { "content-type": "application/json" };

export function startHealthServer(options: HealthServerOptions): HealthServer {
  const started = Date.now();
  let stopping = false;
  const server = Bun.serve({
    port: options.port,
    hostname: options.hostname ?? "0.0.0.0",
    async fetch(request) {
      const path = new URL(request.url).pathname;
      if (request.method !== "GET" && request.method !== "HEAD") {
        return Response.json({ error: "method not allowed" }, { status: 405 });
      }
      switch (path) {
        case "/health":
          return Response.json({
            status: stopping ? "stopping" : "ok",
            mode: options.mode,
            uptimeSeconds: (Date.now() - started) / 1000,
            ...(await options.info?.()),
          });
        case "/ready": {
          const readiness = stopping ? { ready: false, reason: "shutting down" } : await options.readiness();
          return new Response(JSON.stringify(readiness), {
            status: readiness.ready ? 200 : 503,
            headers: JSON_HEADERS,
          });
        }
        case "/metrics":
          return new Response(await options.registry.metrics(), {
            headers: { "content-type": options.registry.contentType },
          });
        default:
          return Response.json({ error: `no route ${path}` }, { status: 404 });
      }
    },
  });
  return {
    port: server.port ?? options.port,
    async stop() {
      stopping = true;
      await server.stop(true);
    },
  };
}

/**
 * A registry with the process metrics the alerts use (memory, CPU), without the costly heap
 * gauges. Every thread of a process reads the same process-wide figures, so where threads'
 * registries are merged (a broadcaster's workers) these take the largest, not the sum.
 */
export function newRegistry(labels: Record<string, string>): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  const registers = [registry];
  new Gauge({
    name: "alphapulse_process_resident_memory_bytes",
    help: "Resident set size of this process",
    registers,
    aggregator: "max",
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Gauge({
    name: "alphapulse_process_cpu_seconds",
    help: "User plus system CPU time this process has used",
    registers,
    aggregator: "max",
    collect() {
      const usage = process.cpuUsage();
      this.set((usage.user + usage.system) / 1e6);
    },
  });
  return registry;
}
