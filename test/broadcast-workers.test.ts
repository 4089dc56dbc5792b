// A broadcaster process with BROADCAST_WORKERS=2 on one port: the kernel spreads connections over
// both workers (each upgrade names its worker); both send one topic with the same seqs and the
// same texts; a client that leaves one worker resumes on the other with nothing missed and no
// snapshot; /metrics adds the workers up, /ready answers for both, SIGTERM drains both; and a
// second alphapulse broadcast on the port is refused, with or without workers of its own.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import WebSocket from "ws";
import { WORKER_HEADER } from "../src/protocol/messages.ts";
import { seededRandom, TestFeed } from "./support/broadcast-feed.ts";
import { broadcasterEnv } from "./support/broadcaster.ts";
import { metricSum } from "./support/collector-readings.ts";
import { type BroadcasterProcess, ModeProcess, startBroadcasterProcess } from "./support/mode-process.ts";
import { httpStatus, waitFor } from "./support/wait.ts";

const DIR = `/dev/shm/ap-test-broadcast-workers-${process.pid}`;
const SYMBOLS = [{ venueSymbol: "XBT/USD", symbol: "BTC-USD", priceDecimals: 1, sizeDecimals: 8 }];
const MID = 450_000_0;
const BOOK = "book.kraken.BTC-USD";
const TRADES = "trades.kraken.BTC-USD";
const TOPICS = [BOOK, TRADES];

interface Received {
  readonly text: string;
  readonly type: string;
  readonly topic: string;
  readonly seq: number;
}

/** A WebSocket client that knows which worker serves it and keeps every data message's text. */
class WorkerClient {
  readonly messages: Received[] = [];
  acks: Array<{ resumed?: string[]; seqs?: Record<string, number> }> = [];
  closeCode: number | null = null;

  private constructor(
    readonly socket: WebSocket,
    readonly worker: string,
  ) {
    socket.on("message", (data) => {
      const text = String(data);
      const message = JSON.parse(text);
      if (message.type === "ack") this.acks.push(message);
      else if (typeof message.seq === "number") this.messages.push({ text, ...message });
    });
    socket.on("close", (code) => {
      this.closeCode = code;
    });
  }

  static open(url: string): Promise<WorkerClient> {
    const socket = new WebSocket(url);
    return new Promise((resolve, reject) => {
      let worker = "";
      socket.once("upgrade", (response) => {
        worker = String(response.headers[WORKER_HEADER] ?? "");
      });
      socket.once("open", () => resolve(new WorkerClient(socket, worker)));
      socket.once("error", reject);
    });
  }

  async subscribe(resume?: Record<string, number>): Promise<void> {
    const acks = this.acks.length;
    this.socket.send(JSON.stringify({ op: "subscribe", topics: TOPICS, ...(resume ? { resume } : {}) }));
    await waitFor("the subscribe ack", () => this.acks.length > acks);
  }

  lastSeq(topic: string): number {
    return this.messages.findLast((message) => message.topic === topic)?.seq ?? -1;
  }

  /** The texts of `topic`'s messages with seq above `after`, in the order they came. */
  texts(topic: string, after: number): string[] {
    return this.messages.filter((m) => m.topic === topic && m.seq > after).map((m) => m.text);
  }
}

let feed: TestFeed;
let broadcaster: BroadcasterProcess;
const clients: WorkerClient[] = [];
const random = seededRandom(21);
let tradesWritten = 0;
/** The first test's subscribers, which the metrics test counts on. */
let subscribers: Record<"onOne" | "onTwo" | "resumed", WorkerClient>;

/** A stretch of market: book changes and a trade per step, with pauses for the workers to read. */
async function market(steps: number): Promise<void> {
  for (let i = 0; i < steps; i++) {
    feed.randomUpdate(0, random, MID, 5);
    feed.trade(
      0,
      MID + Math.floor(random() * 100),
      1 + Math.floor(random() * 1e6),
      random() < 0.5,
      ++tradesWritten,
    );
    if (i % 20 === 19) await Bun.sleep(2);
  }
}

