// The Kubernetes manifests, checked offline: every overlay renders with kubectl kustomize, every
// object validates against the Kubernetes schemas (kubernetes-models) with unknown fields caught
// (kubernetes-types under tsc), and our own rules hold. Each check is also shown to fail on a
// manifest that breaks it, so none of them can pass vacuously.
import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import path from "node:path";
import { EXCHANGE_NAMES } from "../src/exchanges/registry.ts";
import {
  type K8sObject,
  modelErrors,
  renderOverlay,
  ruleViolations,
  TOPOLOGY_OF,
  typeErrors,
} from "./support/ops-manifests.ts";
import { REPO_ROOT, scanSettings } from "./support/ops-source-settings.ts";

const OVERLAYS = Object.keys(TOPOLOGY_OF);
const settings = scanSettings();

/** The kinds each topology renders, sorted (k8s/base's shared objects included). */
const SHARED_KINDS = [
  "Deployment",
  "HorizontalPodAutoscaler",
  "Namespace",
  "NetworkPolicy",
  "NetworkPolicy",
  "NetworkPolicy",
  "PodDisruptionBudget",
  "Role",
  "RoleBinding",
  "Service",
  "Service",
  "ServiceAccount",
];
const KINDS = {
  "single-node": [...SHARED_KINDS, "NetworkPolicy"].sort(),
  // NATS: ConfigMap, StatefulSet, two Services, a PDB, a policy; per venue a collector Deployment
  // and PDB; a policy each for collectors and relays.
  fabric: [
    ...SHARED_KINDS,
    "ConfigMap",
    "StatefulSet",
    "Service",
    "Service",
    "PodDisruptionBudget",
    ...["Deployment", "PodDisruptionBudget"].flatMap((kind) => EXCHANGE_NAMES.map(() => kind)),
    "NetworkPolicy",
    "NetworkPolicy",
    "NetworkPolicy",
  ].sort(),
};

