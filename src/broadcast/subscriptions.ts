// A client's state on the broadcaster and its subscriptions: the concrete topics it holds, joined
// to uWebSockets' topic pub/sub and counted in the subscriptions gauge. Every part that adds or
// drops a subscription goes through here, so the gauge and uWS agree with the client's state.
import { type Channel, parseTopic, type TopicParts } from "../protocol/topics.ts";
import type { BroadcastMetrics } from "./metrics.ts";
import type { Topic } from "./topic.ts";

export interface ClientState {
  readonly id: number;
  /** Concrete topics subscribed (or held for a resume). */
  readonly topics: Set<string>;
  /** Wildcard patterns: topics that appear later and match join `topics`. */
  patterns: TopicParts[];
  /** Token bucket for ops per second. */
  tokens: number;
  refilledAt: number;
  /** Rate-limit errors since the bucket was last full: past a few, the client is closed. */
  strikes: number;
  /** Warned of being slow, and not caught up since. */
  warned: boolean;
}

/** A new client's state: a full request bucket (twice `opsPerSecond`), no topics. */
export function newClientState(id: number, opsPerSecond: number): ClientState {
  return {
    id,
    topics: new Set(),
    patterns: [],
    tokens: opsPerSecond * 2,
    refilledAt: performance.now(),
    strikes: 0,
    warned: false,
  };
}

/** What the broadcaster's parts use of a client's socket (Bun's ServerWebSocket is one). */
export interface ClientConnection {
  readonly data: ClientState;
  send(text: string): unknown;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  close(code?: number, reason?: string): void;
}

/** The topics the broadcaster serves now, and its poll round (see RingHub.round). */
export interface TopicRegistry {
  readonly topics: ReadonlyMap<string, Topic>;
  readonly round: number;
}

export class Subscriptions {
  constructor(
    private readonly registry: TopicRegistry,
    private readonly metrics: BroadcastMetrics,
  ) {}

  /** Adds a subscription; `live` false holds the topic's messages back until `join`. */
  add(client: ClientConnection, topic: Topic, live = true): void {
    client.data.topics.add(topic.name);
    if (live) client.subscribe(topic.name);
    this.metrics.subscriptionsBy[topic.channel].inc();
  }

  /** Lets a held subscription's messages through. */
  join(client: ClientConnection, topic: Topic): void {
    client.subscribe(topic.name);
  }

  remove(client: ClientConnection, name: string): boolean {
    if (!client.data.topics.delete(name)) return false;
    client.unsubscribe(name);
    this.countDown(name);
    return true;
  }

  /** A closed client's subscriptions (uWS has dropped them already). */
  dropAll(client: ClientConnection): void {
    for (const name of client.data.topics) this.countDown(name);
    client.data.topics.clear();
  }

  private countDown(name: string): void {
    // From the topic registry, without parsing the name, when the topic is still served.
    const channel: Channel | undefined = this.registry.topics.get(name)?.channel ?? parseTopic(name)?.channel;
    if (channel) this.metrics.subscriptionsBy[channel].dec();
  }
}
