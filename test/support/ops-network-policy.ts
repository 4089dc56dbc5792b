// What the rendered NetworkPolicies let through, worked out the way the Kubernetes API defines it
// (a connection needs the source's egress and the destination's ingress; a pod that no policy of
// a direction selects is open in that direction; rules are unions; an empty peer or port list
// matches everything). No cluster runs here, so this is how the policies' intent is tested:
// "collectors reach the venues and NATS, relays reach NATS only", as connections, not as YAML.
// Supports what the manifests use: matchLabels selectors, namespace selectors, IPv4 ipBlocks
// with except, numeric ports. Anything else is refused loudly rather than misjudged.
import type { K8sObject } from "./ops-manifests.ts";

/** One end of a connection: a pod (of our namespace or another) or an address outside the cluster. */
export interface Endpoint {
  readonly name: string;
  readonly ip: string;
  /** Absent: outside the cluster. */
  readonly namespace?: string;
  readonly podLabels?: Record<string, string>;
}

type Selector = { matchLabels?: Record<string, string>; matchExpressions?: unknown };
type Peer = {
  podSelector?: Selector;
  namespaceSelector?: Selector;
  ipBlock?: { cidr: string; except?: string[] };
};
type PortRule = { protocol?: string; port?: number | string; endPort?: number };
type Rule = { from?: Peer[]; to?: Peer[]; ports?: PortRule[] };
type PolicySpec = {
  podSelector: Selector;
  policyTypes?: string[];
  ingress?: Rule[];
  egress?: Rule[];
};

function matches(selector: Selector | undefined, labels: Record<string, string>): boolean {
  if (selector?.matchExpressions !== undefined) throw new Error("matchExpressions are not supported here");
  return Object.entries(selector?.matchLabels ?? {}).every(([key, value]) => labels[key] === value);
}

function ipv4(address: string): number | undefined {
  const parts = address.split(".").map(Number);
  if (parts.length !== 4 || parts.some((part) => !Number.isInteger(part) || part < 0 || part > 255)) {
    return undefined;
  }
  return parts.reduce((value, part) => value * 256 + part, 0);
}

function inCidr(address: string, cidr: string): boolean {
  const [base, bits] = cidr.split("/");
  const ip = ipv4(address);
  const network = ipv4(base!);
  // An IPv6 block never holds an IPv4 address (and the endpoints here are IPv4).
  if (ip === undefined || network === undefined) return false;
  const size = 2 ** (32 - Number(bits));
  return Math.floor(ip / size) === Math.floor(network / size);
}

function namespaceLabels(namespace: string): Record<string, string> {
  return { "kubernetes.io/metadata.name": namespace };
}

function peerMatches(peer: Peer, policyNamespace: string, other: Endpoint): boolean {
  if (peer.ipBlock !== undefined) {
    return (
      inCidr(other.ip, peer.ipBlock.cidr) &&
      !(peer.ipBlock.except ?? []).some((cidr) => inCidr(other.ip, cidr))
    );
  }
  if (other.namespace === undefined) return false;
  const namespaceOk =
    peer.namespaceSelector === undefined
      ? other.namespace === policyNamespace
      : matches(peer.namespaceSelector, namespaceLabels(other.namespace));
  const podOk = peer.podSelector === undefined || matches(peer.podSelector, other.podLabels ?? {});
  return namespaceOk && podOk;
}

function portMatches(rule: PortRule, port: number, protocol: string): boolean {
  if (typeof rule.port === "string") throw new Error(`named port ${rule.port} is not supported here`);
  if ((rule.protocol ?? "TCP") !== protocol) return false;
  if (rule.port === undefined) return true;
  return rule.endPort === undefined ? rule.port === port : port >= rule.port && port <= rule.endPort;
}

/** The connections the policies of `objects` allow: `allowed(from, to, port)`. */
export function networkPolicies(objects: K8sObject[]) {
  const policies = objects
    .filter((object) => object.kind === "NetworkPolicy")
    .map((object) => ({ namespace: object.metadata.namespace!, spec: object.spec as PolicySpec }));

  /** Whether `pod`'s side lets the connection with `other` through in `direction`. */
  function sideAllows(
    direction: "Ingress" | "Egress",
    pod: Endpoint,
    other: Endpoint,
    port: number,
    protocol: string,
  ) {
    const selecting = policies.filter(
      (policy) =>
        policy.namespace === pod.namespace &&
        matches(policy.spec.podSelector, pod.podLabels ?? {}) &&
        (policy.spec.policyTypes ?? ["Ingress"]).includes(direction),
    );
    if (selecting.length === 0) return true;
    return selecting.some((policy) =>
      (direction === "Ingress" ? policy.spec.ingress : policy.spec.egress)?.some((rule) => {
        const peers = direction === "Ingress" ? rule.from : rule.to;
        const peerOk =
          peers === undefined ||
          peers.length === 0 ||
          peers.some((peer) => peerMatches(peer, policy.namespace, other));
        const portOk =
          rule.ports === undefined ||
          rule.ports.length === 0 ||
          rule.ports.some((p) => portMatches(p, port, protocol));
        return peerOk && portOk;
      }),
    );
  }

  const governed = new Set(policies.map((policy) => policy.namespace));
  return {
    allowed(from: Endpoint, to: Endpoint, port: number, protocol = "TCP"): boolean {
      // Ends outside the namespaces these policies govern are not restricted by them.
      const egress =
        from.namespace === undefined ||
        !governed.has(from.namespace) ||
        sideAllows("Egress", from, to, port, protocol);
      const ingress =
        to.namespace === undefined ||
        !governed.has(to.namespace) ||
        sideAllows("Ingress", to, from, port, protocol);
      return egress && ingress;
    },
  };
}
