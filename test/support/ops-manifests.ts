// The Kubernetes manifests as the cluster would get them (kubectl kustomize), and the checks the
// ops tests run on them: schema validation (kubernetes-models), unknown fields (kubernetes-types
// under tsc), and our own rules (probes, limits, non-root, read-only root, settings, ports, a
// collector and open network paths for every registered venue). AlphaPulse containers (our image)
// are held to the binary's own settings and ports; every container, ours or not (NATS and its
// exporter), to the security and resource rules.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { readBroadcastConfig } from "../../src/broadcast/config.ts";
import { readCollectorConfig, readRingConfig } from "../../src/collector/config.ts";
import { type Env, readCommonConfig, readProcessConfig, Settings } from "../../src/config.ts";
import { EXCHANGE_NAMES, VENUE_DEFINITIONS } from "../../src/exchanges/registry.ts";
import { readFabricConfig } from "../../src/fabric/config.ts";
import { MODES } from "../../src/main.ts";
import { readSimulatorOptions } from "../../src/simulator/main.ts";
import { portDefault, REPO_ROOT, type SettingUse } from "./ops-source-settings.ts";

export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
};

export function renderOverlay(overlay: string): K8sObject[] {
  if (Bun.which("kubectl") === null) throw new Error("kubectl (with kustomize) is missing on this machine");
  const result = Bun.spawnSync(["kubectl", "kustomize", path.join(REPO_ROOT, "k8s", overlay)]);
  if (result.exitCode !== 0) {
    throw new Error(`kubectl kustomize k8s/${overlay} failed: ${result.stderr.toString()}`);
  }
  return (Bun.YAML.parse(result.stdout.toString()) as K8sObject[]).filter((doc) => doc !== null);
}

function groupVersion(apiVersion: string): { group: string; version: string } {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  return { group: group!, version: version! };
}

/** kubernetes-models: required fields, types and formats against the OpenAPI schemas. */
export async function modelErrors(objects: K8sObject[]): Promise<string[]> {
  const errors: string[] = [];
  for (const object of objects) {
    const { group, version } = groupVersion(object.apiVersion);
    const module = await import(`kubernetes-models/${group === "" ? "" : `${group}/`}${version}`);
    const Model = module[object.kind] as (new (data: unknown) => { validate(): void }) | undefined;
    if (Model === undefined) {
      errors.push(`${object.kind} ${object.metadata.name}: no model for ${object.apiVersion}`);
      continue;
    }
    try {
      new Model(object).validate();
    } catch (error) {
      errors.push(`${object.kind} ${object.metadata.name}: ${(error as Error).message}`);
    }
  }
  return errors;
}

/** kubernetes-types groups are named by their short name (rbac, not rbac.authorization.k8s.io). */
function typesModule(apiVersion: string): string {
  const { group, version } = groupVersion(apiVersion);
  const short = group === "" ? "core" : group.split(".")[0]!;
  return `kubernetes-types/${short}/${version}`;
}

/**
 * Writes the objects as typed TypeScript literals and runs tsc on them: excess-property checks
 * catch every unknown or misspelt field, type checks catch wrong value types. Returns tsc's output
 * lines, empty when all is well.
 */
