// Test support: real nats-server processes on free loopback ports, each with its own temporary
// store folder: one JetStream node, or a three-node JetStream cluster (one config file per
// node). A node can be killed (SIGKILL), stopped and started again on the same ports and store;
// stop() kills every node and removes the folders.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Subprocess } from "bun";
import { NATS_SERVER, natsNodeConfig } from "../../src/cli/nats-config.ts";

/**
 * `span` consecutive loopback ports nothing listens on right now, below the ephemeral range (so
 * outgoing connections do not take them meanwhile): for programs that use a port and the ones after it.
 */
export function freePortRange(span: number): number {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (12_000 - span));
    const taken: { stop(closeActiveConnections?: boolean): void }[] = [];
    try {
      for (let port = base; port < base + span; port++) {
        taken.push(Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }));
      }
      return base;
    } catch {
      // one of them is in use: another base
    } finally {
      for (const server of taken) server.stop(true);
    }
  }
  throw new Error(`no ${span} free consecutive ports`);
}

/** A loopback port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

export class NatsNode {
  process: Subprocess<"ignore", "ignore", "pipe"> | null = null;
  private stderr = "";

  constructor(
    readonly name: string,
    readonly port: number,
    readonly httpPort: number,
    readonly configPath: string,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  start(): void {
    if (this.process !== null) throw new Error(`${this.name} is already running`);
    const proc = Bun.spawn([NATS_SERVER, "-c", this.configPath], { stdout: "ignore", stderr: "pipe" });
    this.process = proc;
    void (async () => {
      for await (const chunk of proc.stderr)
        this.stderr = (this.stderr + new TextDecoder().decode(chunk)).slice(-20_000);
    })();
  }

  /** Kills the node (SIGKILL by default) and waits for it to exit. */
  async kill(signal: "SIGKILL" | "SIGTERM" = "SIGKILL"): Promise<void> {
    const proc = this.process;
    if (proc === null) return;
    proc.kill(signal);
    await proc.exited;
    this.process = null;
  }

  /** The server's last log lines, for a failing test's message. */
  log(): string {
    return this.stderr;
  }

  async healthy(): Promise<boolean> {
    try {
      const response = await fetch(`http://127.0.0.1:${this.httpPort}/healthz`, {
        signal: AbortSignal.timeout(1000),
      });
      return response.status === 200;
    } catch {
      return false;
    }
  }

  /** The monitoring endpoint's JSON (e.g. "jsz?streams=true"). */
  async monitor(pathAndQuery: string): Promise<Record<string, unknown>> {
    const response = await fetch(`http://127.0.0.1:${this.httpPort}/${pathAndQuery}`, {
      signal: AbortSignal.timeout(2000),
    });
    return (await response.json()) as Record<string, unknown>;
  }
}

export class NatsCluster {
  private constructor(
    readonly nodes: NatsNode[],
    private readonly root: string,
  ) {}

  /** Starts `count` nodes (1, or 3 as a cluster) and waits until JetStream answers on each. */
  static async start(count: 1 | 3): Promise<NatsCluster> {
    const root = mkdtempSync(path.join(tmpdir(), "ap-test-nats-"));
    const ports = await Promise.all(
      Array.from({ length: count }, async () => ({
        client: await freePort(),
        cluster: await freePort(),
        http: await freePort(),
      })),
    );
    const nodes = ports.map((p, i) => {
      const name = `n${i + 1}`;
      const configPath = path.join(root, `${name}.conf`);
      writeFileSync(configPath, natsNodeConfig(name, p, path.join(root, name), ports));
      return new NatsNode(name, p.client, p.http, configPath);
    });
    const cluster = new NatsCluster(nodes, root);
    for (const node of nodes) node.start();
    await cluster.waitHealthy();
    return cluster;
  }

  get urls(): string {
    return this.nodes.map((node) => node.url).join(",");
  }

  /** Waits until every running node reports itself healthy (JetStream up, meta leader known). */
  async waitHealthy(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const node of this.nodes) {
      if (node.process === null) continue;
      while (!(await node.healthy())) {
        if (Date.now() > deadline) throw new Error(`${node.name} not healthy: ${node.log().slice(-2000)}`);
        await Bun.sleep(100);
      }
    }
  }

  node(name: string): NatsNode {
    const node = this.nodes.find((n) => n.name === name);
    if (node === undefined) throw new Error(`no node ${name}`);
    return node;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.kill()));
    rmSync(this.root, { recursive: true, force: true });
  }
}
