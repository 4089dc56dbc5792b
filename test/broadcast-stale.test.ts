// A collector that stops, as real processes (simulator, collector, broadcaster) with SDK clients
// subscribed: a writer that stops beating (SIGSTOP) or whose process goes (SIGKILL) reaches every
// topic of its ring as a "stale" status within BROADCAST_STALE_MS and a scan, at the topic's
// position (no seq is used up); REST shows the book as stale and /ready goes 503. Beating again
// brings each topic's status back; a restarted collector brings "restarted", then a fresh book,
// with seqs that go on where they were.
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { BroadcasterProcess, CollectorProcess } from "./support/mode-process.ts";
import { OpsStack } from "./support/ops-stack.ts";
import { type Received, RecordingSdkClient } from "./support/recording-sdk-client.ts";
import { waitFor } from "./support/wait.ts";

const STALE_MS = 1500;
/** Past STALE_MS: a scan (every 500 ms) and a loaded 2-core box. */
const SLACK_MS = 1500;
const BOOK = "book.kraken.BTC-USD";
const TRADES = "trades.kraken.BTC-USD";
const BBO = "bbo.kraken.BTC-USD";
const STATUS = "status.kraken";
const TOPICS = [BOOK, TRADES, BBO, STATUS];

const stack = new OpsStack("stale");
let collector: CollectorProcess;
let broadcaster: BroadcasterProcess;
const clients: RecordingSdkClient[] = [];

async function subscribed(): Promise<RecordingSdkClient> {
  const client = await new RecordingSdkClient(broadcaster.ws).start(TOPICS);
  clients.push(client);
  return client;
}

interface SymbolsReply {
  exchanges: Array<{
    ring: string;
    generation: number;
    writer: string;
    symbols: Array<{ symbol: string; book: string; served: boolean }>;
  }>;
}

async function ringReport(): Promise<SymbolsReply["exchanges"][number]> {
  const reply = (await (await fetch(`${broadcaster.http}/api/v1/symbols`)).json()) as SymbolsReply;
  expect(reply.exchanges).toHaveLength(1);
  return reply.exchanges[0]!;
}

async function restBookStatus(): Promise<string> {
  return (
    (await (await fetch(`${broadcaster.http}/api/v1/book/kraken/BTC-USD`)).json()) as { status: string }
  ).status;
}

async function ready(): Promise<{ status: number; text: string }> {
  const response = await fetch(`${broadcaster.metrics}/ready`);
  return { status: response.status, text: await response.text() };
}

async function ringStaleMetric(): Promise<number> {
  const text = await (await fetch(`${broadcaster.metrics}/metrics`)).text();
  const found = /alphapulse_broadcast_ring_stale\{[^}]*ring="[^"]*\/kraken\.ring"[^}]*\} (\S+)/.exec(text);
  return Number(found?.[1]);
}

/** Each topic's first status `status` from the `from`th message on, once every topic has one. */
async function statusOnEveryTopic(
  client: RecordingSdkClient,
  status: string,
  from: number,
  timeoutMs: number,
): Promise<Record<string, Received & { message: { status: string; reason: string; seq: number } }>> {
  return waitFor(
    `"${status}" on ${TOPICS.join(", ")}`,
    () => {
      const found = TOPICS.map((topic) => client.status(topic, status, from));
      if (found.some((r) => r === undefined)) return false;
      return Object.fromEntries(TOPICS.map((topic, i) => [topic, found[i]!]));
    },
    { timeoutMs },
  );
}

beforeAll(async () => {
  await stack.startSimulator();
  collector = await stack.startCollector("kraken");
  // One fan-out worker: the test checks REST and /metrics right after its client's stream says
  // stale, and with several workers a REST request can reach a worker whose own poll has not
  // yet seen the writer stop (test/broadcast-workers.test.ts covers workers).
  broadcaster = await stack.startBroadcaster({
    BROADCAST_STALE_MS: String(STALE_MS),
    BROADCAST_WORKERS: "1",
  });
  await stack.waitReady(broadcaster.process, `${broadcaster.metrics}/ready`);
}, 120_000);

afterAll(async () => {
  for (const client of clients) client.close();
  if (collector.process.proc.exitCode === null) collector.process.proc.kill("SIGCONT");
  await stack.stop();
}, 120_000);

