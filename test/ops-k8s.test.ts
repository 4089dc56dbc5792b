// The Kubernetes manifests, checked offline: every overlay renders with kubectl kustomize, every
// object validates against the Kubernetes schemas (kubernetes-models) with unknown fields caught
// (kubernetes-types under tsc), and our own rules hold. Each check is also shown to fail on a
// manifest that breaks it, so none of them can pass vacuously.
import { describe, expect, test } from "bun:test";
import {
  type K8sObject,
  modelErrors,
  renderOverlay,
  ruleViolations,
  typeErrors,
} from "./support/ops-manifests.ts";
import { scanSettings } from "./support/ops-source-settings.ts";

/** Each overlay's objects, by kind: the self-contained pod (staging, production) or the fabric. */
const POD_KINDS = [
  "Deployment",
  "HorizontalPodAutoscaler",
  "Namespace",
  "NetworkPolicy",
  "NetworkPolicy",
  "PodDisruptionBudget",
  "Role",
  "RoleBinding",
  "Service",
  "Service",
  "ServiceAccount",
];
const FABRIC_KINDS = [
  "ConfigMap",
  ...["Deployment", "Deployment", "Deployment", "Deployment"],
  "HorizontalPodAutoscaler",
  "Namespace",
  ...["NetworkPolicy", "NetworkPolicy", "NetworkPolicy", "NetworkPolicy"],
  ...["PodDisruptionBudget", "PodDisruptionBudget", "PodDisruptionBudget"],
  "Role",
  "RoleBinding",
  ...["Service", "Service", "Service", "Service"],
  "ServiceAccount",
  "StatefulSet",
];
const OVERLAYS: Record<string, { kinds: string[]; namespace: string }> = {
  staging: { kinds: POD_KINDS, namespace: "alphapulse-staging" },
  production: { kinds: POD_KINDS, namespace: "alphapulse" },
  fabric: { kinds: FABRIC_KINDS, namespace: "alphapulse" },
};
const settings = scanSettings();

function deploymentOf(objects: K8sObject[]) {
  const deployment = objects.find((object) => object.kind === "Deployment");
  if (deployment === undefined) throw new Error("no Deployment rendered");
  return deployment as K8sObject & {
    spec: {
      template: { spec: { containers: Record<string, unknown>[]; volumes: Record<string, unknown>[] } };
    };
  };
}

describe.each(Object.keys(OVERLAYS))("k8s/%s", (overlay) => {
  const objects = renderOverlay(overlay);

  test("renders the whole set of objects, all in the overlay's namespace", () => {
    const kinds = objects.map((object) => object.kind).sort();
    expect(kinds).toEqual(OVERLAYS[overlay]!.kinds);
    const namespace = objects.find((object) => object.kind === "Namespace")!.metadata.name;
    expect(namespace).toBe(OVERLAYS[overlay]!.namespace);
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
  const objects = renderOverlay("production");

  test("a misspelt field fails the type check", () => {
    const broken = structuredClone(objects);
    const container = deploymentOf(broken).spec.template.spec.containers[0]!;
    container.livenesProbe = container.livenessProbe;
    const errors = typeErrors(broken).join("\n");
    expect(errors).toContain("livenesProbe");
  }, 60_000);

  test("a missing required field fails the schema check", async () => {
    const broken = structuredClone(objects);
    delete deploymentOf(broken).spec.template.spec.containers[0]!.name;
    expect((await modelErrors(broken)).join("\n")).toContain("Deployment alphapulse");
  }, 60_000);

  test("each rule reports its violation", () => {
    const broken = structuredClone(objects);
    const pod = deploymentOf(broken).spec.template.spec;
    const [coinbase, kraken, binance, broadcaster] = pod.containers as {
      env: { name: string; value: string }[];
      securityContext: Record<string, unknown>;
      livenessProbe?: unknown;
      resources: { limits: Record<string, string> };
      image: string;
      volumeMounts: { readOnly?: boolean }[];
    }[];
    delete coinbase!.livenessProbe;
    coinbase!.env.push({ name: "RUST_LOG", value: "info" });
    kraken!.securityContext.readOnlyRootFilesystem = false;
    delete kraken!.resources.limits.memory;
    kraken!.env.find((variable) => variable.name === "EXCHANGE")!.value = "bitstamp";
    kraken!.env.find((variable) => variable.name === "METRICS_PORT")!.value = "8080";
    binance!.env.push({ name: "BOOK_DEPTH", value: "5000" });
    broadcaster!.image = "ghcr.io/alphapulse/alphapulse:latest";
    broadcaster!.volumeMounts[0]!.readOnly = false;
    pod.volumes[0] = { name: "rings", hostPath: { path: "/dev/shm/alphapulse" } };
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

describe("the fabric's checks catch what they are for", () => {
  test("a relay's refused setting, a relay port that is not its own and a NATS container without limits", () => {
    const broken = structuredClone(renderOverlay("fabric"));
    const node = broken.find((object) => object.metadata.name === "alphapulse-node")!;
    const relay = (
      node.spec as {
        template: { spec: { containers: { name: string; env: { name: string; value: string }[] }[] } };
      }
    ).template.spec.containers.find((container) => container.name === "kraken-relay")!;
    relay.env.find((variable) => variable.name === "NATS_URL")!.value = "http://nats:4222";
    relay.env.find((variable) => variable.name === "METRICS_PORT")!.value = "8092";
    const nats = broken.find((object) => object.kind === "StatefulSet")!;
    delete (nats.spec as { template: { spec: { containers: { resources: { limits?: unknown } }[] } } })
      .template.spec.containers[0]!.resources.limits;
    const violations = ruleViolations(broken, settings).join("\n");
    for (const expected of [
      "kraken-relay: the binary refuses its settings: NATS_URL",
      "kraken-relay: containerPorts 8091 but the binary listens on 8092",
      "binance-relay: port 8092 already used by kraken-relay",
      "StatefulSet nats container nats: no cpu limit",
    ]) {
      expect(violations).toContain(expected);
    }
  }, 60_000);
});
