// monitoring/prometheus.yml against every pod both topologies deploy: a real Prometheus runs the
// committed relabel rules on targets carrying the labels Kubernetes pod discovery would give each
// container port of the rendered single-node and production manifests. Every metrics port must
// land in exactly one job, the one its process calls for (an AlphaPulse container by its
// ALPHAPULSE_MODE, the NATS exporter in alphapulse-nats), and no other port (WebSocket, NATS
// client, routes, monitoring) may be scraped. What the targets serve does not matter to the
// relabelling, so every target is Prometheus's own /metrics (relays and the NATS exporter do not
// run here), with the port's name as a URL parameter: it keeps every target distinct (Prometheus
// merges targets that end up identical) and says which port a scraped target came from.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { isAlphaPulseImage, type K8sObject, renderOverlay } from "./support/ops-manifests.ts";
import { type LoopbackPrometheus, startPrometheus } from "./support/prometheus.ts";
import { waitFor } from "./support/wait.ts";

const JOB_OF_MODE: Record<string, string> = {
  collect: "alphapulse-collectors",
  relay: "alphapulse-relays",
  broadcast: "alphapulse-websocket-server",
};
const NATS_EXPORTER_JOB = "alphapulse-nats";

type Container = {
  name: string;
  image: string;
  env?: { name: string; value?: string }[];
  ports?: { name: string; containerPort: number }[];
};
type Template = {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { containers: Container[] };
};

/** Prometheus's discovery label for a Kubernetes label or annotation name. */
const sanitized = (name: string) => name.replace(/[^a-zA-Z0-9_]/g, "_");

/** Every container port of every pod the overlays deploy, with the job it should be scraped by (null: none). */
function portsOf(overlays: string[]) {
  return overlays.flatMap((overlay) =>
    renderOverlay(overlay)
      .filter((object: K8sObject) => ["Deployment", "StatefulSet"].includes(object.kind))
      .flatMap((object) => {
        const template = (object.spec as { template: Template }).template;
        const pod = `${overlay}-${object.metadata.name}-0`;
        return template.spec.containers.flatMap((container) =>
          (container.ports ?? []).map((port) => {
            const mode = container.env?.find((variable) => variable.name === "ALPHAPULSE_MODE")?.value;
            const metrics = port.name.endsWith("metrics");
            const job = !metrics
              ? null
              : isAlphaPulseImage(container.image)
                ? (JOB_OF_MODE[mode ?? ""] ?? `no job for mode ${mode}`)
                : container.image.startsWith("natsio/prometheus-nats-exporter:")
                  ? NATS_EXPORTER_JOB
                  : `no job for ${container.image}`;
            const labels: Record<string, string> = {
              __meta_kubernetes_namespace: "alphapulse",
              __meta_kubernetes_pod_name: pod,
              __meta_kubernetes_pod_container_name: container.name,
              __meta_kubernetes_pod_container_port_name: port.name,
              __param_port: port.name,
            };
            for (const [name, value] of Object.entries(template.metadata.labels ?? {})) {
              labels[`__meta_kubernetes_pod_label_${sanitized(name)}`] = value;
            }
            for (const [name, value] of Object.entries(template.metadata.annotations ?? {})) {
              labels[`__meta_kubernetes_pod_annotation_${sanitized(name)}`] = value;
            }
            return { where: `${pod}/${container.name}/${port.name}`, job, labels };
          }),
        );
      }),
  );
}

const ports = portsOf(["single-node", "production"]);
const dir = mkdtempSync(path.join(tmpdir(), "ap-test-ops-targets-"));
let prometheus: LoopbackPrometheus | null = null;
let address = "";

beforeAll(async () => {
  writeFileSync(path.join(dir, "targets.json"), "[]");
  prometheus = await startPrometheus(dir);
  address = prometheus.address;
  writeFileSync(
    path.join(dir, "targets.json"),
    JSON.stringify(ports.map((port) => ({ targets: [address], labels: port.labels }))),
  );
}, 120_000);

afterAll(async () => {
  await prometheus?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

test("every pod's metrics ports, and only those, land in the job their process calls for", async () => {
  const expected = ports.filter((port) => port.job !== null);
  // Both topologies, every kind of process.
  expect(new Set(expected.map((port) => port.job))).toEqual(
    new Set([...Object.values(JOB_OF_MODE), NATS_EXPORTER_JOB]),
  );
  type Target = { labels: Record<string, string>; health: string; scrapeUrl: string };
  const active = await waitFor(
    "every target scraped",
    async () => {
      const response = await fetch(`http://${address}/api/v1/targets?state=active`);
      const targets = ((await response.json()) as { data: { activeTargets: Target[] } }).data.activeTargets;
      return targets.length >= expected.length && targets.every((target) => target.health === "up")
        ? targets
        : undefined;
    },
    { timeoutMs: 60_000 },
  );
  const scraped = active
    .map((target) => ({
      where: `${target.labels.kubernetes_pod_name}/${target.labels.container}/${new URL(target.scrapeUrl).searchParams.get("port")}`,
      job: target.labels.job ?? "no job",
    }))
    .sort((a, b) => a.where.localeCompare(b.where));
  expect(scraped).toEqual(
    expected
      .map(({ where, job }) => ({ where, job: job ?? "no job" }))
      .sort((a, b) => a.where.localeCompare(b.where)),
  );
}, 120_000);