export function typeErrors(objects: K8sObject[]): string[] {
  const dir = path.join(REPO_ROOT, "test-artifacts", `ops-k8s-types-${process.pid}-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  try {
    const modules = [...new Set(objects.map((object) => typesModule(object.apiVersion)))];
    const alias = (module: string) => `k${modules.indexOf(module)}`;
    const lines = modules.map((module) => `import type * as ${alias(module)} from "${module}";`);
    objects.forEach((object, index) => {
      const type = `${alias(typesModule(object.apiVersion))}.${object.kind}`;
      lines.push(`export const object${index}: ${type} = ${JSON.stringify(object, null, 2)};`);
    });
    writeFileSync(path.join(dir, "manifests.ts"), `${lines.join("\n")}\n`);
    writeFileSync(
      path.join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          module: "Preserve",
          moduleResolution: "bundler",
          types: [],
          typeRoots: [path.join(REPO_ROOT, "node_modules")],
        },
        files: ["manifests.ts"],
      }),
    );
    const tsc = path.join(REPO_ROOT, "node_modules", ".bin", "tsc");
    const result = Bun.spawnSync([tsc, "-p", dir]);
    const output = `${result.stdout.toString()}${result.stderr.toString()}`.trim();
    if (result.exitCode === 0) return [];
    return output === "" ? [`tsc exited ${result.exitCode}`] : output.split("\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

type Probe = {
  httpGet?: { path?: string; port?: number | string };
  tcpSocket?: { port?: number | string };
  exec?: unknown;
};
type ContainerPort = { name?: string; containerPort: number };
type EnvVar = { name: string; value?: string; valueFrom?: { secretKeyRef?: unknown } };
type Container = {
  name: string;
  image?: string;
  env?: EnvVar[];
  ports?: ContainerPort[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  securityContext?: SecurityContext;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
};
type SecurityContext = {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  capabilities?: { drop?: string[] };
  seccompProfile?: { type?: string };
};
type PodSpec = {
  containers: Container[];
  securityContext?: SecurityContext;
  terminationGracePeriodSeconds?: number;
  volumes?: { name: string; emptyDir?: { medium?: string }; hostPath?: unknown }[];
};
type PodTemplate = { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> } };

/**
 * The overlays one can deploy, and the topology each one is (docs/operations.md). k8s/base is
 * rendered too (scripts/ci/ops-static-checks.sh) but is not deployable alone: its image is bare.
 */
export const TOPOLOGY_OF: Record<string, "single-node" | "fabric"> = {
  "single-node": "single-node",
  fabric: "fabric",
  staging: "fabric",
  production: "fabric",
};

/** Long-running modes a manifest may run, and the src/ directory each one's settings live in. */
const SERVICE_MODES: Record<string, string> = {
  collect: "collector",
  broadcast: "broadcast",
  simulate: "simulator",
  relay: "fabric",
};

/** Our image, as the overlays name it (bare in k8s/base, the registry's name elsewhere). */
export function isAlphaPulseImage(image: string | undefined): boolean {
  const name = (image ?? "").replace(/[:@].*$/, "");
  return name === "alphapulse" || name.endsWith("/alphapulse");
}
const SYMBOL_LIST = /^[A-Z0-9]+-[A-Z0-9]+(,[A-Z0-9]+-[A-Z0-9]+)*$/;

function podTemplates(objects: K8sObject[]): { owner: string; template: PodTemplate; spec: PodSpec }[] {
  return objects
    .filter((object) => ["Deployment", "StatefulSet", "DaemonSet"].includes(object.kind))
    .map((object) => {
      const template = (object.spec as { template: PodTemplate & { spec: PodSpec } }).template;
      return { owner: `${object.kind} ${object.metadata.name}`, template, spec: template.spec };
    });
}

/**
 * Settings the binary itself would refuse: each mode's own config reader, run on the container's
 * environment, so ranges, choices and cross-checks are exactly the binary's.
 */
function refusedSettings(mode: string, env: Env): string | undefined {
  try {
    const settings = new Settings(env);
    readProcessConfig(settings);
    if (mode === "collect") {
      readCommonConfig(settings);
      readCollectorConfig(settings);
      if (env.NATS_URL !== undefined) readFabricConfig(settings);
    } else if (mode === "relay") {
      readCommonConfig(settings);
      readRingConfig(settings, settings.oneOf("EXCHANGE", EXCHANGE_NAMES, "kraken"));
      readFabricConfig(settings);
    } else if (mode === "broadcast") readBroadcastConfig(env);
    else if (mode === "simulate") readSimulatorOptions(env);
    else return `no config reader for mode ${mode} in these rules`;
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Rules for every container, ours or not: probes, requests and limits, a locked-down runtime, a pinned image. */
function commonContainerRules(where: string, container: Container, spec: PodSpec): string[] {
  const problems: string[] = [];
  const pod = spec.securityContext ?? {};
  const own = container.securityContext ?? {};
  for (const kind of ["livenessProbe", "readinessProbe"] as const) {
    const probe = container[kind];
    if (probe?.httpGet === undefined && probe?.tcpSocket === undefined && probe?.exec === undefined) {
      problems.push(`${where}: no ${kind}`);
    }
  }
  for (const resource of ["cpu", "memory"]) {
    if (container.resources?.limits?.[resource] === undefined)
      problems.push(`${where}: no ${resource} limit`);
    if (container.resources?.requests?.[resource] === undefined) {
      problems.push(`${where}: no ${resource} request`);
    }
  }
  if ((own.runAsNonRoot ?? pod.runAsNonRoot) !== true) problems.push(`${where}: runAsNonRoot is not true`);
  if ((own.runAsUser ?? pod.runAsUser) === 0) problems.push(`${where}: runs as uid 0`);
  if (own.readOnlyRootFilesystem !== true) problems.push(`${where}: root filesystem is not read-only`);
  if (own.allowPrivilegeEscalation !== false)
    problems.push(`${where}: allowPrivilegeEscalation is not false`);
  if (!(own.capabilities?.drop ?? []).includes("ALL")) problems.push(`${where}: capabilities not dropped`);
  if ((own.seccompProfile ?? pod.seccompProfile)?.type !== "RuntimeDefault") {
    problems.push(`${where}: seccomp is not RuntimeDefault`);
  }
  if (
    container.image === undefined ||
    !/:[\w.-]+$/.test(container.image) ||
    container.image.endsWith(":latest")
  ) {
    problems.push(`${where}: image ${container.image} has no pinned tag`);
  }
  return problems;
}

/** AlphaPulse's own containers: real settings the binary accepts, ports it listens on, the rings' volume. */
function alphaPulseContainerRules(
  where: string,
  container: Container,
  spec: PodSpec,
  settings: Map<string, SettingUse[]>,
): { problems: string[]; ports: number[] } {
  const problems: string[] = [];
  if (container.livenessProbe?.httpGet === undefined) problems.push(`${where}: no HTTP livenessProbe`);
  if (container.readinessProbe?.httpGet === undefined) problems.push(`${where}: no HTTP readinessProbe`);
  const env = new Map<string, string>();
  for (const variable of container.env ?? []) {
    if (!settings.has(variable.name)) {
      problems.push(`${where}: env ${variable.name} is not read by the binary (src/)`);
      continue;
    }
    if (variable.valueFrom !== undefined) {
      if (variable.valueFrom.secretKeyRef === undefined)
        problems.push(`${where}: env ${variable.name} valueFrom`);
      continue;
    }
    env.set(variable.name, variable.value ?? "");
  }
  const symbols = env.get("SYMBOLS");
  if (symbols !== undefined && !SYMBOL_LIST.test(symbols)) {
    problems.push(`${where}: env SYMBOLS="${symbols}" is not a BASE-QUOTE,... list`);
  }

  const mode = env.get("ALPHAPULSE_MODE");
  const known = mode !== undefined && mode in MODES;
  const modeDir = known ? SERVICE_MODES[mode] : undefined;
  if (mode === undefined || modeDir === undefined) {
    return { problems: [...problems, `${where}: ALPHAPULSE_MODE is not a long-running mode`], ports: [] };
  }
  const refused = refusedSettings(mode, Object.fromEntries(env));
  if (refused !== undefined) problems.push(`${where}: the binary refuses its settings: ${refused}`);
  const effective = (name: string): number | undefined => {
    const value = env.get(name);
    return value === undefined ? portDefault(settings, name, modeDir) : Number(value);
  };
  const listening = new Set<number>();
  const metricsPort = effective("METRICS_PORT");
  if (metricsPort === undefined)
    problems.push(`${where}: METRICS_PORT neither set nor defaulted in src/${modeDir}`);
  else listening.add(metricsPort);
  if (mode === "broadcast") {
    const websocketPort = effective("WEBSOCKET_PORT");
    if (websocketPort === undefined) problems.push(`${where}: WEBSOCKET_PORT neither set nor defaulted`);
    else listening.add(websocketPort);
    for (const name of ["METRICS_PORT", "WEBSOCKET_PORT"]) {
      const fallback = portDefault(settings, name, modeDir);
      if (fallback !== undefined && env.has(name) && Number(env.get(name)) !== fallback) {
        problems.push(`${where}: ${name} ${env.get(name)} differs from the binary's default ${fallback}`);
      }
    }
  }
  const declared = (container.ports ?? []).map((port) => port.containerPort);
  if ([...listening].sort().join() !== [...new Set(declared)].sort().join()) {
    problems.push(`${where}: containerPorts ${declared} but the binary listens on ${[...listening]}`);
  }
  for (const [kind, probe] of Object.entries({
    livenessProbe: container.livenessProbe,
    readinessProbe: container.readinessProbe,
    startupProbe: container.startupProbe,
  })) {
    if (probe?.httpGet === undefined) continue;
    const port = probe.httpGet.port;
    const number =
      typeof port === "number" ? port : container.ports?.find((p) => p.name === port)?.containerPort;
    if (number !== metricsPort)
      problems.push(`${where}: ${kind} port ${port} is not METRICS_PORT ${metricsPort}`);
    if (!["/health", "/ready"].includes(probe.httpGet.path ?? "")) {
      problems.push(`${where}: ${kind} path ${probe.httpGet.path}`);
    }
  }
  const shm = env.get("SHARED_MEMORY_PATH");
  const mount = container.volumeMounts?.find((m) => m.mountPath === shm);
  const volume = spec.volumes?.find((v) => v.name === mount?.name);
  if (shm === undefined || mount === undefined) {
    problems.push(`${where}: SHARED_MEMORY_PATH is not a mounted volume`);
  } else if (volume?.emptyDir?.medium !== "Memory") {
    problems.push(`${where}: the rings' volume is not an emptyDir of medium Memory (per-pod shared memory)`);
  } else if (mode === "broadcast" && mount.readOnly !== true) {
    problems.push(`${where}: the broadcaster mounts the rings writable`);
  }
  const grace = env.get("SHUTDOWN_GRACE_MS");
  if (grace !== undefined && Number(grace) >= (spec.terminationGracePeriodSeconds ?? 30) * 1000) {
    problems.push(`${where}: SHUTDOWN_GRACE_MS ${grace} is not below terminationGracePeriodSeconds`);
  }
  return { problems, ports: [...listening] };
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string> = {}): boolean {
  return selector !== undefined && Object.entries(selector).every(([key, value]) => labels[key] === value);
}

