// The two topologies as Kubernetes gets them, held to what each one promises (docs/operations.md):
// - every venue the binary knows runs in both: a collector container in the single-node pod; in
//   the fabric a two-replica collector Deployment with a PDB, and a relay beside the broadcaster;
// - the fabric's NATS is a three-server JetStream cluster whose servers are named after their
//   pods, route to each other through the headless Service, keep JetStream on their claims, stay
//   on different nodes and keep a quorum through drains; every AlphaPulse client lists them all;
// - the committed nats.conf, as rendered, runs on real nats-server processes: the cluster forms,
//   the manifest's probe paths answer, and the preStop hook's lame duck ends a server cleanly;
// - the NetworkPolicies let through exactly the intended connections.
// Containers and workloads are found by name, never by position.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { EXCHANGE_NAMES } from "../src/exchanges/registry.ts";
import { type K8sObject, renderOverlay, TOPOLOGY_OF } from "./support/ops-manifests.ts";
import { type Endpoint, networkPolicies } from "./support/ops-network-policy.ts";
import { httpStatus, waitFor } from "./support/wait.ts";

type EnvVar = { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } };
type Probe = { httpGet?: { path: string; port: string | number } };
type Container = {
  name: string;
  image: string;
  args?: string[];
  env?: EnvVar[];
  ports?: { name: string; containerPort: number }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
};
type PodSpec = {
  containers: Container[];
  volumes?: { name: string; configMap?: { name: string }; emptyDir?: { medium?: string } }[];
  terminationGracePeriodSeconds?: number;
  affinity?: {
    podAntiAffinity?: {
      requiredDuringSchedulingIgnoredDuringExecution?: {
        labelSelector: { matchLabels: Record<string, string> };
        topologyKey: string;
      }[];
    };
  };
};
type Workload = K8sObject & {
  spec: {
    replicas: number;
    serviceName?: string;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
    volumeClaimTemplates?: { metadata: { name: string } }[];
  };
};
type Service = K8sObject & {
  spec: {
    clusterIP?: string;
    publishNotReadyAddresses?: boolean;
    selector: Record<string, string>;
    ports: { port: number; targetPort: string | number }[];
  };
};
type Budget = K8sObject & {
  spec: { maxUnavailable?: number; selector: { matchLabels: Record<string, string> } };
};

function named<T extends K8sObject>(objects: K8sObject[], kind: string, name: string): T {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (found === undefined) throw new Error(`no ${kind} ${name} rendered`);
  return found as T;
}

function container(workload: Workload, name: string): Container {
  const found = workload.spec.template.spec.containers.find((c) => c.name === name);
  if (found === undefined) throw new Error(`${workload.metadata.name} has no container ${name}`);
  return found;
}

function envOf(c: Container): Record<string, string | undefined> {
  return Object.fromEntries((c.env ?? []).map((variable) => [variable.name, variable.value]));
}

function portOf(c: Container, name: string | number): number {
  if (typeof name === "number") return name;
  const found = c.ports?.find((port) => port.name === name);
  if (found === undefined) throw new Error(`${c.name} has no port ${name}`);
  return found.containerPort;
}

function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

/** The NATS pieces of a fabric render, and the facts every check below reads from them. */
function natsOf(objects: K8sObject[]) {
  const statefulSet = named<Workload>(objects, "StatefulSet", "nats");
  const server = container(statefulSet, "nats");
  const configVolume = statefulSet.spec.template.spec.volumes?.find(
    (volume) => volume.configMap !== undefined,
  );
  const configMap = named<K8sObject & { data: Record<string, string> }>(
    objects,
    "ConfigMap",
    configVolume!.configMap!.name,
  );
  const config = configMap.data["nats.conf"]!;
  const setting = (name: string) => new RegExp(`^\\s*${name}:\\s*(\\S+)`, "m").exec(config)?.[1];
  const headless = named<Service>(objects, "Service", statefulSet.spec.serviceName!);
  const urls = Array.from(
    { length: statefulSet.spec.replicas },
    (_, i) =>
      `nats://${statefulSet.metadata.name}-${i}.${headless.metadata.name}:${portOf(server, "client")}`,
  );
  return { statefulSet, server, config, setting, headless, clientUrls: urls.join(",") };
}

