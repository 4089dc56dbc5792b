// Monitoring against the real thing: the alert rules and the dashboard name only metrics that a
// real scrape of a collector (on the simulator) and a broadcaster exports, and each of those
// scrapes passes `promtool check metrics`; a real Prometheus on loopback, running
// monitoring/prometheus.yml with the pod labels Kubernetes discovery would give, sorts the
// targets into their jobs, evaluates every dashboard query, and fires CollectorDown when a
// collector is killed. Also: the memory alert's thresholds are the manifests' limits.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { SIMULATED_VENUES } from "../src/exchanges/simulators.ts";
import type { ModeProcess } from "./support/mode-process.ts";
import { NatsCluster } from "./support/nats.ts";
import { type K8sObject, renderOverlay } from "./support/ops-manifests.ts";
import { REPO_ROOT } from "./support/ops-source-settings.ts";
import { OpsStack } from "./support/ops-stack.ts";
import { type LoopbackPrometheus, startPrometheus } from "./support/prometheus.ts";
import { waitFor } from "./support/wait.ts";

const MONITORING = path.join(REPO_ROOT, "monitoring");
/** promtool lint findings we accept: the HighLatency alert names this gauge in microseconds. */
const ACCEPTED_LINT = ['alphapulse_shared_memory_latency_microseconds use base unit "seconds"'];
/** Prometheus scrapes and evaluates every second here: polling faster only adds load. */
const PROMETHEUS_POLL = { timeoutMs: 60_000, intervalMs: 200 };
const JOBS = { collect: "alphapulse-collectors", broadcast: "alphapulse-websocket-server" } as const;

type Rule = { alert: string; expr: string };
const rules = (
  Bun.YAML.parse(readFileSync(path.join(MONITORING, "alert_rules.yml"), "utf8")) as {
    groups: { rules: Rule[] }[];
  }
).groups.flatMap((group) => group.rules);
type Panel = { title: string; targets?: { expr: string }[] };
const dashboard = JSON.parse(readFileSync(path.join(MONITORING, "grafana/alphapulse.json"), "utf8")) as {
  panels: Panel[];
};
const dashboardExprs = dashboard.panels.flatMap((panel) =>
  (panel.targets ?? []).map((target) => target.expr),
);

/** Metric names in a PromQL expression, each with the job its selector pins, if any. */
function metricsIn(expr: string): { name: string; job?: string }[] {
  const found: { name: string; job?: string }[] = [];
  for (const match of expr.matchAll(/\b(alphapulse_[a-z0-9_]+)(\{[^}]*\})?/g)) {
    const job = /job="([^"]+)"/.exec(match[2] ?? "")?.[1];
    // A histogram's series are <name>_bucket/_sum/_count; /metrics declares the family <name>.
    const name = match[1]!.replace(/_(bucket|sum|count)$/, "");
    found.push(job === undefined ? { name } : { name, job });
  }
  return found;
}

/** Families a /metrics text declares (its # TYPE lines). */
function families(text: string): Set<string> {
  return new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1]!));
}

function deployment(objects: K8sObject[]) {
  return objects.find((object) => object.kind === "Deployment") as K8sObject & {
    spec: {
      template: {
        spec: {
          containers: {
            name: string;
            ports?: { name: string; containerPort: number }[];
            resources: { limits: { memory: string } };
          }[];
        };
      };
    };
  };
}

describe("monitoring agrees with the manifests", () => {
  const pod = deployment(renderOverlay("single-node")).spec.template.spec;

  test("HighMemoryUsage fires at 90% of each job's container memory limit", () => {
    const memoryRule = rules.find((rule) => rule.alert === "HighMemoryUsage")!;
    const thresholds = Object.fromEntries(
      [...memoryRule.expr.matchAll(/job="([^"]+)"\}\s*>\s*0\.9 \* (\d+) \* 1024 \* 1024/g)].map((m) => [
        m[1]!,
        `${m[2]}Mi`,
      ]),
    );
    const limitOf = (name: string) => pod.containers.find((c) => c.name === name)!.resources.limits.memory;
    expect(thresholds).toEqual({
      [JOBS.collect]: limitOf("kraken-collector"),
      [JOBS.broadcast]: limitOf("broadcaster"),
    });
    // The fabric's collectors have the single-node collectors' limit, so one threshold fits both.
    const fabricCollector = renderOverlay("fabric").find(
      (object) => object.kind === "Deployment" && object.metadata.name === "alphapulse-collector-kraken",
    )!;
    expect(
      deployment([fabricCollector]).spec.template.spec.containers.find((c) => c.name === "collector")!
        .resources,
    ).toMatchObject({ limits: { memory: thresholds[JOBS.collect] } });
  }, 60_000);

  test("Prometheus discovers the namespaces the overlays deploy to", () => {
    const config = Bun.YAML.parse(readFileSync(path.join(MONITORING, "prometheus.yml"), "utf8")) as {
      scrape_configs: { kubernetes_sd_configs: { namespaces: { names: string[] } }[] }[];
    };
    const namespaces = ["staging", "production"].map(
      (overlay) => renderOverlay(overlay).find((object) => object.kind === "Namespace")!.metadata.name,
    );
    for (const job of config.scrape_configs) {
      expect(job.kubernetes_sd_configs[0]!.namespaces.names.sort()).toEqual(namespaces.sort());
    }
  }, 60_000);
});