test("every overlay under k8s/ is checked here (k8s/base renders, but is not deployable alone)", () => {
  const dirs = readdirSync(path.join(REPO_ROOT, "k8s"), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  expect(dirs).toEqual(["base", ...OVERLAYS].sort());
  expect(renderOverlay("base").length).toBeGreaterThan(0);
}, 60_000);

type TestContainer = {
  name?: string;
  env: { name: string; value: string }[];
  securityContext: Record<string, unknown>;
  livenessProbe?: unknown;
  livenesProbe?: unknown;
  resources: { limits: Record<string, string> };
  image: string;
  volumeMounts: { readOnly?: boolean }[];
};

function deploymentOf(objects: K8sObject[]) {
  const deployment = objects.find((object) => object.kind === "Deployment");
  if (deployment === undefined) throw new Error("no Deployment rendered");
  return deployment as K8sObject & {
    spec: {
      template: { spec: { containers: TestContainer[]; volumes: Record<string, unknown>[] } };
    };
  };
}

/** The Deployment's container of that name (containers are found by name, never by position). */
function containerOf(objects: K8sObject[], name: string): TestContainer {
  const container = deploymentOf(objects).spec.template.spec.containers.find((c) => c.name === name);
  if (container === undefined) throw new Error(`no container ${name} in the Deployment`);
  return container;
}

describe.each(OVERLAYS)("k8s/%s", (overlay) => {
  const objects = renderOverlay(overlay);

  test("renders the whole set of objects, all in the overlay's namespace", () => {
    const kinds = objects.map((object) => object.kind).sort();
    expect(kinds).toEqual(KINDS[TOPOLOGY_OF[overlay]!]);
    const namespace = objects.find((object) => object.kind === "Namespace")!.metadata.name;
    expect(namespace).toBe(overlay === "staging" ? "alphapulse-staging" : "alphapulse");
    for (const object of objects.filter((o) => o.kind !== "Namespace")) {
      expect(object.metadata.namespace).toBe(namespace);
    }
  }, 60_000);

  test("every object validates against the Kubernetes OpenAPI schemas", async () => {
    expect(await modelErrors(objects)).toEqual([]);
  }, 60_000);

  test("no object has an unknown field or a wrongly typed value (kubernetes-types + tsc)", () => {
    expect(typeErrors(objects)).toEqual([]);
  }, 60_000);

  test("our rules hold: probes, limits, non-root, read-only root, real settings, agreeing ports", () => {
    expect(ruleViolations(objects, settings)).toEqual([]);
  }, 60_000);
});

describe("the checks catch what they are for", () => {
  const objects = renderOverlay("single-node");

  test("a misspelt field fails the type check", () => {
    const broken = structuredClone(objects);
    const container = containerOf(broken, "broadcaster");
    container.livenesProbe = container.livenessProbe;
    const errors = typeErrors(broken).join("\n");
    expect(errors).toContain("livenesProbe");
  }, 60_000);

  test("a missing required field fails the schema check", async () => {
    const broken = structuredClone(objects);
    delete containerOf(broken, "broadcaster").name;
    expect((await modelErrors(broken)).join("\n")).toContain("Deployment alphapulse");
  }, 60_000);

  test("each rule reports its violation", () => {
    const broken = structuredClone(objects);
    const pod = deploymentOf(broken).spec.template.spec;
    const coinbase = containerOf(broken, "coinbase-collector");
    const kraken = containerOf(broken, "kraken-collector");
    const binance = containerOf(broken, "binance-collector");
    const broadcaster = containerOf(broken, "broadcaster");
    delete coinbase.livenessProbe;
    coinbase.env.push({ name: "RUST_LOG", value: "info" });
    kraken.securityContext.readOnlyRootFilesystem = false;
    delete kraken.resources.limits.memory;
    kraken.env.find((variable) => variable.name === "EXCHANGE")!.value = "bitstamp";
    kraken.env.find((variable) => variable.name === "METRICS_PORT")!.value = "8080";
    binance.env.push({ name: "BOOK_DEPTH", value: "5000" });
    broadcaster.image = "ghcr.io/alphapulse/alphapulse:latest";
    broadcaster.volumeMounts[0]!.readOnly = false;
    pod.volumes[pod.volumes.findIndex((volume) => volume.name === "rings")] = {
      name: "rings",
      hostPath: { path: "/dev/shm/alphapulse" },
    };
    const policy = broken.find((o) => o.kind === "NetworkPolicy" && o.metadata.name === "alphapulse")!
      .spec as {
      ingress: { from?: unknown[]; ports: { port: number }[] }[];
    };
    for (const rule of policy.ingress) rule.ports = rule.ports.filter((port) => port.port !== 8082);
    for (const other of broken.filter((o) => o.kind === "NetworkPolicy")) {
      const egress = (other.spec as { egress?: { ports?: { port: number }[] }[] }).egress ?? [];
      for (const rule of egress) rule.ports = rule.ports?.filter((port) => port.port !== 443);
    }
    const metricsService = broken.find(
      (o) => o.kind === "Service" && o.metadata.name === "alphapulse-metrics",
    )!.spec as { ports: { targetPort: string }[] };
    metricsService.ports = metricsService.ports.filter((port) => port.targetPort !== "cb-metrics");
    const violations = ruleViolations(broken, settings).join("\n");
    for (const expected of [
      "coinbase-collector: no HTTP livenessProbe",
      "coinbase-collector: env RUST_LOG is not read by the binary",
      "kraken-collector: root filesystem is not read-only",
      "kraken-collector: no memory limit",
      'kraken-collector: the binary refuses its settings: EXCHANGE: "bitstamp" is not one of',
      "kraken-collector: containerPorts 8081 but the binary listens on 8080",
      "port 8080 already used by coinbase-collector",
      "binance-collector: the binary refuses its settings: BOOK_DEPTH: 5000 is outside 1..1000",
      "broadcaster: image ghcr.io/alphapulse/alphapulse:latest has no pinned tag",
      "not an emptyDir of medium Memory",
      "no collector container for kraken (kraken-collector with EXCHANGE=kraken)",
      "metrics port 8082 of binance-collector is not open to Prometheus",
      "metrics port cb-metrics of coinbase-collector is in no Service",
      "egress to coinbase at wss://advanced-trade-ws.coinbase.com (port 443) is not allowed",
    ]) {
      expect(violations).toContain(expected);
    }
  }, 60_000);

  test("the rules reach the fabric's containers: NATS and its exporter, relays, collectors", () => {
    const broken = renderOverlay("fabric");
    const containersOf = (kind: string, name: string) =>
      (
        broken.find((object) => object.kind === kind && object.metadata.name === name)!.spec as {
          template: { spec: { containers: Record<string, unknown>[] } };
        }
      ).template.spec.containers;
    const byName = (containers: Record<string, unknown>[], name: string) =>
      containers.find((container) => container.name === name) as {
        resources: { limits: Record<string, string> };
        securityContext: Record<string, unknown>;
        readinessProbe?: unknown;
        image: string;
        env: { name: string; value: string }[];
      };
    const nats = containersOf("StatefulSet", "nats");
    delete byName(nats, "nats").resources.limits.memory;
    byName(nats, "nats").securityContext.readOnlyRootFilesystem = false;
    byName(nats, "exporter").image = "natsio/prometheus-nats-exporter";
    delete byName(nats, "exporter").readinessProbe;
    byName(containersOf("Deployment", "alphapulse"), "kraken-relay").env.push({
      name: "NATS_CREDS",
      value: "x",
    });
    const collector = byName(containersOf("Deployment", "alphapulse-collector-binance"), "collector");
    collector.env.find((variable) => variable.name === "EXCHANGE")!.value = "bitstamp";
    const violations = ruleViolations(broken, settings).join("\n");
    for (const expected of [
      "StatefulSet nats container nats: no memory limit",
      "StatefulSet nats container nats: root filesystem is not read-only",
      "StatefulSet nats container exporter: image natsio/prometheus-nats-exporter has no pinned tag",
      "StatefulSet nats container exporter: no readinessProbe",
      "Deployment alphapulse container kraken-relay: env NATS_CREDS is not read by the binary",
      'Deployment alphapulse-collector-binance container collector: the binary refuses its settings: EXCHANGE: "bitstamp"',
    ]) {
      expect(violations).toContain(expected);
    }
  }, 60_000);

  test("the source scan finds the settings the binary reads", () => {
    for (const name of [
      "SHARED_MEMORY_PATH",
      "LOG_LEVEL",
      "METRICS_PORT",
      "ALPHAPULSE_MODE",
      "SHUTDOWN_GRACE_MS",
    ]) {
      expect(settings.has(name)).toBe(true);
    }
  }, 60_000);
});
