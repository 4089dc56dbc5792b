// One venue connection kept alive: WebSocket client, per-connection watchdog (no frame for the
// venue's N seconds: reconnect), the venue's keepalive text when the link is quiet, exponential
// backoff with full jitter, a planned make-before-break rollover before the venue's lifetime
// limit (or when it says it will shut down), and capture of every frame. Frames go to the venue
// through the shared FrameIngest.
import type { RequestBudget, StreamHandle, StreamPlan, Venue } from "../exchanges/venue.ts";
import type { Logger } from "../log.ts";
import { realtimeInto } from "../shm/clock.ts";
import { ConnectionState, StatusReason } from "../shm/layout.ts";
import type { CaptureFile } from "./capture.ts";
import type { FrameIngest } from "./ingest.ts";
import type { Publisher } from "./publisher.ts";

const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 30_000;
/** How long the old connection keeps delivering after its replacement opened. */
const ROLLOVER_OVERLAP_MS = 3_000;
const CLOSE_TIMEOUT_MS = 2_000;

export interface ConnectionOptions {
  readonly plan: StreamPlan;
  readonly venue: Venue;
  readonly ingest: FrameIngest;
  readonly publisher: Publisher;
  readonly log: Logger;
  readonly capture: CaptureFile | null;
  /** Spaces out connection attempts to the venue's limit. */
  readonly connectBudget: RequestBudget;
}

export class ManagedConnection implements StreamHandle {
  readonly name: string;
  reconnects = 0;
  /** Date.now() of the last frame, 0 before the first. */
  lastFrameAt = 0;
  /** Date.now() of the last keepalive sent. */
  private lastKeepaliveAt = 0;
  private socket: WebSocket | null = null;
  private retiring: WebSocket | null = null;
  private attempts = 0;
  private stopped = false;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private watchdog: ReturnType<typeof setInterval> | null = null;
  private lifetimeTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly now = new Uint32Array(2);
  private readonly log: Logger;

  constructor(private readonly options: ConnectionOptions) {
    this.name = options.plan.name;
    this.log = options.log.child({ connection: this.name });
  }

  get connected(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  start(): void {
    this.dial();
    const { watchdogMs, keepalive } = this.options.plan;
    const period = Math.min(watchdogMs, keepalive?.idleMs ?? watchdogMs) / 4;
    this.watchdog = setInterval(() => this.checkQuiet(), Math.max(100, period));
  }

  send(text: string): void {
    const socket = this.socket;
    if (socket?.readyState !== WebSocket.OPEN) return;
    socket.send(text);
    this.options.capture?.sent(this.options.plan.url, Date.now() / 1000, text);
  }

  reconnect(reason: string): void {
    const socket = this.socket;
    if (socket === null) return;
    this.log.warn("reconnecting", { reason });
    socket.close(4000, reason.slice(0, 100));
    // A stalled peer may never answer the close: give up on it after a moment.
    setTimeout(() => {
      if (this.socket !== socket) return;
      socket.onclose = null;
      socket.onmessage = null;
      this.onClosed(socket, 1006, "close handshake timed out");
    }, CLOSE_TIMEOUT_MS);
  }

  rollover(reason: string): void {
    if (this.retiring !== null || this.stopped) return;
    this.log.info("rolling over (make-before-break)", { reason });
    this.retiring = this.socket;
    this.socket = null;
    this.dial();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.watchdog) clearInterval(this.watchdog);
    if (this.lifetimeTimer) clearTimeout(this.lifetimeTimer);
    for (const socket of [this.socket, this.retiring]) socket?.close(1000, "shutdown");
    this.socket = null;
    this.retiring = null;
  }

  /** Opens a connection once the venue's connection rate allows. */
  private dial(): void {
    this.options.connectBudget.schedule(1, () => {
      if (!this.stopped) this.open();
    });
  }

  private open(): void {
    const { plan, venue, publisher } = this.options;
    const socket = new WebSocket(plan.url);
    this.socket = socket;
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      if (socket !== this.socket) return;
      this.lastFrameAt = Date.now();
      this.options.capture?.connect(plan.url, Date.now() / 1000);
      this.log.info("connected", { url: plan.url });
      publisher.connectionStatus(ConnectionState.Connected, StatusReason.None);
      venue.onOpen(this);
      if (plan.maxLifetimeMs > 0) {
        this.lifetimeTimer = setTimeout(() => this.rollover("connection lifetime"), plan.maxLifetimeMs);
      }
      const old = this.retiring;
      if (old !== null) setTimeout(() => old.close(1000, "replaced"), ROLLOVER_OVERLAP_MS);
    };
    socket.onmessage = (event: MessageEvent) => this.onMessage(event.data);
    socket.onclose = (event: CloseEvent) => this.onClosed(socket, event.code, event.reason);
    socket.onerror = () => {
      this.log.throttled("warn", `ws-error-${this.name}`, "connection error", { url: plan.url });
    };
  }

  private onMessage(data: unknown): void {
    const text = typeof data === "string" ? data : new TextDecoder().decode(data as ArrayBuffer);
    realtimeInto(this.now, 0);
    this.lastFrameAt = Date.now();
    this.attempts = 0;
    this.options.capture?.frame(this.now[0]! + this.now[1]! / 1e9, text);
    this.options.ingest.frame(this, text, this.now[0]!, this.now[1]!);
  }

  private onClosed(socket: WebSocket, code: number, reason: string): void {
    const { venue, publisher } = this.options;
    if (socket === this.retiring) {
      this.retiring = null;
      this.options.ingest.batch(() => venue.onClose(this, true));
      return;
    }
    if (socket !== this.socket) return;
    this.socket = null;
    if (this.lifetimeTimer) clearTimeout(this.lifetimeTimer);
    // As one batch: the invalidations reach the ring and its latest-book entries at once.
    this.options.ingest.batch(() => venue.onClose(this, false));
    publisher.connectionStatus(ConnectionState.Disconnected, StatusReason.Disconnected);
    if (this.stopped) return;
    const delay = backoffMs(this.attempts++);
    this.reconnects++;
    this.log.warn("disconnected", { code, reason, retryInMs: Math.round(delay) });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.dial();
    }, delay);
  }

  /** A quiet link: past the watchdog it is dead; past the keepalive's idle time it gets poked. */
  private checkQuiet(): void {
    if (!this.connected) return;
    const { watchdogMs, keepalive } = this.options.plan;
    const now = Date.now();
    const quietMs = now - this.lastFrameAt;
    if (quietMs > watchdogMs) {
      this.reconnect(`no frame for ${watchdogMs} ms`);
      return;
    }
    if (
      keepalive !== undefined &&
      quietMs >= keepalive.idleMs &&
      now - this.lastKeepaliveAt >= keepalive.idleMs
    ) {
      this.lastKeepaliveAt = now;
      this.send(keepalive.text);
    }
  }
}

/** Exponential backoff with full jitter: uniform in [0.5, 1] of min(max, base * 2^attempt). */
function backoffMs(attempt: number): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 20));
  return ceiling * (0.5 + Math.random() * 0.5);
}
