// The broadcaster's public port: WebSocket clients at /ws (subscribe, resume, ping; native
// topic pub/sub so each message is built once and fanned out in native code), REST under
// /api/v1, and the live page at /. It enforces the client limits, auth and Origin allowlist,
// and warns then closes slow consumers. Subscribers that arrive between two ring polls share one
// starting text per topic, so a reconnect storm does not build a snapshot per client.
import { timingSafeEqual } from "node:crypto";
import type { Server, ServerWebSocket } from "bun";
import type { Logger } from "../log.ts";
import {
  encodeError,
  encodeGap,
  encodePong,
  encodeSlowConsumerWarning,
  encodeSubscribeAck,
  encodeUnsubscribeAck,
} from "../protocol/encode.ts";
import { CloseCode, type ErrorCode } from "../protocol/messages.ts";
import {
  decodeRequest,
  type RequestId,
  type ValidSubscribe,
  type ValidUnsubscribe,
} from "../protocol/requests.ts";
import { type Channel, parseTopic, sameTopic, type TopicParts, topicMatches } from "../protocol/topics.ts";
import livePage from "./live-page.html";
import type { BroadcastMetrics } from "./metrics.ts";
import type { RingHub } from "./ring-hub.ts";
import type { Topic } from "./topic.ts";

export interface BroadcastServerOptions {
  readonly port: number;
  readonly hostname: string;
  /** Clients must present it (?token= or Authorization: Bearer) when set. */
  readonly token: string | undefined;
  /** Browser Origins allowed to open /ws; empty allows any. Clients that send no Origin pass. */
  readonly allowedOrigins: readonly string[];
  readonly maxTopicsPerClient: number;
  readonly maxFrameBytes: number;
  readonly opsPerSecond: number;
  readonly idleTimeoutSeconds: number;
  /** A client whose unsent bytes pass this is warned... */
  readonly slowWarnBytes: number;
  /** ...and closed with 4008 past this (checked every slowCheckMs). */
  readonly slowCloseBytes: number;
  /** All clients' unsent bytes together: past it, the clients furthest behind are closed with 4008. */
  readonly sendBudgetBytes: number;
  readonly slowCheckMs: number;
  readonly compression: boolean;
  readonly log: Logger;
  readonly metrics: BroadcastMetrics;
  readonly hub: RingHub;
}

interface ClientState {
  readonly id: number;
  readonly topics: Set<string>;
  patterns: TopicParts[];
  /** Token bucket for ops per second. */
  tokens: number;
  refilledAt: number;
  warned: boolean;
  /** Rate-limit errors since the bucket was last full: past a few, the client is closed. */
  strikes: number;
}

type Client = ServerWebSocket<ClientState>;

export interface BroadcastServer {
  readonly port: number;
  clientCount(): number;
  /** Stops accepting, closes every client with 1001, and waits (up to graceMs) for them to go. */
  drain(graceMs: number): Promise<void>;
  stop(): void;
}

const JSON_HEADERS = { "content-type": "application/json" };
/** Frames past this are refused by the WebSocket layer itself (close 1009). */
const HARD_FRAME_LIMIT = 1024 * 1024;
/** How long a resume from a seq this broadcaster has not reached yet waits for it to get there. */
const RESUME_AHEAD_WAIT_MS = 1000;

/** A client resuming from a seq past this broadcaster's position (it came from one ahead). */
interface WaitingResume {
  readonly ws: ServerWebSocket<ClientState>;
  readonly topic: Topic;
  readonly last: number;
  readonly until: number;
}