const fabricOverlays = Object.keys(TOPOLOGY_OF).filter((overlay) => TOPOLOGY_OF[overlay] === "fabric");

describe.each(fabricOverlays)("fabric topology, k8s/%s", (overlay) => {
  const objects = renderOverlay(overlay);
  const nats = natsOf(objects);
  const serving = named<Workload>(objects, "Deployment", "alphapulse");

  test("each venue: two collectors under one PDB, leading through the lease, publishing to every NATS server", () => {
    for (const venue of EXCHANGE_NAMES) {
      const deployment = named<Workload>(objects, "Deployment", `alphapulse-collector-${venue}`);
      expect(deployment.spec.replicas).toBe(2);
      const env = envOf(container(deployment, "collector"));
      expect({ venue, mode: env.ALPHAPULSE_MODE, exchange: env.EXCHANGE, nats: env.NATS_URL }).toEqual({
        venue,
        mode: "collect",
        exchange: venue,
        nats: nats.clientUrls,
      });
      const labels = deployment.spec.template.metadata.labels;
      const budgets = objects.filter(
        (object): object is Budget =>
          object.kind === "PodDisruptionBudget" &&
          selects((object as Budget).spec.selector.matchLabels, labels),
      );
      expect(budgets.map((budget) => budget.spec.maxUnavailable)).toEqual([1]);
      // The budget is this venue's alone: a drain may take one collector of each venue at once.
      const others = objects.filter(
        (object) =>
          object.kind === "Deployment" &&
          object !== deployment &&
          selects(budgets[0]!.spec.selector.matchLabels, (object as Workload).spec.template.metadata.labels),
      );
      expect(others).toEqual([]);
    }
  }, 60_000);

  test("the serving pods hold one relay per venue, writing the rings the broadcaster reads", () => {
    const broadcaster = container(serving, "broadcaster");
    const rings = broadcaster.volumeMounts!.find(
      (mount) => mount.mountPath === envOf(broadcaster).SHARED_MEMORY_PATH,
    )!;
    expect(rings.readOnly).toBe(true);
    const relays = serving.spec.template.spec.containers.filter((c) => envOf(c).ALPHAPULSE_MODE === "relay");
    expect(relays.map((relay) => relay.name).sort()).toEqual(
      EXCHANGE_NAMES.map((venue) => `${venue}-relay`).sort(),
    );
    for (const venue of EXCHANGE_NAMES) {
      const relay = container(serving, `${venue}-relay`);
      const env = envOf(relay);
      expect({ venue, exchange: env.EXCHANGE, nats: env.NATS_URL, shm: env.SHARED_MEMORY_PATH }).toEqual({
        venue,
        exchange: venue,
        nats: nats.clientUrls,
        shm: envOf(broadcaster).SHARED_MEMORY_PATH,
      });
      const mount = relay.volumeMounts!.find((m) => m.mountPath === env.SHARED_MEMORY_PATH)!;
      expect({ venue, volume: mount.name, readOnly: mount.readOnly ?? false }).toEqual({
        venue,
        volume: rings.name,
        readOnly: false,
      });
    }
    expect(serving.spec.template.spec.containers.some((c) => envOf(c).ALPHAPULSE_MODE === "collect")).toBe(
      false,
    );
  }, 60_000);

  test("NATS: three JetStream servers named after their pods, routed through the headless Service", () => {
    const { statefulSet, server, setting, config, headless } = nats;
    expect(statefulSet.spec.replicas).toBe(3);
    expect(server.image).toMatch(/^nats:2\.(1\d|[2-9]\d)\.\d+$/);
    expect(setting("server_name")).toBe("$POD_NAME");
    expect(server.env?.find((variable) => variable.name === "POD_NAME")?.valueFrom?.fieldRef?.fieldPath).toBe(
      "metadata.name",
    );
    const clusterPort = portOf(server, "cluster");
    const routes = [...config.matchAll(/nats:\/\/[\w.-]+:\d+/g)].map((match) => match[0]);
    expect(routes).toEqual(
      Array.from({ length: 3 }, (_, i) => `nats://nats-${i}.${headless.metadata.name}:${clusterPort}`),
    );
    expect(config).toMatch(new RegExp(`listen:\\s*0\\.0\\.0\\.0:${clusterPort}`));
    expect(config).toMatch(new RegExp(`^listen:\\s*0\\.0\\.0\\.0:${portOf(server, "client")}`, "m"));
    expect(config).toMatch(new RegExp(`^http:\\s*0\\.0\\.0\\.0:${portOf(server, "monitor")}`, "m"));
    // Routes form before readiness, so the headless Service must publish servers that are not ready.
    expect(headless.spec.clusterIP).toBe("None");
    expect(headless.spec.publishNotReadyAddresses).toBe(true);
    expect(selects(headless.spec.selector, statefulSet.spec.template.metadata.labels)).toBe(true);
    const client = named<Service>(objects, "Service", "nats");
    expect(selects(client.spec.selector, statefulSet.spec.template.metadata.labels)).toBe(true);
    expect(client.spec.ports.map((port) => portOf(server, port.targetPort))).toEqual([
      portOf(server, "client"),
    ]);
  }, 60_000);

  test("NATS: JetStream on each server's claim, one server per node, a quorum through drains, lame duck on stop", () => {
    const { statefulSet, server, setting } = nats;
    const claims = statefulSet.spec.volumeClaimTemplates!.map((claim) => claim.metadata.name);
    const store = server.volumeMounts!.find((mount) => mount.mountPath === setting("store_dir"));
    expect(store === undefined ? undefined : claims.includes(store.name)).toBe(true);
    const required =
      statefulSet.spec.template.spec.affinity?.podAntiAffinity
        ?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
    expect(
      required.some(
        (term) =>
          term.topologyKey === "kubernetes.io/hostname" &&
          selects(term.labelSelector.matchLabels, statefulSet.spec.template.metadata.labels),
      ),
    ).toBe(true);
    const budget = objects.find(
      (object) =>
        object.kind === "PodDisruptionBudget" &&
        selects((object as Budget).spec.selector.matchLabels, statefulSet.spec.template.metadata.labels),
    ) as Budget | undefined;
    expect(budget?.spec.maxUnavailable).toBe(1);
    expect(server.lifecycle?.preStop?.exec?.command).toEqual([
      "/nats-server",
      "--signal",
      `ldm=${setting("pid_file")}`,
    ]);
    const pidMount = server.volumeMounts!.find((mount) =>
      setting("pid_file")!.startsWith(`${mount.mountPath}/`),
    );
    expect(pidMount).toBeDefined();
    const seconds = (name: string) => Number(/^(\d+)s$/.exec(setting(name) ?? "")?.[1]);
    expect(seconds("lame_duck_duration") + seconds("lame_duck_grace_period")).toBeLessThan(
      statefulSet.spec.template.spec.terminationGracePeriodSeconds!,
    );
  }, 60_000);
});

