// Fan-out: hands each message the ring hub built to every subscriber of its topic through
// uWebSockets' native pub/sub (one publish per topic, never a loop over clients in JavaScript),
// and extends wildcard subscriptions to topics that appear later (a new ring, a new symbol).
import { encodeSubscribeAck } from "../protocol/encode.ts";
import { parseTopic, sameTopic, type TopicParts, topicMatches } from "../protocol/topics.ts";
import type { BroadcastConfig } from "./config.ts";
import type { Fanout } from "./ring-hub.ts";
import type { ClientConnection, Subscriptions, TopicRegistry } from "./subscriptions.ts";
import type { Topic } from "./topic.ts";

/** Bun's Server as far as fan-out uses it. */
export interface TopicPublisher {
  subscriberCount(topic: string): number;
  publish(topic: string, text: string, compress?: boolean): unknown;
}

/** Messages up to this size are sent uncompressed: deflate costs more than it saves on them. */
const COMPRESS_ABOVE_BYTES = 512;

/** The clients holding wildcard patterns, and what each pattern brings in. */
export class WildcardSubscriptions {
  private readonly clients = new Set<ClientConnection>();

  constructor(
    private readonly registry: TopicRegistry,
    private readonly subscriptions: Subscriptions,
    private readonly config: Pick<BroadcastConfig, "maxTopicsPerClient">,
  ) {}

  add(client: ClientConnection, patterns: readonly TopicParts[]): void {
    if (patterns.length === 0) return;
    client.data.patterns.push(...patterns);
    this.clients.add(client);
  }

  /** Drops a pattern and the concrete topics it matches; returns those topics. */
  remove(client: ClientConnection, pattern: TopicParts): string[] {
    const state = client.data;
    state.patterns = state.patterns.filter((p) => !sameTopic(p, pattern));
    if (state.patterns.length === 0) this.clients.delete(client);
    const removed: string[] = [];
    for (const name of [...state.topics]) {
      const parts = parseTopic(name);
      if (parts !== null && topicMatches(pattern, parts) && this.subscriptions.remove(client, name)) {
        removed.push(name);
      }
    }
    return removed;
  }

  forget(client: ClientConnection): void {
    this.clients.delete(client);
  }

  /** Subscribes pattern holders to matching topics they do not have yet, each with its own ack. */
  extend(): void {
    for (const client of this.clients) {
      const state = client.data;
      for (const topic of this.registry.topics.values()) {
        if (state.topics.has(topic.name)) continue;
        if (!state.patterns.some((p) => topicMatches(p, topic.parts))) continue;
        if (state.topics.size >= this.config.maxTopicsPerClient) break;
        client.send(encodeSubscribeAck([topic.name], { [topic.name]: topic.position }, [], undefined));
        // Inside a poll round, where books may still change: built fresh, not shared.
        const text = topic.initial?.();
        if (text) client.send(text);
        const stale = topic.staleNotice();
        if (stale !== null) client.send(stale);
        this.subscriptions.add(client, topic);
      }
    }
  }
}

/** The ring hub's way out: a topic's message to its subscribers, new topics to wildcard holders. */
export class TopicFanout implements Fanout {
  constructor(
    private readonly publisher: TopicPublisher,
    private readonly wildcards: WildcardSubscriptions,
    private readonly compression: boolean,
  ) {}

  send(topic: Topic, text: string): number {
    const receivers = this.publisher.subscriberCount(topic.name);
    if (receivers > 0) {
      this.publisher.publish(topic.name, text, this.compression && text.length > COMPRESS_ABOVE_BYTES);
    }
    return receivers;
  }

  topicsChanged(): void {
    this.wildcards.extend();
  }
}
