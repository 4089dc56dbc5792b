// Per-client operations on the broadcaster's WebSocket: a client's state from upgrade to close,
// and what each of its frames does (subscribe with resume, unsubscribe, ping) within its limits
// (requests per second, topics and patterns per client). Frames are validated by the protocol
// module; whether a topic exists is decided here, against the topics the rings publish.
import { encodeError, encodePong, encodeSubscribeAck, encodeUnsubscribeAck } from "../protocol/encode.ts";
import { CloseCode, type ErrorCode } from "../protocol/messages.ts";
import {
  decodeRequest,
  type RequestId,
  type ValidSubscribe,
  type ValidUnsubscribe,
} from "../protocol/requests.ts";
import { type TopicParts, topicMatches } from "../protocol/topics.ts";
import type { BroadcastConfig } from "./config.ts";
import type { WildcardSubscriptions } from "./fanout.ts";
import type { BroadcastMetrics } from "./metrics.ts";
import { admitRequest } from "./rate-limit.ts";
import type { Resumes } from "./resume.ts";
import {
  type ClientConnection,
  type ClientState,
  newClientState,
  type Subscriptions,
  type TopicRegistry,
} from "./subscriptions.ts";
import type { Topic } from "./topic.ts";

type SessionLimits = Pick<BroadcastConfig, "maxTopicsPerClient" | "maxFrameBytes" | "opsPerSecond">;

/**
 * Connections opened between two collections the sessions ask for. Each upgrade leaves a few KiB
 * of garbage (request, URL, handshake), and the runtime paces its collections by the event
 * loop's own allocation: in a storm of 10,000 clients in a second the heap grew to 120-131 MiB
 * before it caught up (measured). Asking every 2,048 opens (a collection of about 1 ms, off the
 * ring's path) held the storm's peak at 88-90 MiB.
 */
const OPENS_PER_COLLECTION = 2048;

export class ClientSessions<C extends ClientConnection> {
  /** Every open client. */
  readonly clients = new Set<C>();
  private nextId = 1;
  private opensSinceCollection = 0;

  constructor(
    private readonly limits: SessionLimits,
    private readonly registry: TopicRegistry,
    private readonly subscriptions: Subscriptions,
    private readonly resumes: Resumes,
    private readonly wildcards: WildcardSubscriptions,
    private readonly metrics: BroadcastMetrics,
  ) {}

  /** The state of a client about to be upgraded. */
  newState(): ClientState {
    return newClientState(this.nextId++, this.limits.opsPerSecond);
  }

  opened(client: C): void {
    this.clients.add(client);
    this.metrics.clients.inc();
    if (++this.opensSinceCollection === OPENS_PER_COLLECTION) {
      this.opensSinceCollection = 0;
      Bun.gc(false); // asynchronous: the storm's garbage goes, not the live clients' state
    }
  }

  closed(client: C): void {
    this.clients.delete(client);
    this.wildcards.forget(client);
    this.metrics.clients.dec();
    this.subscriptions.dropAll(client);
  }

  /** One frame from the client: admitted by its request bucket, validated, then acted on. */
  onFrame(client: C, frame: string | Uint8Array): void {
    const admission = admitRequest(client.data, performance.now(), this.limits.opsPerSecond);
    if (admission === "close") {
      client.close(CloseCode.RateLimited, "too many requests");
      return;
    }
    if (admission === "refused") {
      this.sendError(client, "rate_limited", `at most ${this.limits.opsPerSecond} requests per second`);
      return;
    }
    const request = decodeRequest(frame, this.limits.maxFrameBytes);
    switch (request.op) {
      case "refused":
        this.sendError(client, request.code, request.message, request.id);
        return;
      case "subscribe":
        this.subscribe(client, request);
        return;
      case "unsubscribe":
        this.unsubscribe(client, request);
        return;
      case "ping":
        client.send(encodePong(Date.now() * 1000, request.id));
        return;
    }
  }

  private subscribe(client: C, request: ValidSubscribe): void {
    const topics = this.registry.topics;
    const wanted: Topic[] = [];
    const patterns: TopicParts[] = [];
    for (const requested of request.topics) {
      if (requested.pattern) {
        patterns.push(requested.parts);
        for (const topic of topics.values())
          if (topicMatches(requested.parts, topic.parts)) wanted.push(topic);
        continue;
      }
      const topic = topics.get(requested.name);
      if (topic === undefined) {
        const message = `no such topic: ${requested.name} (GET /api/v1/symbols lists them)`;
        this.sendError(client, "bad_topic", message, request.id);
        return;
      }
      wanted.push(topic);
    }
    const state = client.data;
    const fresh = [...new Set(wanted)].filter((topic) => !state.topics.has(topic.name));
    const max = this.limits.maxTopicsPerClient;
    if (state.topics.size + fresh.length + state.patterns.length + patterns.length > max) {
      this.sendError(client, "too_many_topics", `at most ${max} topics and patterns per client`, request.id);
      return;
    }
    // Resume where possible, decided before anything is sent so the ack can say what happened.
    const seqs: Record<string, number> = {};
    const resumed: string[] = [];
    const plans = fresh.map((topic) => {
      const plan = this.resumes.plan(topic, request.resume.get(topic.name));
      if (plan === null) seqs[topic.name] = topic.position;
      else resumed.push(topic.name);
      return plan;
    });
    client.send(
      encodeSubscribeAck(
        fresh.map((topic) => topic.name),
        seqs,
        resumed,
        request.id,
      ),
    );
    fresh.forEach((topic, i) => {
      this.resumes.start(client, topic, request.resume.get(topic.name), plans[i]!);
    });
    this.wildcards.add(client, patterns);
  }

  private unsubscribe(client: C, request: ValidUnsubscribe): void {
    const removed: string[] = [];
    for (const requested of request.topics) {
      if (requested.pattern) removed.push(...this.wildcards.remove(client, requested.parts));
      else if (this.subscriptions.remove(client, requested.name)) removed.push(requested.name);
    }
    client.send(encodeUnsubscribeAck(removed, request.id));
  }

  private sendError(client: C, code: ErrorCode, message: string, id?: RequestId): void {
    this.metrics.clientErrors.labels(code).inc();
    client.send(encodeError(code, message, id));
  }
}