describe("single-node topology", () => {
  const objects = renderOverlay("single-node");
  const serving = named<Workload>(objects, "Deployment", "alphapulse");

  test("each pod is a whole AlphaPulse: a collector per venue and the broadcaster, no NATS anywhere", () => {
    for (const venue of EXCHANGE_NAMES) {
      const env = envOf(container(serving, `${venue}-collector`));
      expect({ venue, mode: env.ALPHAPULSE_MODE, exchange: env.EXCHANGE }).toEqual({
        venue,
        mode: "collect",
        exchange: venue,
      });
    }
    expect(envOf(container(serving, "broadcaster")).ALPHAPULSE_MODE).toBe("broadcast");
    const workloads = objects.filter((object) => ["Deployment", "StatefulSet"].includes(object.kind));
    expect(workloads.map((object) => object.metadata.name)).toEqual(["alphapulse"]);
    expect(serving.spec.template.spec.containers.filter((c) => envOf(c).NATS_URL !== undefined)).toEqual([]);
  }, 60_000);

  test("a venue has the same metrics port in both topologies (the shared Service lists it once)", () => {
    const relays = named<Workload>(renderOverlay("fabric"), "Deployment", "alphapulse");
    for (const venue of EXCHANGE_NAMES) {
      const collectorPort = envOf(container(serving, `${venue}-collector`)).METRICS_PORT;
      expect({ venue, port: envOf(container(relays, `${venue}-relay`)).METRICS_PORT }).toEqual({
        venue,
        port: collectorPort,
      });
    }
  }, 60_000);
});