/** Opens clients until each worker serves at least `each` (the kernel picks by connection hash). */
async function clientsOnBothWorkers(each: number): Promise<Map<string, WorkerClient[]>> {
  const byWorker = new Map<string, WorkerClient[]>();
  for (let opened = 0; opened < 200; opened++) {
    const client = await WorkerClient.open(broadcaster.ws);
    clients.push(client);
    byWorker.set(client.worker, [...(byWorker.get(client.worker) ?? []), client]);
    if (byWorker.size === 2 && [...byWorker.values()].every((list) => list.length >= each)) break;
  }
  return byWorker;
}

/** Sum of a metric's samples (whose labels include every given pair) in one /metrics scrape. */
async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  return metricSum(broadcaster.metrics, name, labels);
}

beforeAll(async () => {
  rmSync(DIR, { recursive: true, force: true });
  feed = new TestFeed(DIR, "kraken", "kraken", SYMBOLS, 10, 1 << 16);
  feed.randomSnapshot(0, seededRandom(20), MID, 5);
  broadcaster = await startBroadcasterProcess(
    broadcasterEnv(DIR, { BROADCAST_WORKERS: "2", BROADCAST_HISTORY: "100000", SHUTDOWN_GRACE_MS: "5000" }),
  );
  await waitFor("both workers ready", async () => (await httpStatus(`${broadcaster.metrics}/ready`)) === 200);
});

afterAll(async () => {
  for (const client of clients) client.socket.terminate();
  await broadcaster?.process.stop("SIGKILL");
  feed?.close();
  rmSync(DIR, { recursive: true, force: true });
});

test("both workers send one topic with the same seqs and texts; a client resumes on the other worker", async () => {
  const byWorker = await clientsOnBothWorkers(2);
  expect([...byWorker.keys()].sort()).toEqual(["1", "2"]);
  const [onOne, onTwo] = [byWorker.get("1")![0]!, byWorker.get("2")![0]!];
  await Promise.all([onOne.subscribe(), onTwo.subscribe()]);
  await market(300);
  await waitFor("every trade on both workers", () =>
    [onOne, onTwo].every((client) => client.lastSeq(TRADES) === tradesWritten),
  );
  // From the first seq both have, the same messages byte for byte: seqs come from the ring.
  for (const topic of TOPICS) {
    const from = Math.max(...[onOne, onTwo].map((c) => c.messages.find((m) => m.topic === topic)!.seq));
    const texts = onOne.texts(topic, from);
    expect(texts.length).toBeGreaterThan(100);
    expect(onTwo.texts(topic, from)).toEqual(texts);
  }

  // onOne leaves worker 1 mid-stream; a new connection that lands on worker 2 resumes its seqs.
  const left: Record<string, number> = { [BOOK]: onOne.lastSeq(BOOK), [TRADES]: onOne.lastSeq(TRADES) };
  onOne.socket.close();
  await market(100); // what it misses while away
  const resumed = await waitFor("a connection on worker 2", async () => {
    const client = await WorkerClient.open(broadcaster.ws);
    clients.push(client);
    return client.worker === "2" && client;
  });
  await resumed.subscribe(left);
  expect(resumed.acks[0]!.resumed?.sort()).toEqual([...TOPICS].sort());
  await market(100);
  await waitFor("the resumed client at the last trade", () => resumed.lastSeq(TRADES) === tradesWritten);
  await waitFor(
    "the resumed client at worker 2's last book message",
    () => resumed.lastSeq(BOOK) === onTwo.lastSeq(BOOK),
  );
  for (const topic of TOPICS) {
    const seqs = resumed.messages.filter((m) => m.topic === topic).map((m) => m.seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => left[topic]! + 1 + i));
    // The same texts worker 2's own subscriber got: the missed stretch and the live part after it.
    expect(resumed.texts(topic, left[topic]!)).toEqual(onTwo.texts(topic, left[topic]!));
  }
  expect(resumed.messages.some((m) => m.type === "snapshot")).toBe(false);
  subscribers = { onOne, onTwo, resumed };
}, 120_000);

