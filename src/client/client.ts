// The AlphaPulse client SDK: connects to one of several broadcasters, subscribes, checks every
// topic's sequence, keeps local books from snapshot plus deltas, and on a lost connection
// reconnects (to the next URL) resuming each topic from its last seq. Works in Bun and browsers.

import {
  type AckMessage,
  type DataMessage,
  type ErrorMessage,
  followsOn,
  isBookValidity,
  type ServerMessage,
  type WarningMessage,
} from "../protocol/messages.ts";
import type { ClientRequest, SubscribeRequest, UnsubscribeRequest } from "../protocol/requests.ts";
import { isPattern, parseTopic, topicMatches } from "../protocol/topics.ts";
import { LocalBook } from "./book.ts";

export interface ClientOptions {
  /** One or more broadcaster URLs (ws://host:8765/ws); reconnects go round-robin. */
  readonly urls: readonly string[];
  readonly token?: string;
  /** Reconnect after a lost connection (default true). */
  readonly reconnect?: boolean;
  readonly reconnectDelayMs?: number;
  readonly maxReconnectDelayMs?: number;
  /** Keep a LocalBook per book topic (default true). */
  readonly books?: boolean;
  /** How long requests wait for their ack (default 10 s). */
  readonly requestTimeoutMs?: number;
}

/** A topic whose messages did not follow on: the client resubscribes it for a fresh start. */
export interface GapEvent {
  readonly topic: string;
  /** The seq the client had; the message that did not follow it (or the server's "gap" notice). */
  readonly expected: number;
  readonly got: number;
}

export interface ClientEvents {
  open: (url: string) => void;
  close: (code: number, reason: string) => void;
  /** Every data message, after sequence checks and book updates. */
  message: (message: DataMessage) => void;
  /** A book changed (snapshot or delta applied). */
  book: (topic: string, book: LocalBook, message: DataMessage) => void;
  gap: (gap: GapEvent) => void;
  serverError: (error: ErrorMessage) => void;
  warning: (warning: WarningMessage) => void;
}

type Listeners = { [K in keyof ClientEvents]: Array<ClientEvents[K]> };

interface Pending {
  resolve(message: AckMessage): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

export class AlphaPulseClient {
  private socket: WebSocket | null = null;
  private urlIndex = 0;
  private closedByUser = false;
  private attempts = 0;
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private readonly listeners: Listeners = {
    open: [],
    close: [],
    message: [],
    book: [],
    gap: [],
    serverError: [],
    warning: [],
  };
  /** What the user asked for (topics and patterns), replayed on reconnect. */
  private readonly wanted = new Set<string>();
  /** Last seq per concrete topic. */
  private readonly seqs = new Map<string, number>();
  private readonly localBooks = new Map<string, LocalBook>();
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  /** Gaps seen: a correct stream has none. */
  gaps = 0;
  /** Connections opened, the first included. */
  connections = 0;

  constructor(private readonly options: ClientOptions) {
    if (options.urls.length === 0) throw new Error("AlphaPulseClient: give at least one URL");
  }

  on<K extends keyof ClientEvents>(event: K, listener: ClientEvents[K]): this {
    this.listeners[event].push(listener);
    return this;
  }