type PolicyPort = { protocol?: string; port?: number | string };
type PolicySpec = {
  podSelector?: { matchLabels?: Record<string, string> };
  ingress?: {
    from?: { namespaceSelector?: { matchLabels?: Record<string, string> } }[];
    ports?: PolicyPort[];
  }[];
  egress?: { ports?: PolicyPort[] }[];
};

/** The TCP port a URL reaches (its own, or its scheme's). */
function urlPort(url: string): number {
  const parsed = new URL(url);
  if (parsed.port !== "") return Number(parsed.port);
  return parsed.protocol === "wss:" || parsed.protocol === "https:" ? 443 : 80;
}

/**
 * A pod that holds `<venue>-collector` containers (the single-node pod) holds one for every venue
 * in src/exchanges/registry.ts, with EXCHANGE=<venue>. Every collector container, in whichever pod,
 * may reach its venue's endpoints through the NetworkPolicies that select the pod. Each AlphaPulse
 * container's metrics port is in a Service and open to Prometheus (namespace monitoring). Which
 * venues run in which topology is test/ops-k8s-topology.test.ts's part.
 */
function venueRules(owner: string, template: PodTemplate, spec: PodSpec, objects: K8sObject[]): string[] {
  const problems: string[] = [];
  const envOf = (container: Container, name: string) =>
    container.env?.find((variable) => variable.name === name)?.value;
  const collectors = spec.containers.filter((c) => envOf(c, "ALPHAPULSE_MODE") === "collect");
  const holdsVenueCollectors = spec.containers.some((c) => c.name.endsWith("-collector"));
  for (const venue of holdsVenueCollectors ? EXCHANGE_NAMES : []) {
    const name = `${venue}-collector`;
    const container = spec.containers.find((c) => c.name === name);
    const exchange = container?.env?.find((variable) => variable.name === "EXCHANGE")?.value;
    if (exchange !== venue)
      problems.push(`${owner}: no collector container for ${venue} (${name} with EXCHANGE=${venue})`);
  }
  const policies = objects
    .filter((object) => object.kind === "NetworkPolicy")
    .map((object) => ({ spec: object.spec as PolicySpec }))
    .filter(({ spec: policy }) => policy.podSelector?.matchLabels !== undefined)
    .filter(({ spec: policy }) => selects(policy.podSelector?.matchLabels, template.metadata?.labels));
  const allows = (rules: { ports?: PolicyPort[] }[] | undefined, port: number) =>
    (rules ?? []).some((rule) =>
      (rule.ports ?? []).some((p) => (p.protocol ?? "TCP") === "TCP" && p.port === port),
    );
  const fromMonitoring = (policy: PolicySpec) =>
    (policy.ingress ?? []).filter((rule) =>
      (rule.from ?? []).some(
        (peer) => peer.namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"] === "monitoring",
      ),
    );
  const servicePorts = objects
    .filter((object) => object.kind === "Service")
    .map((object) => object.spec as { selector?: Record<string, string>; ports: { targetPort?: unknown }[] })
    .filter((service) => selects(service.selector, template.metadata?.labels))
    .flatMap((service) => service.ports.map((port) => port.targetPort));
  for (const container of spec.containers.filter((c) => isAlphaPulseImage(c.image))) {
    for (const port of (container.ports ?? []).filter((p) => p.name?.endsWith("-metrics"))) {
      if (!policies.some(({ spec: policy }) => allows(fromMonitoring(policy), port.containerPort))) {
        problems.push(
          `${owner}: metrics port ${port.containerPort} of ${container.name} is not open to Prometheus`,
        );
      }
      if (!servicePorts.includes(port.name) && !servicePorts.includes(port.containerPort)) {
        problems.push(`${owner}: metrics port ${port.name} of ${container.name} is in no Service`);
      }
    }
  }
  for (const venue of EXCHANGE_NAMES.filter((name) =>
    collectors.some((c) => envOf(c, "EXCHANGE") === name),
  )) {
    const definition = VENUE_DEFINITIONS[venue];
    for (const url of [definition.defaultWsUrl, definition.defaultRestUrl].filter((u) => u !== "")) {
      if (!policies.some(({ spec: policy }) => allows(policy.egress, urlPort(url)))) {
        problems.push(`${owner}: egress to ${venue} at ${url} (port ${urlPort(url)}) is not allowed`);
      }
    }
  }
  return problems;
}