describe("monitoring against a live collector, broadcaster and Prometheus", () => {
  const stack = new OpsStack("prometheus");
  const prometheusDir = mkdtempSync(path.join(tmpdir(), "ap-test-ops-prometheus-"));
  let prometheus: LoopbackPrometheus | null = null;
  let prometheusUrl = "";
  let kraken: ModeProcess;
  const scrapes: Record<keyof typeof JOBS, string> = { collect: "", broadcast: "" };
  let fabricScrape = "";
  let nats: NatsCluster | null = null;
  const pod = deployment(renderOverlay("single-node")).spec.template.spec;
  /** Each container's metrics port here, by its name in the pod. */
  const local: Record<string, number> = {};
  let websocketPort = 0;

  beforeAll(async () => {
    for (const tool of ["prometheus", "promtool"]) {
      if (Bun.which(tool) === null) throw new Error(`${tool} is missing: apt-get install prometheus`);
    }
    await stack.startSimulator();
    const krakenCollector = await stack.startCollector("kraken");
    const binance = await stack.startCollector("binance");
    const broadcaster = await stack.startBroadcaster();
    kraken = krakenCollector.process;
    local["kraken-collector"] = krakenCollector.metricsPort;
    local["binance-collector"] = binance.metricsPort;
    local.broadcaster = broadcaster.metricsPort;
    websocketPort = broadcaster.websocketPort;
    for (const started of [krakenCollector, binance, broadcaster]) {
      await stack.waitReady(started.process, `http://127.0.0.1:${started.metricsPort}/ready`);
    }
    // A collector in the fabric (NATS_URL) adds the fabric's series; the collectors job scrapes it too.
    nats = await NatsCluster.start(1);
    const fabric = await stack.startCollector("coinbase", {
      SHARED_MEMORY_PATH: `${stack.shmDir}/fabric`,
      NATS_URL: nats.urls,
    });
    await stack.waitReady(fabric.process, `${fabric.metrics}/ready`);
    // Let trades, deltas and fan-out happen so every series has samples.
    await Bun.sleep(2000);
    scrapes.collect = await (await fetch(`${krakenCollector.metrics}/metrics`)).text();
    scrapes.broadcast = await (await fetch(`${broadcaster.metrics}/metrics`)).text();
    fabricScrape = await (await fetch(`${fabric.metrics}/metrics`)).text();

    // The labels Kubernetes pod discovery would give each container port of the single-node pod;
    // ports of containers not running here are left out, the WebSocket port is kept (it must be dropped).
    const targets = pod.containers
      .filter((container) => local[container.name] !== undefined)
      .flatMap((container) =>
        (container.ports ?? []).map((port) => ({
          targets: [`127.0.0.1:${port.name === "websocket" ? websocketPort : local[container.name]}`],
          labels: {
            __meta_kubernetes_namespace: "alphapulse",
            __meta_kubernetes_pod_name: "alphapulse-0",
            __meta_kubernetes_pod_label_app: "alphapulse",
            __meta_kubernetes_pod_annotation_prometheus_io_scrape: "true",
            __meta_kubernetes_pod_annotation_prometheus_io_path: "/metrics",
            __meta_kubernetes_pod_container_name: container.name,
            __meta_kubernetes_pod_container_port_name: port.name,
          },
        })),
      );
    writeFileSync(path.join(prometheusDir, "targets.json"), JSON.stringify(targets));
    prometheus = await startPrometheus(prometheusDir, PROMETHEUS_POLL);
    prometheusUrl = prometheus.url;
  }, 180_000);

  afterAll(async () => {
    await prometheus?.stop();
    await stack.stop();
    await nats?.stop();
    rmSync(prometheusDir, { recursive: true, force: true });
  }, 60_000);

  async function api<T>(pathAndQuery: string): Promise<T> {
    const response = await fetch(`${prometheusUrl}${pathAndQuery}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== "success") throw new Error(`${pathAndQuery}: ${body.error}`);
    return body.data;
  }

  test("each mode's /metrics passes promtool check metrics", () => {
    for (const [mode, text] of Object.entries({ ...scrapes, fabric: fabricScrape })) {
      const result = Bun.spawnSync(["promtool", "check", "metrics"], {
        stdin: new TextEncoder().encode(text),
      });
      // Exit 1 is a format error; 3 means lint findings, each of which must be an accepted one.
      const findings = `${result.stdout.toString()}${result.stderr.toString()}`
        .split("\n")
        .filter((line) => line.trim() !== "" && !ACCEPTED_LINT.some((accepted) => line.startsWith(accepted)));
      expect({ mode, findings, formatError: result.exitCode === 1 }).toEqual({
        mode,
        findings: [],
        formatError: false,
      });
    }
  }, 60_000);

  test("every metric the alerts and the dashboard name is exported by the mode its job scrapes", () => {
    const missing: string[] = [];
    const exported: Record<string, Set<string>> = {
      [JOBS.collect]: new Set([...families(scrapes.collect), ...families(fabricScrape)]),
      [JOBS.broadcast]: families(scrapes.broadcast),
    };
    const uses = [
      ...rules.flatMap((rule) =>
        metricsIn(rule.expr).map((use) => ({ ...use, where: `alert ${rule.alert}` })),
      ),
      ...dashboardExprs.flatMap((expr) =>
        metricsIn(expr).map((use) => ({ ...use, where: `dashboard: ${expr}` })),
      ),
    ];
    expect(uses.length).toBeGreaterThan(20);
    for (const use of uses) {
      const pinned = use.job === undefined ? undefined : exported[use.job];
      if (use.job !== undefined && pinned === undefined) missing.push(`${use.where}: unknown job ${use.job}`);
      const sources = pinned === undefined ? Object.values(exported) : [pinned];
      if (!sources.some((names) => names.has(use.name))) missing.push(`${use.where}: ${use.name}`);
    }
    expect(missing).toEqual([]);
  }, 60_000);

  test("the relabel rules sort the pod's ports into the two jobs and drop the WebSocket port", async () => {
    const active = await waitFor(
      "targets scraped",
      async () => {
        const data = await api<{ activeTargets: { labels: Record<string, string>; health: string }[] }>(
          "/api/v1/targets?state=active",
        );
        const targets = data.activeTargets;
        return targets.length === 3 && targets.every((target) => target.health === "up")
          ? targets
          : undefined;
      },
      PROMETHEUS_POLL,
    );
    const byContainer = Object.fromEntries(
      active.map((target) => [target.labels.container, target.labels.job]),
    );
    expect(byContainer).toEqual({
      "kraken-collector": JOBS.collect,
      "binance-collector": JOBS.collect,
      broadcaster: JOBS.broadcast,
    });
  }, 60_000);

  test("every dashboard query is valid PromQL and the main ones return data", async () => {
    // One book per symbol of the two collectors running.
    const books = SIMULATED_VENUES.kraken.demoSymbols.length + SIMULATED_VENUES.binance.demoSymbols.length;
    for (const expr of dashboardExprs) {
      const query = expr.replaceAll("$namespace", "alphapulse");
      await api(`/api/v1/query?query=${encodeURIComponent(query)}`);
    }
    const withData = await waitFor(
      "book validity and clients in Prometheus",
      async () => {
        const valid = await api<{ result: unknown[] }>(
          `/api/v1/query?query=${encodeURIComponent('alphapulse_book_valid{kubernetes_namespace="alphapulse"}')}`,
        );
        return valid.result.length === books ? valid.result : undefined;
      },
      PROMETHEUS_POLL,
    );
    expect(withData.length).toBe(books);
  }, 60_000);

  test("no alert fires on the healthy stack; CollectorDown fires when a collector is killed", async () => {
    type Alert = { labels: Record<string, string>; state: string };
    const alerts = async () => (await api<{ alerts: Alert[] }>("/api/v1/alerts")).alerts;
    expect((await alerts()).filter((alert) => alert.state === "firing")).toEqual([]);
    await kraken.stop("SIGKILL");
    const fired = await waitFor(
      "CollectorDown firing",
      async () => {
        const found = (await alerts()).find(
          (alert) => alert.labels.alertname === "CollectorDown" && alert.state === "firing",
        );
        return found;
      },
      { ...PROMETHEUS_POLL, timeoutMs: 240_000 },
    );
    expect(fired.labels.instance).toBe(`127.0.0.1:${local["kraken-collector"]}`);
    expect(fired.labels.container).toBe("kraken-collector");
    const others = (await alerts()).filter(
      (alert) => alert.state === "firing" && alert.labels.alertname === "WebSocketServerDown",
    );
    expect(others).toEqual([]);
  }, 300_000);
});