  /** Connects (to the next URL in turn); resolves once open, resubscribing what was wanted. */
  connect(): Promise<void> {
    this.closedByUser = false;
    const url = this.options.urls[this.urlIndex % this.options.urls.length]!;
    this.urlIndex++;
    const target = this.options.token
      ? `${url}${url.includes("?") ? "&" : "?"}token=${encodeURIComponent(this.options.token)}`
      : url;
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(target);
      this.socket = socket;
      let opened = false;
      socket.onopen = () => {
        opened = true;
        this.attempts = 0;
        this.connections++;
        for (const listener of this.listeners.open) listener(url);
        if (this.wanted.size > 0) {
          this.request({ op: "subscribe", topics: [...this.wanted], resume: this.resumeMap() }).catch(
            () => {},
          );
        }
        resolve();
      };
      socket.onmessage = (event) => this.onFrame(String(event.data));
      socket.onclose = (event) => {
        if (this.socket === socket) this.socket = null;
        for (const [id, pending] of this.pending) {
          clearTimeout(pending.timer);
          pending.reject(new Error(`connection closed (${event.code})`));
          this.pending.delete(id);
        }
        for (const listener of this.listeners.close) listener(event.code, event.reason);
        if (!opened) reject(new Error(`cannot connect to ${url} (${event.code})`));
        if (!this.closedByUser && this.options.reconnect !== false) this.scheduleReconnect();
      };
    });
  }

  /** Subscribes topics or patterns; resolves with the ack. */
  subscribe(topics: readonly string[]): Promise<AckMessage> {
    for (const topic of topics) this.wanted.add(topic);
    return this.request({ op: "subscribe", topics, resume: this.resumeMap(topics) });
  }

  unsubscribe(topics: readonly string[]): Promise<AckMessage> {
    for (const topic of topics) {
      this.wanted.delete(topic);
      const parts = parseTopic(topic);
      for (const known of [...this.seqs.keys()]) {
        const knownParts = parseTopic(known);
        if (known === topic || (parts && knownParts && isPattern(topic) && topicMatches(parts, knownParts))) {
          this.seqs.delete(known);
          this.localBooks.delete(known);
        }
      }
    }
    return this.request({ op: "unsubscribe", topics });
  }

  /** The local book of a subscribed book topic. */
  book(topic: string): LocalBook | undefined {
    return this.localBooks.get(topic);
  }

  lastSeq(topic: string): number | undefined {
    return this.seqs.get(topic);
  }

  get connected(): boolean {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  close(): void {
    this.closedByUser = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.socket?.close(1000, "client closing");
  }

  /** Resume positions for the concrete topics we know (all of them, or those under `topics`). */
  private resumeMap(topics?: readonly string[]): Record<string, number> {
    const resume: Record<string, number> = {};
    for (const [topic, seq] of this.seqs) {
      if (seq < 0) continue;
      if (topics === undefined || topics.some((t) => t === topic || coveredBy(t, topic))) resume[topic] = seq;
    }
    return resume;
  }

  /** Sends a (un)subscribe with an id; resolves with its ack. */
  private request(request: SubscribeRequest | UnsubscribeRequest): Promise<AckMessage> {
    const socket = this.socket;
    if (socket === null || socket.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error("not connected"));
    }
    const id = `r${this.nextId++}`;
    const sent: ClientRequest = { ...request, id };
    socket.send(JSON.stringify(sent));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no answer to ${request.op} in time`));
      }, this.options.requestTimeoutMs ?? 10_000);
      this.pending.set(id, { resolve, reject, timer });
    });
  }

  private scheduleReconnect(): void {
    const base = this.options.reconnectDelayMs ?? 100;
    const delay = Math.min(this.options.maxReconnectDelayMs ?? 5000, base * 2 ** Math.min(this.attempts, 10));
    this.attempts++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect().catch(() => {}); // a failed attempt closes, which schedules the next
    }, delay);
  }

  private settle(id: unknown, outcome: AckMessage | Error): void {
    if (typeof id !== "string") return;
    const pending = this.pending.get(id);
    if (!pending) return;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    if (outcome instanceof Error) pending.reject(outcome);
    else pending.resolve(outcome);
  }

  private onFrame(text: string): void {
    const message = JSON.parse(text) as ServerMessage;
    switch (message.type) {
      case "ack":
        if (message.seqs) for (const [topic, seq] of Object.entries(message.seqs)) this.seqs.set(topic, seq);
        this.settle(message.id, message);
        return;
      case "error":
        for (const listener of this.listeners.serverError) listener(message);
        this.settle(message.id, new Error(`${message.code}: ${message.message}`));
        return;
      case "warning":
        for (const listener of this.listeners.warning) listener(message);
        return;
      case "pong":
        return;
      default:
        this.onData(message);
    }
  }

  private onData(message: DataMessage): void {
    const topic = message.topic;
    const last = this.seqs.get(topic);
    if (!followsOn(message, last)) {
      this.onGap(topic, last ?? -1, message.seq);
      return;
    }
    if (message.type === "status" && message.status === "gap") {
      // The server could not resume this topic: a fresh snapshot follows.
      this.gaps++;
      for (const listener of this.listeners.gap) listener({ topic, expected: last ?? -1, got: message.seq });
    }
    this.seqs.set(topic, message.seq);
    if (this.options.books !== false && topic.startsWith("book.")) this.updateBook(topic, message);
    for (const listener of this.listeners.message) listener(message);
  }

  private updateBook(topic: string, message: DataMessage): void {
    let book = this.localBooks.get(topic);
    if (book === undefined) {
      const parts = parseTopic(topic);
      book = new LocalBook(parts?.exchange ?? "", parts?.symbol ?? "");
      this.localBooks.set(topic, book);
    }
    switch (message.type) {
      case "snapshot":
        book.applySnapshot(message);
        break;
      case "delta":
        if (!book.hasSnapshot) return;
        book.applyDelta(message);
        break;
      case "status":
        if (message.status === "restarted" || message.status === "gap") book.reset("unknown");
        else if (isBookValidity(message.status)) book.status = message.status;
        book.seq = message.seq;
        break;
      default:
        return;
    }
    for (const listener of this.listeners.book) listener(topic, book, message);
  }

  /** A message did not follow on: drop the topic's state and subscribe it afresh. */
  private onGap(topic: string, expected: number, got: number): void {
    this.gaps++;
    for (const listener of this.listeners.gap) listener({ topic, expected, got });
    this.seqs.delete(topic);
    this.localBooks.get(topic)?.reset("unknown");
    const socket = this.socket;
    if (socket === null) return;
    const requests: ClientRequest[] = [
      { op: "unsubscribe", topics: [topic] },
      { op: "subscribe", topics: [topic] },
    ];
    for (const request of requests) socket.send(JSON.stringify(request));
  }
}

function coveredBy(pattern: string, topic: string): boolean {
  if (!isPattern(pattern)) return false;
  const p = parseTopic(pattern);
  const t = parseTopic(topic);
  return p !== null && t !== null && topicMatches(p, t);
}

export { LocalBook };
