// nats-server on loopback, for `alphapulse demo --fabric`: the binary and one node's config file
// (JetStream with its own store folder; cluster routes to every node when there are several).

/** The nats-server binary: on PATH, else where Debian installs it. */
export const NATS_SERVER = Bun.which("nats-server") ?? "/usr/sbin/nats-server";

export interface NatsNodePorts {
  readonly client: number;
  readonly cluster: number;
  readonly http: number;
}

/** The config of node `name`; `peers` are every node's ports (this one included), one node: itself alone. */
export function natsNodeConfig(
  name: string,
  ports: NatsNodePorts,
  storeDir: string,
  peers: readonly NatsNodePorts[],
): string {
  const lines = [
    `server_name: ${name}`,
    `listen: 127.0.0.1:${ports.client}`,
    `http: 127.0.0.1:${ports.http}`,
    `jetstream { store_dir: "${storeDir}" }`,
  ];
  if (peers.length > 1) {
    const routes = peers.map((p) => `nats-route://127.0.0.1:${p.cluster}`).join(", ");
    lines.push(`cluster { name: alphapulse, listen: 127.0.0.1:${ports.cluster}, routes: [${routes}] }`);
  }
  return `${lines.join("\n")}\n`;
}