test("a writer that stops beating: every topic is told stale, REST and /ready say so; beating again: each topic's status", async () => {
  const client = await subscribed();
  await waitFor("a delta", () => client.of(BOOK).some((r) => r.message.type === "delta"));
  const from = client.received.length;
  const stoppedAt = Date.now();
  collector.process.proc.kill("SIGSTOP");
  try {
    const stale = await statusOnEveryTopic(client, "stale", from, STALE_MS + 10_000);
    for (const topic of TOPICS) {
      const { message, at } = stale[topic]!;
      // Told once the heartbeat is STALE_MS old (its last beat came up to 100 ms before the stop).
      expect(at - stoppedAt).toBeGreaterThanOrEqual(STALE_MS - 150);
      expect(at - stoppedAt).toBeLessThanOrEqual(STALE_MS + SLACK_MS);
      expect(message.reason).toBe("no_heartbeat");
      // At the topic's position: it restates where the topic stands, using up no seq.
      expect(message.seq).toBe(client.seqBefore(topic, client.received.indexOf(stale[topic]!))!);
    }
    expect(client.sdk.book(BOOK)!.status).toBe("stale");
    const report = await ringReport();
    expect(report.writer).toBe("no_heartbeat");
    expect(report.symbols.find((s) => s.symbol === "BTC-USD")?.book).toBe("stale");
    expect(await restBookStatus()).toBe("stale");
    const readiness = await ready();
    expect(readiness.status).toBe(503);
    expect(readiness.text).toContain("no_heartbeat");
    expect(await ringStaleMetric()).toBe(1);

    // A client that subscribes now is told too: a snapshot that says stale, and the notice.
    const late = await subscribed();
    expect(late.sdk.book(BOOK)!.status).toBe("stale");
    await waitFor("the late client's notices", () => TOPICS.every((topic) => late.status(topic, "stale")));
  } finally {
    collector.process.proc.kill("SIGCONT");
  }

  // The book's own validity, "valid" for trades and bbo, and the venue connection on its topic.
  await waitFor("the status each topic is in, told again", () =>
    TOPICS.every((topic) =>
      client.of(topic, from).some((r) => r.message.type === "status" && r.message.reason === "writer_live"),
    ),
  );
  const back = Object.fromEntries(
    TOPICS.map((topic) => [
      topic,
      client.of(topic, from).find((r) => r.message.type === "status" && r.message.reason === "writer_live")!
        .message as { status: string },
    ]),
  );
  expect(back[TRADES]!.status).toBe("valid");
  expect(back[BBO]!.status).toBe("valid");
  expect(back[BOOK]!.status).toBe("valid");
  expect(back[STATUS]!.status).toBe("connected");
  await waitFor("the SDK's book valid again", () => client.sdk.book(BOOK)!.status === "valid");
  await waitFor("REST valid again", async () => (await restBookStatus()) === "valid");
  expect((await ringReport()).writer).toBe("live");
  await waitFor("ready again", async () => (await ready()).status === 200);
  expect(await ringStaleMetric()).toBe(0);
  expect(client.sdk.gaps).toBe(0);
}, 90_000);

test("a writer killed: stale once its process is gone; a new collector: restarted, a fresh book, seqs go on", async () => {
  const client = await subscribed();
  await waitFor("a delta", () => client.of(BOOK).some((r) => r.message.type === "delta"));
  const from = client.received.length;
  const killedAt = Date.now();
  await collector.process.stop("SIGKILL");
  const stale = await statusOnEveryTopic(client, "stale", from, STALE_MS + 10_000);
  for (const topic of TOPICS) {
    const { message, at } = stale[topic]!;
    expect(at - killedAt).toBeLessThanOrEqual(STALE_MS + SLACK_MS);
    // The pid is gone and the heartbeat a second old: known dead before STALE_MS has passed.
    expect(message.reason).toBe("writer_gone");
    expect(message.seq).toBe(client.seqBefore(topic, client.received.indexOf(stale[topic]!))!);
  }
  const report = await ringReport();
  expect(report.writer).toBe("writer_gone");
  expect(report.symbols.every((s) => s.book === "stale")).toBe(true);
  expect(await restBookStatus()).toBe("stale");
  expect((await ready()).status).toBe(503);

  // The collector comes back: a new generation of its ring.
  const afterKill = client.received.length;
  collector = await stack.startCollector("kraken");
  const restarted = await statusOnEveryTopic(client, "restarted", afterKill, 30_000);
  await waitFor(
    "the new book",
    () => client.sdk.book(BOOK)?.hasSnapshot === true && client.sdk.book(BOOK)?.status === "valid",
  );
  for (const topic of [BOOK, BBO, STATUS]) {
    // Each count goes on from the old generation's: "restarted" takes the one seq in between.
    expect({ topic, seq: restarted[topic]!.message.seq }).toEqual({
      topic,
      seq: stale[topic]!.message.seq + 1,
    });
  }
  // Trades after a symbol's last book batch reach the entry only when the writer closes the
  // ring, which a SIGKILL prevents: the new count may start a few before the old one ended.
  expect(restarted[TRADES]!.message.seq).toBeLessThanOrEqual(stale[TRADES]!.message.seq + 1);
  const bookSeqs = client.of(BOOK, afterKill).map((r) => r.message.seq);
  expect(bookSeqs).toEqual(bookSeqs.map((_, i) => bookSeqs[0]! + i));
  expect(client.of(BOOK, afterKill).some((r) => r.message.type === "snapshot")).toBe(true);
  expect(client.sdk.gaps).toBe(0);
  await waitFor("REST valid", async () => (await restBookStatus()) === "valid");
  const after = await ringReport();
  expect(after.writer).toBe("live");
  expect(after.generation).toBe(2);
  await waitFor("ready", async () => (await ready()).status === 200);
}, 120_000);
