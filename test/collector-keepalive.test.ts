// A venue's keepalive through the collector's real connection runtime: against a real WebSocket
// server on loopback that says nothing unless spoken to, the runtime sends the venue's keepalive
// text while the link is quiet (and the answer reaches the venue as a frame), never while frames
// flow, and still reconnects once the peer stops answering.
import { afterEach, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import type { ServerWebSocket } from "bun";
import { TokenBucket } from "../src/collector/budget.ts";
import { ManagedConnection } from "../src/collector/connection.ts";
import { wireVenue } from "../src/collector/ingest.ts";
import type { StreamHandle, Venue, VenueDefinition } from "../src/exchanges/venue.ts";
import { Logger } from "../src/log.ts";
import { RingWriter } from "../src/shm/ring-writer.ts";

const DIR = `/dev/shm/ap-test-keepalive-${process.pid}`;
const quiet = new Logger("error", {}, () => {});
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  rmSync(DIR, { recursive: true, force: true });
});

/** A venue with one connection and a keepalive: it only records the frames it gets. */
function keepaliveVenue(url: string, frames: string[]): VenueDefinition {
  return {
    name: "quietvenue",
    defaultWsUrl: url,
    defaultRestUrl: "",
    defaultDepth: 10,
    bookLevels: (viewDepth) => viewDepth,
    replayStream: "quiet",
    sequentialTradeIds: false,
    connectionsPerSecond: 100,
    requestBudget: { capacity: 1, perSecond: 1 },
    resolveSymbols: async () => [],
    create: (context): Venue => ({
      streams: [
        {
          name: "quiet",
          url: context.wsUrl,
          watchdogMs: 1_500,
          maxLifetimeMs: 0,
          keepalive: { idleMs: 200, text: "ping" },
        },
      ],
      onOpen: (_stream: StreamHandle) => {},
      onFrame: (_stream: StreamHandle, text: string) => void frames.push(text),
      onClose: () => {},
      resync: () => {},
    }),
  };
}

/** A server that answers "ping" with "pong" while `answering`, and otherwise stays silent. */
function startPeer() {
  const peer = { answering: true, opened: 0, received: [] as string[] };
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (request, srv) =>
      srv.upgrade(request, { data: undefined }) ? undefined : new Response("no", { status: 400 }),
    websocket: {
      open(ws: ServerWebSocket<undefined>) {
        peer.opened++;
        ws.subscribe("all");
      },
      message(ws: ServerWebSocket<undefined>, message) {
        peer.received.push(String(message));
        if (peer.answering && message === "ping") ws.send("pong");
      },
    },
  });
  cleanups.push(() => server.stop(true));
  return { peer, url: `ws://127.0.0.1:${server.port}`, server };
}

function connect(url: string, frames: string[]): ManagedConnection {
  const definition = keepaliveVenue(url, frames);
  const writer = RingWriter.create({
    dir: DIR,
    name: "quietvenue",
    exchange: "quietvenue",
    capacity: 1024,
    bookDepth: 10,
    symbols: [{ venueSymbol: "X", symbol: "X-Y", priceDecimals: 0, sizeDecimals: 0 }],
  });
  const { venue, ingest, publisher } = wireVenue({
    definition,
    writer,
    depth: 10,
    wsUrl: url,
    restUrl: "",
    rest: { getJson: () => Promise.reject(new Error("no REST here")) },
    budget: new TokenBucket(1, 1),
    maxFrameBytes: 1 << 20,
    log: quiet,
  });
  const connectBudget = new TokenBucket(1, 100);
  const connection = new ManagedConnection({
    plan: venue.streams[0]!,
    venue,
    ingest,
    publisher,
    log: quiet,
    capture: null,
    connectBudget,
  });
  cleanups.push(async () => {
    await connection.stop();
    connectBudget.stop();
    writer.close();
  });
  connection.start();
  return connection;
}

test("a quiet link gets the keepalive text, the answer reaches the venue, and nothing reconnects", async () => {
  const { peer, url } = startPeer();
  const frames: string[] = [];
  const connection = connect(url, frames);
  await Bun.sleep(1_100);
  expect(peer.received.filter((text) => text === "ping").length).toBeGreaterThanOrEqual(2);
  expect(frames.filter((text) => text === "pong").length).toBeGreaterThanOrEqual(2);
  expect(connection.reconnects).toBe(0);
  expect(peer.opened).toBe(1);
});

test("a link with frames flowing gets no keepalive", async () => {
  const { peer, url, server } = startPeer();
  const frames: string[] = [];
  connect(url, frames);
  const chatter = setInterval(() => server.publish("all", "tick"), 50);
  cleanups.push(() => clearInterval(chatter));
  await Bun.sleep(900);
  expect(peer.opened).toBe(1);
  expect(frames.filter((text) => text === "tick").length).toBeGreaterThan(5);
  expect(peer.received).toEqual([]);
});

test("a peer that stops answering is reconnected by the watchdog", async () => {
  const { peer, url } = startPeer();
  peer.answering = false;
  const frames: string[] = [];
  const connection = connect(url, frames);
  const deadline = Date.now() + 10_000;
  while (connection.reconnects === 0 && Date.now() < deadline) await Bun.sleep(50);
  expect(connection.reconnects).toBe(1);
  expect(peer.received.filter((text) => text === "ping").length).toBeGreaterThanOrEqual(3);
});