describe("the NetworkPolicies let through exactly the intended connections", () => {
  /** The ends of the connections checked, our pods in `namespace`. */
  const endpoints = (namespace: string) => {
    const ours = (name: string, labels: Record<string, string>, ip: string): Endpoint => ({
      name,
      ip,
      namespace,
      podLabels: labels,
    });
    return {
      serving: ours("serving pod", { app: "alphapulse" }, "10.244.1.10"),
      collector: ours(
        "kraken collector",
        { app: "alphapulse-collector", "alphapulse.io/venue": "kraken" },
        "10.244.1.11",
      ),
      nats: ours("NATS server", { app: "nats" }, "10.244.1.12"),
      otherNats: ours("another NATS server", { app: "nats" }, "10.244.2.12"),
      prometheus: {
        name: "Prometheus",
        ip: "10.244.3.5",
        namespace: "monitoring",
        podLabels: { app: "prometheus" },
      },
      dns: {
        name: "cluster DNS",
        ip: "10.96.0.10",
        namespace: "kube-system",
        podLabels: { "k8s-app": "kube-dns" },
      },
      apiServer: { name: "API server", ip: "10.96.0.1" },
      metadataService: { name: "cloud metadata", ip: "169.254.169.254" },
      exchange: { name: "an exchange", ip: "104.18.32.7" },
      client: { name: "a WebSocket client", ip: "198.51.100.7" },
    } satisfies Record<string, Endpoint>;
  };
  const at = endpoints("alphapulse");
  type Check = [keyof typeof at, keyof typeof at, number, boolean, string?];

  function verdicts(objects: K8sObject[], checks: Check[]) {
    const policy = networkPolicies(objects);
    const namespace = objects.find((object) => object.kind === "Namespace")?.metadata.name ?? "alphapulse";
    const at = endpoints(namespace);
    return checks.map(([from, to, port, , protocol]) => ({
      connection: `${at[from].name} -> ${at[to].name}:${port}${protocol === undefined ? "" : `/${protocol}`}`,
      allowed: policy.allowed(at[from], at[to], port, protocol),
    }));
  }
  const expected = (checks: Check[]) =>
    verdicts([], checks).map((verdict, i) => ({ ...verdict, allowed: checks[i]![3] }));

  const fabricChecks: Check[] = [
    ["collector", "exchange", 443, true],
    ["collector", "exchange", 80, false],
    ["collector", "apiServer", 443, false],
    ["collector", "metadataService", 443, false],
    ["collector", "nats", 4222, true],
    ["collector", "nats", 6222, false],
    ["collector", "serving", 8765, false],
    ["collector", "dns", 53, true, "UDP"],
    ["serving", "nats", 4222, true],
    ["serving", "exchange", 443, false],
    ["serving", "dns", 53, true, "UDP"],
    ["nats", "otherNats", 6222, true],
    ["nats", "otherNats", 4222, false],
    ["nats", "exchange", 443, false],
    ["prometheus", "nats", 7777, true],
    ["prometheus", "nats", 8222, false],
    ["prometheus", "collector", 8080, true],
    ["prometheus", "serving", 8081, true],
    ["prometheus", "serving", 8766, true],
    ["client", "serving", 8765, true],
    ["client", "serving", 8766, false],
    ["client", "nats", 4222, false],
    ["client", "collector", 8080, false],
  ];
  const singleNodeChecks: Check[] = [
    ["serving", "exchange", 443, true],
    ["serving", "exchange", 80, false],
    ["serving", "apiServer", 443, false],
    ["serving", "dns", 53, true, "UDP"],
    ["prometheus", "serving", 8080, true],
    ["client", "serving", 8765, true],
    ["client", "serving", 8080, false],
  ];

  test.each(fabricOverlays)(
    "fabric, k8s/%s",
    (overlay) => {
      expect(verdicts(renderOverlay(overlay), fabricChecks)).toEqual(expected(fabricChecks));
    },
    60_000,
  );

  test("single-node", () => {
    expect(verdicts(renderOverlay("single-node"), singleNodeChecks)).toEqual(expected(singleNodeChecks));
  }, 60_000);

  test.each(Object.keys(TOPOLOGY_OF))(
    "k8s/%s: Prometheus reaches every metrics port of every pod",
    (overlay) => {
      const objects = renderOverlay(overlay);
      const policy = networkPolicies(objects);
      const namespace = objects.find((object) => object.kind === "Namespace")!.metadata.name;
      const unreachable = objects
        .filter((object) => ["Deployment", "StatefulSet"].includes(object.kind))
        .flatMap((object) => {
          const template = (object as Workload).spec.template;
          const pod: Endpoint = {
            name: object.metadata.name,
            ip: "10.244.1.20",
            namespace,
            podLabels: template.metadata.labels,
          };
          return template.spec.containers.flatMap((c) =>
            (c.ports ?? [])
              .filter((port) => port.name.endsWith("metrics"))
              .filter((port) => !policy.allowed(endpoints(namespace).prometheus, pod, port.containerPort))
              .map((port) => `${object.metadata.name}/${c.name}:${port.containerPort}`),
          );
        });
      expect(unreachable).toEqual([]);
    },
    60_000,
  );

  test("the evaluation catches a missing or loosened policy", () => {
    const objects = renderOverlay("fabric");
    const withoutNats = objects.filter((o) => !(o.kind === "NetworkPolicy" && o.metadata.name === "nats"));
    expect(networkPolicies(withoutNats).allowed(at.collector, at.nats, 4222)).toBe(false);
    const loosened = structuredClone(objects);
    const relays = loosened.find(
      (o) => o.kind === "NetworkPolicy" && o.metadata.name === "alphapulse-relays",
    )!;
    (relays.spec as { egress: { to?: unknown }[] }).egress[0]!.to = undefined;
    expect(networkPolicies(loosened).allowed(at.serving, at.exchange, 4222)).toBe(true);
  }, 60_000);
});