export function startBroadcastServer(options: BroadcastServerOptions): BroadcastServer {
  const { hub, metrics, log } = options;
  const clients = new Set<Client>();
  const patternClients = new Set<Client>();
  let nextId = 1;
  let accepting = true;
  const waitingResumes: WaitingResume[] = [];
  let resumeTimer: ReturnType<typeof setInterval> | null = null;

  function sendError(ws: Client, code: ErrorCode, message: string, id?: RequestId): void {
    metrics.clientErrors.labels(code).inc();
    ws.send(encodeError(code, message, id));
  }

  function authorized(request: Request, url: URL): boolean {
    const token = options.token;
    if (token === undefined) return true;
    const header = request.headers.get("authorization");
    const given = url.searchParams.get("token") ?? (header?.startsWith("Bearer ") ? header.slice(7) : null);
    if (given === null) return false;
    const a = Buffer.from(given);
    const b = Buffer.from(token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** Adds a subscription; `live` false holds the topic's messages back until ws.subscribe. */
  function subscribeOne(ws: Client, topic: Topic, live = true): void {
    ws.data.topics.add(topic.name);
    if (live) ws.subscribe(topic.name);
    metrics.subscriptionsBy[topic.channel].inc();
  }

  /** A subscribed topic's channel: from the topic registry, without parsing its name. */
  function channelOf(name: string): Channel | undefined {
    return hub.topics.get(name)?.channel ?? parseTopic(name)?.channel;
  }

  function unsubscribeOne(ws: Client, name: string): void {
    if (!ws.data.topics.delete(name)) return;
    ws.unsubscribe(name);
    const channel = channelOf(name);
    if (channel) metrics.subscriptionsBy[channel].dec();
  }

  /**
   * Starting texts built since the hub last polled, by topic. A reconnect storm subscribes
   * thousands of clients between two polls: they share one snapshot string instead of each
   * building its own (a 20-level book is about a hundred short-lived strings and arrays, which
   * is what used to set the broadcaster's peak memory).
   */
  const initialTexts = new Map<Topic, string | null>();
  let initialRound = -1;

  function initialText(topic: Topic): string | null {
    if (initialRound !== hub.round) {
      initialTexts.clear();
      initialRound = hub.round;
    }
    let text = initialTexts.get(topic);
    if (text === undefined) {
      text = topic.initial?.() ?? null;
      initialTexts.set(topic, text);
    }
    return text;
  }

  /**
   * What a new subscriber gets before the topic's live messages: what it missed, when resumed;
   * else (after a gap notice, if it asked to resume) the topic's starting message.
   */
  function sendStart(ws: Client, topic: Topic, missed: string[] | null, askedToResume: boolean): void {
    if (missed !== null) {
      for (const text of missed) ws.send(text);
      return;
    }
    if (askedToResume) ws.send(encodeGap(topic.name, topic.position, "resume_unavailable"));
    sendInitial(ws, topic);
  }

  /** The starting message of a fresh subscription: snapshot, latest bbo, venue status. */
  function sendInitial(ws: Client, topic: Topic): void {
    const text = initialText(topic);
    if (text) ws.send(text);
  }

  function handleSubscribe(ws: Client, request: ValidSubscribe): void {
    const wanted: Topic[] = [];
    const newPatterns: TopicParts[] = [];
    for (const requested of request.topics) {
      if (requested.pattern) {
        newPatterns.push(requested.parts);
        for (const topic of hub.topics.values())
          if (topicMatches(requested.parts, topic.parts)) wanted.push(topic);
        continue;
      }
      const topic = hub.topics.get(requested.name);
      if (topic === undefined) {
        const message = `no such topic: ${requested.name} (GET /api/v1/symbols lists them)`;
        sendError(ws, "bad_topic", message, request.id);
        return;
      }
      wanted.push(topic);
    }
    const fresh = [...new Set(wanted)].filter((topic) => !ws.data.topics.has(topic.name));
    if (
      ws.data.topics.size + fresh.length + ws.data.patterns.length + newPatterns.length >
      options.maxTopicsPerClient
    ) {
      sendError(
        ws,
        "too_many_topics",
        `at most ${options.maxTopicsPerClient} topics and patterns per client`,
        request.id,
      );
      return;
    }
    // Resume where possible, decided before anything is sent so the ack can say what happened.
    const seqs: Record<string, number> = {};
    const resumed: string[] = [];
    const backlog = new Map<Topic, string[]>();
    const ahead = new Map<Topic, number>();
    for (const topic of fresh) {
      const last = request.resume.get(topic.name);
      if (typeof last === "number") {
        if (last > topic.position && topic.position >= 0) {
          // The client saw more than this broadcaster has read (it came from one a little
          // ahead): resume it once this one gets there.
          resumed.push(topic.name);
          ahead.set(topic, last);
          continue;
        }
        const missed = resumeBacklog(topic, last);
        if (missed !== null) {
          resumed.push(topic.name);
          backlog.set(topic, missed);
          continue;
        }
      }
      seqs[topic.name] = topic.position;
    }
    ws.send(
      encodeSubscribeAck(
        fresh.map((t) => t.name),
        seqs,
        resumed,
        request.id,
      ),
    );
    for (const topic of fresh) {
      const last = ahead.get(topic);
      if (last !== undefined) {
        subscribeOne(ws, topic, false);
        waitingResumes.push({ ws, topic, last, until: Date.now() + RESUME_AHEAD_WAIT_MS });
        resumeTimer ??= setInterval(settleWaitingResumes, 2);
        continue;
      }
      sendStart(ws, topic, backlog.get(topic) ?? null, request.resume.has(topic.name));
      subscribeOne(ws, topic);
    }
    if (newPatterns.length > 0) {
      ws.data.patterns.push(...newPatterns);
      patternClients.add(ws);
    }
  }

  /**
   * Resumes waiting for this broadcaster to reach the client's seq: once it has, the client
   * gets what came after its seq and joins the topic; past the wait, a gap notice and a fresh
   * start. A client that left or unsubscribed meanwhile is dropped.
   */
  function settleWaitingResumes(): void {
    const now = Date.now();
    for (let i = waitingResumes.length - 1; i >= 0; i--) {
      const { ws, topic, last, until } = waitingResumes[i]!;
      const waiting = clients.has(ws) && ws.data.topics.has(topic.name);
      if (waiting && topic.position < last && now < until) continue;
      waitingResumes.splice(i, 1);
      if (!waiting) continue;
      sendStart(ws, topic, topic.position >= last ? resumeBacklog(topic, last) : null, true);
      ws.subscribe(topic.name);
    }
    if (waitingResumes.length === 0 && resumeTimer !== null) {
      clearInterval(resumeTimer);
      resumeTimer = null;
    }
  }

  /** What a client that last saw `last` missed on `topic`; null if it cannot be told exactly. */
  function resumeBacklog(topic: Topic, last: number): string[] | null {
    if (topic.channel === "bbo") {
      // A latest-value stream: the current value is all that was missed.
      if (last === topic.position) return [];
      const current = initialText(topic);
      return current === null ? null : [current];
    }
    return topic.since(last);
  }

  function handleUnsubscribe(ws: Client, request: ValidUnsubscribe): void {
    const removed: string[] = [];
    for (const requested of request.topics) {
      if (requested.pattern) {
        const parts = requested.parts;
        ws.data.patterns = ws.data.patterns.filter((p) => !sameTopic(p, parts));
        for (const subscribed of [...ws.data.topics]) {
          const subscribedParts = parseTopic(subscribed);
          if (subscribedParts && topicMatches(parts, subscribedParts)) {
            unsubscribeOne(ws, subscribed);
            removed.push(subscribed);
          }
        }
      } else if (ws.data.topics.has(requested.name)) {
        unsubscribeOne(ws, requested.name);
        removed.push(requested.name);
      }
    }
    if (ws.data.patterns.length === 0) patternClients.delete(ws);
    ws.send(encodeUnsubscribeAck(removed, request.id));
  }

  /** Token bucket: opsPerSecond sustained, twice that as a burst. */
  function allowOp(ws: Client): boolean {
    const state = ws.data;
    const now = performance.now();
    const burst = options.opsPerSecond * 2;
    state.tokens = Math.min(burst, state.tokens + ((now - state.refilledAt) / 1000) * options.opsPerSecond);
    state.refilledAt = now;
    if (state.tokens >= 1) {
      state.tokens -= 1;
      if (state.tokens >= burst - 1) state.strikes = 0;
      return true;
    }
    return false;
  }

  function onMessage(ws: Client, message: string | Buffer): void {
    if (!allowOp(ws)) {
      ws.data.strikes++;
      if (ws.data.strikes > 20) {
        ws.close(CloseCode.RateLimited, "too many requests");
        return;
      }
      sendError(ws, "rate_limited", `at most ${options.opsPerSecond} requests per second`);
      return;
    }
    const request = decodeRequest(message, options.maxFrameBytes);
    switch (request.op) {
      case "refused":
        sendError(ws, request.code, request.message, request.id);
        return;
      case "subscribe":
        handleSubscribe(ws, request);
        return;
      case "unsubscribe":
        handleUnsubscribe(ws, request);
        return;
      case "ping":
        ws.send(encodePong(Date.now() * 1000, request.id));
        return;
    }
  }

  function restError(status: number, message: string): Response {
    return new Response(JSON.stringify({ error: message, status }), { status, headers: JSON_HEADERS });
  }

  function intParam(url: URL, name: string, fallback: number, max: number): number | null {
    const raw = url.searchParams.get(name);
    if (raw === null) return fallback;
    if (!/^\d+$/.test(raw)) return null;
    const value = Number(raw);
    return value >= 1 && value <= max ? value : null;
  }

  function rest(url: URL): Response {
    const parts = url.pathname.split("/").filter((p) => p !== "");
    const [, , resource, exchange, symbol] = parts;
    if (resource === "symbols" && parts.length === 3) {
      const now = Date.now();
      const exchanges = [...hub.followers.values()].map((follower) => ({
        exchange: follower.exchange,
        ring: follower.path,
        generation: follower.generation,
        heartbeatAgeMs: follower.heartbeatAgeMs(),
        symbols: follower.bookStates().map((book) => ({
          symbol: book.symbol,
          book: book.status,
          lastUpdateAgeMs:
            book.publishSec === 0
              ? null
              : now - (book.publishSec * 1000 + Math.floor(book.publishNsec / 1e6)),
        })),
      }));
      return Response.json({ exchanges });
    }
    if ((resource === "book" || resource === "trades") && parts.length === 5 && exchange && symbol) {
      const channel = resource === "book" ? "book" : "trades";
      const topic = hub.topics.get(`${channel}.${exchange}.${symbol}`);
      const owner = topic ? hub.ownerOf(topic) : undefined;
      if (topic === undefined || owner === undefined) return restError(404, `no ${exchange} ${symbol} here`);
      if (resource === "book") {
        const depth = intParam(url, "depth", 20, 5000);
        if (depth === null) return restError(400, "depth must be a whole number from 1 to 5000");
        const text = owner.bookSnapshot(symbol, depth);
        return text === null
          ? restError(404, `no book for ${exchange} ${symbol}`)
          : new Response(text, { headers: JSON_HEADERS });
      }
      const limit = intParam(url, "limit", 100, 10_000);
      if (limit === null) return restError(400, "limit must be a whole number from 1 to 10000");
      return new Response(
        `{"exchange":"${exchange}","symbol":"${symbol}","trades":[${topic.recent(limit).join(",")}]}`,
        {
          headers: JSON_HEADERS,
        },
      );
    }
    return restError(404, `no route ${url.pathname}`);
  }

  const server: Server<ClientState> = Bun.serve({
    port: options.port,
    hostname: options.hostname,
    development: false,
    routes: { "/": livePage },
    fetch(request, srv) {
      const url = new URL(request.url);
      if (url.pathname === "/ws") {
        if (!accepting) return restError(503, "shutting down");
        // Headers are read only when needed: an upgrade storm makes thousands of Headers objects.
        const origin = options.allowedOrigins.length > 0 ? request.headers.get("origin") : null;
        if (origin !== null && !options.allowedOrigins.includes(origin)) {
          return restError(403, `origin ${origin} is not allowed`);
        }
        if (!authorized(request, url)) return restError(401, "missing or wrong token");
        const data: ClientState = {
          id: nextId++,
          topics: new Set(),
          patterns: [],
          tokens: options.opsPerSecond * 2,
          refilledAt: performance.now(),
          warned: false,
          strikes: 0,
        };
        if (srv.upgrade(request, { data })) return undefined;
        return restError(400, "expected a WebSocket upgrade");
      }
      if (url.pathname.startsWith("/api/v1/")) {
        if (request.method !== "GET") return restError(405, "method not allowed");
        if (!authorized(request, url)) return restError(401, "missing or wrong token");
        return rest(url);
      }
      return restError(404, `no route ${url.pathname}`);
    },
    websocket: {
      data: {} as ClientState,
      perMessageDeflate: options.compression,
      maxPayloadLength: Math.max(HARD_FRAME_LIMIT, options.maxFrameBytes * 2),
      idleTimeout: options.idleTimeoutSeconds,
      // The memory bound per client. Well above slowCloseBytes, so the timer's warn-then-4008
      // normally closes a slow client first; this only catches a burst between two checks.
      backpressureLimit: Math.max(options.slowCloseBytes * 4, options.slowCloseBytes + 4 * 1024 * 1024),
      closeOnBackpressureLimit: true,
      sendPings: true,
      open(ws) {
        clients.add(ws);
        metrics.clients.inc();
      },
      message: onMessage,
      close(ws) {
        clients.delete(ws);
        patternClients.delete(ws);
        metrics.clients.dec();
        for (const name of ws.data.topics) {
          const channel = channelOf(name);
          if (channel) metrics.subscriptionsBy[channel].dec();
        }
        ws.data.topics.clear();
      },
      drain(ws) {
        if (ws.data.warned && ws.getBufferedAmount() < options.slowWarnBytes / 2) ws.data.warned = false;
      },
    },
  });

  // Slow consumers: warn once past the warning level, close past the limit, and keep all of
  // them together within the send budget. Checked on a timer so the cost stays off the fan-out
  // path.
  const slowTimer = setInterval(() => {
    let unsent = 0;
    const behind: Array<{ ws: Client; buffered: number }> = [];
    for (const ws of clients) {
      const buffered = ws.getBufferedAmount();
      unsent += buffered;
      if (buffered < options.slowWarnBytes) continue;
      if (!ws.data.warned) {
        // Warned first, even when already past the limit: the warning says why the close comes.
        ws.data.warned = true;
        metrics.slowWarnings.inc();
        ws.send(
          encodeSlowConsumerWarning(
            `you are ${buffered} bytes behind; past ${options.slowCloseBytes} the server closes with 4008`,
            buffered,
          ),
        );
      }
      if (buffered >= options.slowCloseBytes) {
        closeSlow(ws, buffered, "slow consumer: could not keep up");
        unsent -= buffered;
      } else {
        behind.push({ ws, buffered });
      }
    }
    if (unsent > options.sendBudgetBytes && behind.length > 0) {
      // Many slow clients at once: the ones furthest behind go first, until the rest fit.
      behind.sort((a, b) => b.buffered - a.buffered);
      for (const { ws, buffered } of behind) {
        closeSlow(ws, buffered, "slow consumer: the server's send budget is spent");
        unsent -= buffered;
        if (unsent <= options.sendBudgetBytes) break;
      }
    }
    metrics.unsentBytes.set(unsent);
  }, options.slowCheckMs);

  function closeSlow(ws: Client, buffered: number, reason: string): void {
    metrics.slowDisconnects.inc();
    log.throttled("warn", "slow-close", "closing a slow client", { client: ws.data.id, buffered, reason });
    ws.close(CloseCode.SlowConsumer, reason);
  }

  hub.start({
    send(topic, text) {
      const receivers = server.subscriberCount(topic.name);
      if (receivers > 0) server.publish(topic.name, text, options.compression && text.length > 512);
      return receivers;
    },
    topicsChanged() {
      for (const ws of patternClients) {
        for (const topic of hub.topics.values()) {
          if (ws.data.topics.has(topic.name)) continue;
          if (!ws.data.patterns.some((p) => topicMatches(p, topic.parts))) continue;
          if (ws.data.topics.size >= options.maxTopicsPerClient) break;
          ws.send(encodeSubscribeAck([topic.name], { [topic.name]: topic.position }, [], undefined));
          // Inside a poll round, where books may still change: built fresh, not from the cache.
          const text = topic.initial?.();
          if (text) ws.send(text);
          subscribeOne(ws, topic);
        }
      }
    },
  });

  return {
    port: server.port ?? options.port,
    clientCount: () => clients.size,
    async drain(graceMs) {
      accepting = false;
      clearInterval(slowTimer);
      if (resumeTimer !== null) clearInterval(resumeTimer);
      hub.stop();
      for (const ws of clients) ws.close(CloseCode.GoingAway, "server shutting down");
      const deadline = Date.now() + graceMs;
      while (clients.size > 0 && Date.now() < deadline) await Bun.sleep(10);
      server.stop(true);
    },
    stop() {
      clearInterval(slowTimer);
      if (resumeTimer !== null) clearInterval(resumeTimer);
      hub.stop();
      server.stop(true);
    },
  };
}