test("one /metrics adds up both workers, /ready and /health answer for both", async () => {
  const byWorker = await clientsOnBothWorkers(2);
  const open = clients.filter((client) => client.closeCode === null);
  const perWorker = [...byWorker.keys()].map((w) => open.filter((c) => c.worker === w).length);
  expect(perWorker.every((count) => count > 0)).toBe(true);
  await waitFor("the clients gauge at the sum of both workers' clients", async () => {
    return (await metric("alphapulse_broadcast_clients_connected")) === open.length;
  });
  const health = (await (await fetch(`${broadcaster.metrics}/health`)).json()) as Record<string, unknown>;
  expect(health).toMatchObject({
    status: "ok",
    mode: "broadcast",
    clients: open.length,
    rings: 1,
    workers: 2,
  });
  expect(await httpStatus(`${broadcaster.metrics}/ready`)).toBe(200);
  // Trade subscribers so far: worker 1 sent its client at least 300 (more if trades written
  // while its close was under way reached it), worker 2 sent at most what its two clients got.
  // The counter is above worker 2's share: it adds both workers up.
  const { onOne, onTwo, resumed } = subscribers;
  const trades = (client: WorkerClient) => client.messages.filter((m) => m.topic === TRADES).length;
  expect(trades(onOne)).toBeGreaterThanOrEqual(300);
  expect(await metric("alphapulse_broadcast_messages_sent_total", { channel: "trades" })).toBeGreaterThan(
    trades(onTwo) + trades(resumed),
  );
  // The process metrics are the process's, once, not added up over its three threads.
  const rss = await metric("alphapulse_process_resident_memory_bytes");
  const status = readFileSync(`/proc/${broadcaster.process.proc.pid}/status`, "utf8");
  const kernelRss = Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
  expect(rss / kernelRss).toBeGreaterThan(0.7);
  expect(rss / kernelRss).toBeLessThan(1.3);
}, 120_000);

test("a second alphapulse broadcast on the port is refused, with workers or without", async () => {
  const port = String(broadcaster.websocketPort);
  for (const workers of ["2", "1"]) {
    const second = new ModeProcess(
      `second broadcaster (${workers} workers)`,
      "broadcast",
      broadcasterEnv(DIR, { WEBSOCKET_PORT: port, BROADCAST_WORKERS: workers, LOG_LEVEL: "info" }),
    );
    const code = await Promise.race([second.finished(), Bun.sleep(30_000).then(() => null)]);
    if (code === null) await second.stop("SIGKILL");
    expect(code).not.toBeNull();
    expect(code).not.toBe(0);
    expect(second.output()).toContain(`WEBSOCKET_PORT ${port} is already in use`);
    // With workers it is the port's guard that refuses it, without them the kernel's bind.
    expect(second.output()).toContain(
      workers === "2" ? `holds @alphapulse-broadcast-port-${port}` : "another process",
    );
  }
  expect((await fetch(`${broadcaster.http}/api/v1/symbols`)).status).toBe(200);
}, 120_000);

test("SIGTERM drains both workers: every client gets 1001, the process exits 0", async () => {
  const open = clients.filter((client) => client.closeCode === null);
  expect(new Set(open.map((client) => client.worker))).toEqual(new Set(["1", "2"]));
  expect(await broadcaster.process.stop("SIGTERM")).toBe(0);
  await waitFor("every client closed", () => open.every((client) => client.closeCode !== null));
  expect(open.map((client) => client.closeCode)).toEqual(open.map(() => 1001));
  expect(broadcaster.process.records.some((record) => record.msg === "stopped")).toBe(true);
}, 120_000);