/** Our rules for every rendered object; returns one line per violation, empty when all hold. */
export function ruleViolations(objects: K8sObject[], settings: Map<string, SettingUse[]>): string[] {
  const problems: string[] = [];
  const pods = podTemplates(objects);
  if (pods.length === 0) problems.push("no workload found");
  for (const { owner, template, spec } of pods) {
    const used = new Map<number, string>();
    for (const container of spec.containers) {
      const where = `${owner} container ${container.name}`;
      problems.push(...commonContainerRules(where, container, spec));
      if (!isAlphaPulseImage(container.image)) continue;
      const result = alphaPulseContainerRules(where, container, spec, settings);
      problems.push(...result.problems);
      for (const port of result.ports) {
        const other = used.get(port);
        if (other !== undefined) problems.push(`${where}: port ${port} already used by ${other}`);
        used.set(port, container.name);
      }
    }
    if (template.metadata?.annotations?.["prometheus.io/scrape"] !== "true") {
      problems.push(`${owner}: no prometheus.io/scrape annotation`);
    }
    problems.push(...venueRules(owner, template, spec, objects));
  }
  for (const service of objects.filter((object) => object.kind === "Service")) {
    const serviceSpec = service.spec as {
      selector?: Record<string, string>;
      ports: { port: number; targetPort?: number | string }[];
    };
    const targets = pods.filter((pod) => selects(serviceSpec.selector, pod.template.metadata?.labels));
    if (targets.length === 0) problems.push(`Service ${service.metadata.name}: selects no pod`);
    for (const port of serviceSpec.ports) {
      const target = port.targetPort ?? port.port;
      const found = targets.some((pod) =>
        pod.spec.containers.some((c) =>
          (c.ports ?? []).some((p) =>
            typeof target === "number" ? p.containerPort === target : p.name === target,
          ),
        ),
      );
      if (!found)
        problems.push(`Service ${service.metadata.name}: targetPort ${target} matches no container port`);
    }
  }
  for (const object of objects.filter((o) => ["PodDisruptionBudget", "NetworkPolicy"].includes(o.kind))) {
    const spec = object.spec as {
      selector?: { matchLabels?: Record<string, string> };
      podSelector?: unknown;
    };
    const selector =
      spec.selector?.matchLabels ??
      (spec.podSelector as { matchLabels?: Record<string, string> })?.matchLabels;
    if (selector !== undefined && !pods.some((pod) => selects(selector, pod.template.metadata?.labels))) {
      problems.push(`${object.kind} ${object.metadata.name}: selects no pod`);
    }
  }
  for (const hpa of objects.filter((object) => object.kind === "HorizontalPodAutoscaler")) {
    const spec = hpa.spec as {
      scaleTargetRef: { kind: string; name: string };
      metrics?: { containerResource?: { container: string } }[];
    };
    const target = pods.find(
      (pod) => pod.owner === `${spec.scaleTargetRef.kind} ${spec.scaleTargetRef.name}`,
    );
    if (target === undefined)
      problems.push(`HPA ${hpa.metadata.name}: no target ${spec.scaleTargetRef.name}`);
    for (const metric of spec.metrics ?? []) {
      const name = metric.containerResource?.container;
      if (name !== undefined && !target?.spec.containers.some((c) => c.name === name)) {
        problems.push(`HPA ${hpa.metadata.name}: no container ${name} in its target`);
      }
    }
  }
  return problems;
}
