// The broadcaster's public port, and the one place its Bun.serve (uWebSockets) is built: /ws
// (after the access check, each client's frames go to its session), REST under /api/v1 and the
// live page at /. It wires the parts together, starts the ring hub with fan-out, and drains.
import type { Server, ServerWebSocket, WebSocketHandler } from "bun";
import type { Logger } from "../log.ts";
import { CloseCode, WORKER_HEADER } from "../protocol/messages.ts";
import { ClientAccess } from "./access.ts";
import { ClientSessions } from "./client-session.ts";
import type { BroadcastConfig } from "./config.ts";
import { TopicFanout, WildcardSubscriptions } from "./fanout.ts";
import livePage from "./live-page.html";
import type { BroadcastMetrics } from "./metrics.ts";
import { restAnswer, restError } from "./rest.ts";
import { Resumes } from "./resume.ts";
import type { RingHub } from "./ring-hub.ts";
import { SlowClientPolicy } from "./slow-clients.ts";
import { StartingTexts } from "./starting-texts.ts";
import { type ClientState, Subscriptions } from "./subscriptions.ts";

export interface BroadcastServer {
  readonly port: number;
  clientCount(): number;
  /** Stops accepting, closes every client with 1001, and waits (up to graceMs) for them to go. */
  drain(graceMs: number): Promise<void>;
  stop(): void;
}

type Client = ServerWebSocket<ClientState>;

/** Frames past this are refused by the WebSocket layer itself (close 1009). */
const HARD_FRAME_LIMIT = 1024 * 1024;

/**
 * `worker` is the fan-out worker's number when this server is one of several on the port
 * (BROADCAST_WORKERS > 1), undefined for the single-threaded broadcaster.
 */
export function startBroadcastServer(
  config: BroadcastConfig,
  hub: RingHub,
  metrics: BroadcastMetrics,
  log: Logger,
  worker?: number,
): BroadcastServer {
  const subscriptions = new Subscriptions(hub, metrics);
  const resumes = new Resumes(new StartingTexts(hub), subscriptions, hub);
  const wildcards = new WildcardSubscriptions(hub, subscriptions, config);
  const sessions = new ClientSessions<Client>(config, hub, subscriptions, resumes, wildcards, metrics);
  const slowClients = new SlowClientPolicy(config, metrics, log);
  const access = new ClientAccess(config);
  let accepting = true;
  const upgradeHeaders = worker === undefined ? undefined : { [WORKER_HEADER]: String(worker) };

  const server = listen(
    config,
    worker !== undefined,
    (request, srv) => {
      const url = new URL(request.url);
      if (url.pathname === "/ws") {
        if (!accepting) return restError(503, "shutting down");
        const refusal = access.upgradeRefusal(request, url);
        if (refusal !== null) return restError(refusal.status, refusal.message);
        if (srv.upgrade(request, { data: sessions.newState(), headers: upgradeHeaders })) return undefined;
        return restError(400, "expected a WebSocket upgrade");
      }
      if (url.pathname.startsWith("/api/v1/")) {
        if (request.method !== "GET") return restError(405, "method not allowed");
        const refusal = access.restRefusal(request, url);
        return refusal === null ? restAnswer(url, hub) : restError(refusal.status, refusal.message);
      }
      return restError(404, `no route ${url.pathname}`);
    },
    {
      data: {} as ClientState,
      open: (ws) => sessions.opened(ws),
      message: (ws, frame) => sessions.onFrame(ws, frame),
      close: (ws) => sessions.closed(ws),
      drain: (ws) => slowClients.drained(ws),
    },
  );
  slowClients.start(sessions.clients);
  hub.start(new TopicFanout(server, wildcards, config.compression));

  const halt = () => {
    slowClients.stop();
    resumes.stop();
    hub.stop();
  };
  return {
    port: server.port ?? config.websocketPort,
    clientCount: () => sessions.clients.size,
    async drain(graceMs) {
      accepting = false;
      halt();
      for (const ws of sessions.clients) ws.close(CloseCode.GoingAway, "server shutting down");
      const deadline = Date.now() + graceMs;
      while (sessions.clients.size > 0 && Date.now() < deadline) await Bun.sleep(10);
      server.stop(true);
    },
    stop() {
      halt();
      server.stop(true);
    },
  };
}

/**
 * Listens on WEBSOCKET_PORT. A single-threaded broadcaster never shares the port: without
 * `reusePort: false`, Bun.serve (with development off) binds with SO_REUSEPORT, and a second
 * broadcaster on a busy port would silently take a share of its connections. Fan-out workers
 * (`shared`) do bind with SO_REUSEPORT, on purpose: the kernel spreads new connections over them.
 * Their process holds the port's guard (workers.ts) so that no second broadcaster joins them.
 * A busy port stops the start, naming it.
 */
function listen(
  config: BroadcastConfig,
  shared: boolean,
  fetch: (request: Request, server: Server<ClientState>) => Response | undefined,
  websocket: Pick<WebSocketHandler<ClientState>, "data" | "open" | "message" | "close" | "drain">,
): Server<ClientState> {
  try {
    return Bun.serve({
      port: config.websocketPort,
      hostname: config.hostname,
      reusePort: shared,
      development: false,
      routes: { "/": livePage },
      fetch,
      websocket: {
        ...websocket,
        perMessageDeflate: config.compression,
        maxPayloadLength: Math.max(HARD_FRAME_LIMIT, config.maxFrameBytes * 2),
        idleTimeout: config.idleTimeoutSeconds,
        // The memory bound per client. Well above slowCloseBytes, so the slow-client check's
        // warn-then-4008 normally closes a slow client first; this only catches a burst between two checks.
        backpressureLimit: Math.max(config.slowCloseBytes * 4, config.slowCloseBytes + 4 * 1024 * 1024),
        closeOnBackpressureLimit: true,
        sendPings: true,
      },
    });
  } catch (error) {
    if ((error as { code?: unknown }).code === "EADDRINUSE") {
      throw new Error(
        `WEBSOCKET_PORT ${config.websocketPort} is already in use on ${config.hostname}: another process listens there`,
      );
    }
    throw error;
  }
}