describe("the rendered nats.conf on three real nats-server processes", () => {
  const nats = natsOf(renderOverlay("production"));
  const dir = mkdtempSync(path.join(tmpdir(), "ap-test-ops-nats-"));
  const servers: { name: string; address: string; proc: Bun.Subprocess<"ignore", "ignore", "pipe"> }[] = [];
  const portNumbers = {
    client: portOf(nats.server, "client"),
    cluster: portOf(nats.server, "cluster"),
    monitor: portOf(nats.server, "monitor"),
  };
  const monitor = (address: string, pathAndQuery: string) =>
    `http://${address}:${portNumbers.monitor}${pathAndQuery}`;

  /**
   * Three loopback addresses (127.x.y.1-3) on which the manifest's own ports are free: each
   * server keeps the config's ports and binds its own address, as each pod has its own IP.
   */
  function freeAddresses(): string[] {
    for (let attempt = 0; attempt < 50; attempt++) {
      const prefix = `127.${1 + Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
      const addresses = [1, 2, 3].map((host) => `${prefix}.${host}`);
      const held: { stop(closeActiveConnections?: boolean): void }[] = [];
      try {
        for (const hostname of addresses) {
          for (const port of Object.values(portNumbers))
            held.push(Bun.listen({ hostname, port, socket: { data() {} } }));
        }
        return addresses;
      } catch {
        // Taken: another set of addresses.
      } finally {
        for (const listener of held) listener.stop(true);
      }
    }
    throw new Error("no loopback addresses with the NATS ports free");
  }

  beforeAll(async () => {
    if (Bun.which("nats-server") === null)
      throw new Error("nats-server is missing: apt-get install nats-server");
    const addresses = freeAddresses();
    const pidFile = nats.setting("pid_file")!;
    for (const [i, address] of addresses.entries()) {
      const name = `nats-${i}`;
      // Only where things are changes: each pod's address for 0.0.0.0 and for its DNS name,
      // and the pod's volumes for folders here.
      let config = nats.config.replaceAll("0.0.0.0", address);
      for (const [j, other] of addresses.entries())
        config = config.replaceAll(`nats-${j}.${nats.headless.metadata.name}`, other);
      config = config
        .replace(
          new RegExp(`store_dir:\\s*${nats.setting("store_dir")}`),
          `store_dir: ${path.join(dir, name)}`,
        )
        .replace(pidFile, path.join(dir, `${name}.pid`));
      const file = path.join(dir, `${name}.conf`);
      writeFileSync(file, config);
      const proc = Bun.spawn(["nats-server", "-c", file], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", POD_NAME: name },
        stdin: "ignore",
        stdout: "ignore",
        stderr: "pipe",
      });
      servers.push({ name, address, proc });
    }
  }, 60_000);

  afterAll(async () => {
    for (const server of servers) {
      server.proc.kill("SIGKILL");
      await server.proc.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  test("the cluster forms: every server answers the manifest's probes, by its pod's name, with routes to both others", async () => {
    const probes = [nats.server.startupProbe, nats.server.readinessProbe, nats.server.livenessProbe].map(
      (probe) => probe!.httpGet!,
    );
    for (const probe of probes) expect(portOf(nats.server, probe.port)).toBe(portNumbers.monitor);
    for (const server of servers) {
      for (const probe of probes) {
        await waitFor(`${server.name} ${probe.path}`, async () =>
          (await httpStatus(monitor(server.address, probe.path))) === 200 ? true : undefined,
        );
      }
      const varz = (await (await fetch(monitor(server.address, "/varz"))).json()) as { server_name: string };
      expect(varz.server_name).toBe(server.name);
      const routes = await waitFor(`${server.name} routes`, async () => {
        const routez = (await (await fetch(monitor(server.address, "/routez"))).json()) as {
          num_routes: number;
        };
        return routez.num_routes === 2 ? routez.num_routes : undefined;
      });
      expect(routes).toBe(2);
    }
    const meta = await waitFor("a JetStream meta leader", async () => {
      const jsz = (await (await fetch(monitor(servers[0]!.address, "/jsz"))).json()) as {
        meta_cluster?: { name: string; leader?: string; cluster_size: number };
      };
      return jsz.meta_cluster?.leader ? jsz.meta_cluster : undefined;
    });
    expect(meta.cluster_size).toBe(3);
    expect(servers.map((server) => server.name)).toContain(meta.leader ?? "no leader");
  }, 120_000);

  test("the preStop hook's lame duck stops a server within the grace period; the other two keep JetStream", async () => {
    const leaving = servers[0]!;
    const command = nats.server.lifecycle!.preStop!.exec!.command.map((arg) =>
      arg
        .replace("/nats-server", "nats-server")
        .replace(nats.setting("pid_file")!, path.join(dir, `${leaving.name}.pid`)),
    );
    const started = performance.now();
    expect(Bun.spawnSync(command).exitCode).toBe(0);
    expect(await leaving.proc.exited).toBe(0);
    expect(performance.now() - started).toBeLessThan(
      nats.statefulSet.spec.template.spec.terminationGracePeriodSeconds! * 1000,
    );
    for (const server of servers.slice(1)) {
      const probe = nats.server.livenessProbe!.httpGet!;
      expect(await httpStatus(monitor(server.address, probe.path))).toBe(200);
    }
    const meta = await waitFor("a meta leader among the remaining two", async () => {
      const jsz = (await (await fetch(monitor(servers[1]!.address, "/jsz"))).json()) as {
        meta_cluster?: { leader?: string };
      };
      const leader = jsz.meta_cluster?.leader;
      return leader !== undefined && leader !== leaving.name ? leader : undefined;
    });
    expect(["nats-1", "nats-2"]).toContain(meta);
  }, 120_000);
});
