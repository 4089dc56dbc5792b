// Which ring serves a topic when two ring files carry one exchange, with real processes: a live
// ring wins over one whose writer is gone, whichever attached first; a live ring that appears
// later takes the topics over from a dead one, and clients are told ("stale", then "restarted"
// at the new ring's position and its state) and then follow the new ring, numbered the same by
// every broadcaster; a ring left by a collector that died at start (live state, no beats, no
// records) neither holds the topics nor keeps the broadcaster unready; a ring file deleted
// leaves its topics stale until another ring takes them on.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import path from "node:path";
import WebSocket from "ws";
import { SIMULATED_VENUES } from "../src/exchanges/simulators.ts";
import type { DataMessage, Level } from "../src/protocol/messages.ts";
import { TestFeed } from "./support/broadcast-feed.ts";
import { type LoopbackBroadcaster, startTestBroadcaster, tearDown } from "./support/broadcaster.ts";
import { type BroadcasterProcess, type CollectorProcess, FROM_SOURCE } from "./support/mode-process.ts";
import { OpsStack } from "./support/ops-stack.ts";
import { RecordingSdkClient } from "./support/recording-sdk-client.ts";
import { waitFor } from "./support/wait.ts";

const STALE_MS = 1500;
/**
 * One fan-out worker: these tests read the broadcaster's view of the rings over REST and then
 * connect a client, and with several workers the two can reach different workers, each of
 * which notices a writer gone on its own poll (test/broadcast-workers.test.ts covers workers).
 */
const SETTINGS = { BROADCAST_STALE_MS: String(STALE_MS), BROADCAST_WORKERS: "1" };
const BOOK = "book.kraken.BTC-USD";
const TRADES = "trades.kraken.BTC-USD";
const BBO = "bbo.kraken.BTC-USD";
const STATUS = "status.kraken";
const TOPICS = [BOOK, TRADES, BBO, STATUS];
const KRAKEN_SYMBOLS = SIMULATED_VENUES.kraken.demoSymbols;
/** Topics of a kraken ring in the stack: three for each of its symbols, and its status. */
const KRAKEN_TOPICS = KRAKEN_SYMBOLS.length * 3 + 1;

interface RingEntry {
  ring: string;
  writer: string;
  symbols: Array<{ symbol: string; book: string; served: boolean }>;
}

async function rings(broadcaster: BroadcasterProcess): Promise<Map<string, RingEntry>> {
  const reply = (await (await fetch(`${broadcaster.http}/api/v1/symbols`)).json()) as {
    exchanges: RingEntry[];
  };
  return new Map(reply.exchanges.map((entry) => [path.basename(entry.ring), entry]));
}

async function readyStatus(broadcaster: BroadcasterProcess): Promise<number> {
  return (await fetch(`${broadcaster.metrics}/ready`)).status;
}

async function metric(broadcaster: BroadcasterProcess, name: string, ring: string): Promise<number> {
  const text = await (await fetch(`${broadcaster.metrics}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(`/${ring}"`));
  return Number(line?.split(" ").at(-1));
}

/** A collector that died at start: its ring is left live, unbeating, without records. */
async function deadRing(stack: OpsStack, name: string): Promise<void> {
  const writer = Bun.spawn(
    [
      "bun",
      path.join(import.meta.dir, "support/dead-writer.ts"),
      stack.shmDir,
      name,
      "kraken",
      KRAKEN_SYMBOLS.join(","),
    ],
    { stdout: "ignore", stderr: "pipe" },
  );
  await writer.exited;
  expect({ signal: writer.signalCode, stderr: await new Response(writer.stderr).text() }).toEqual({
    signal: "SIGKILL",
    stderr: "",
  });
}

/** What `alphapulse inspect --json` says of a ring's writer. */
function inspectWriterGone(stack: OpsStack, name: string): boolean {
  const run = Bun.spawnSync([
    "bun",
    FROM_SOURCE[1]!,
    "inspect",
    "--json",
    path.join(stack.shmDir, `${name}.ring`),
  ]);
  expect(run.exitCode).toBe(0);
  return (JSON.parse(run.stdout.toString()) as { writerGone: boolean }).writerGone;
}

/**
 * What a client saw on `topic` from the `from`th message on, once the "restarted" of a switch came:
 * the messages before it, the notice, and the messages after it.
 */
function aroundSwitch(
  client: RecordingSdkClient,
  topic: string,
  from: number,
): { before: DataMessage[]; restarted: DataMessage; after: DataMessage[] } {
  const messages = client.of(topic, from).map((r) => r.message);
  const at = messages.findIndex((m) => m.type === "status" && m.status === "restarted");
  return { before: messages.slice(0, at), restarted: messages[at]!, after: messages.slice(at + 1) };
}

/** A plain WebSocket subscribe that resumes `topic` from `last`: the ack and the next two messages. */
async function rawResume(
  broadcaster: BroadcasterProcess,
  topic: string,
  last: number,
): Promise<{ ack: { resumed: string[] }; messages: DataMessage[] }> {
  const socket = new WebSocket(broadcaster.ws);
  const frames: Array<Record<string, unknown>> = [];
  socket.on("message", (data) => frames.push(JSON.parse(String(data))));
  await new Promise((resolve, reject) => {
    socket.once("open", resolve);
    socket.once("error", reject);
  });
  socket.send(JSON.stringify({ op: "subscribe", topics: [topic], resume: { [topic]: last } }));
  try {
    await waitFor("the ack and two messages", () => frames.length >= 3);
    return {
      ack: frames[0] as { resumed: string[] },
      messages: frames.slice(1, 3) as unknown as DataMessage[],
    };
  } finally {
    socket.close();
  }
}

function consecutive(seqs: number[]): boolean {
  return seqs.every((seq, i) => i === 0 || seq === seqs[i - 1]! + 1);
}

describe("a dead owner and a live newcomer", () => {
  const stack = new OpsStack("owner-dead");
  const clients: RecordingSdkClient[] = [];
  let first: CollectorProcess;
  const broadcasters: BroadcasterProcess[] = [];

  beforeAll(async () => {
    await stack.startSimulator();
    first = await stack.startCollector("kraken", { RING_NAME: "kraken-a" });
    for (let i = 0; i < 2; i++) {
      const broadcaster = await stack.startBroadcaster(SETTINGS);
      await stack.waitReady(broadcaster.process, `${broadcaster.metrics}/ready`);
      broadcasters.push(broadcaster);
    }
  }, 120_000);

  afterAll(async () => {
    for (const client of clients) client.close();
    await stack.stop();
  }, 120_000);

  /** Where each client's messages stood before the first collector was killed. */
  let from: number[] = [];
  let second: CollectorProcess;

  test("its writer killed: every topic is told stale, and the broadcaster is unready", async () => {
    for (const broadcaster of broadcasters) {
      clients.push(await new RecordingSdkClient(broadcaster.ws).start(TOPICS));
    }
    await waitFor("deltas", () => clients.every((c) => c.of(BOOK).some((r) => r.message.type === "delta")));
    from = clients.map((c) => c.received.length);
    await first.process.stop("SIGKILL");
    await waitFor("stale on every topic", () =>
      clients.every((c, i) =>
        TOPICS.every((topic) => c.status(topic, "stale", from[i])?.message.reason === "writer_gone"),
      ),
    );
    expect(await readyStatus(broadcasters[0]!)).toBe(503); // its topics have no live ring yet
  }, 60_000);

  test("a live ring appears: it takes every topic over, restarted at its position, then its state and messages", async () => {
    second = await stack.startCollector("kraken", { RING_NAME: "kraken-b" });
    await waitFor("restarted on every topic", () =>
      clients.every((c, i) => TOPICS.every((topic) => c.status(topic, "restarted", from[i]))),
    );
    await waitFor("the new ring's book", () => clients.every((c) => c.sdk.book(BOOK)?.status === "valid"));
    await waitFor("20 book messages from the new ring", () =>
      clients.every((c, i) => aroundSwitch(c, BOOK, from[i]!).after.length >= 20),
    );
    for (const [i, client] of clients.entries()) {
      for (const topic of TOPICS) {
        const { before, restarted, after } = aroundSwitch(client, topic, from[i]!);
        // The old ring's last word was "stale"; the switch is never silent.
        expect(before.at(-1)).toMatchObject({ type: "status", status: "stale" });
        expect(restarted).toMatchObject({
          type: "status",
          status: "restarted",
          reason: "ring kraken-b.ring",
        });
        // From the new ring's position on, without a hole; the starting state restates the position.
        const seqs = [restarted.seq, ...after.map((m) => m.seq)];
        const starting = topic === TRADES ? [] : [restarted.seq];
        expect({ topic, seqs: seqs.slice(1, 1 + starting.length) }).toEqual({ topic, seqs: starting });
        expect({ topic, consecutive: consecutive(seqs.slice(starting.length)) }).toEqual({
          topic,
          consecutive: true,
        });
      }
      const book = aroundSwitch(client, BOOK, from[i]!);
      expect(book.after[0]).toMatchObject({ type: "snapshot", seq: book.restarted.seq });
      expect(aroundSwitch(client, STATUS, from[i]!).after[0]).toMatchObject({
        type: "status",
        reason: "current",
      });
      expect(client.sdk.gaps).toBe(0);
    }
  }, 60_000);

  test("every broadcaster numbers the new ring's messages the same; a resume from an old seq gets a gap", async () => {
    const deltas = (client: RecordingSdkClient, i: number) =>
      new Map(
        aroundSwitch(client, BOOK, from[i]!)
          .after.filter((m) => m.type === "delta")
          .map((m) => [m.seq, m]),
      );
    const [one, two] = clients.map(deltas) as [Map<number, DataMessage>, Map<number, DataMessage>];
    const common = [...one.keys()].filter((seq) => two.has(seq));
    expect(common.length).toBeGreaterThan(5);
    for (const seq of common) expect(two.get(seq)).toEqual(one.get(seq)!);

    // A client of the old ring's stream resuming from a seq the new ring's stream also has here:
    // the number names two different messages, so it gets a gap and a fresh book, not the new
    // ring's messages after it.
    const switched = aroundSwitch(clients[0]!, BOOK, from[0]!);
    const ambiguous = switched.restarted.seq + 3;
    expect(switched.before.at(-1)!.seq).toBeGreaterThan(ambiguous);
    const resumed = await rawResume(broadcasters[0]!, BOOK, ambiguous);
    expect(resumed.ack.resumed).toEqual([]);
    expect(resumed.messages).toMatchObject([{ type: "status", status: "gap" }, { type: "snapshot" }]);
  }, 60_000);

  test("each client's book is the new ring's: the other broadcaster's REST book at the same seq", async () => {
    second.process.proc.kill("SIGSTOP"); // held still (well within STALE_MS) so both can agree
    try {
      for (const [i, client] of clients.entries()) {
        const other = broadcasters[1 - i]!;
        const rest = await waitFor("the same position", async () => {
          const answer = (await (
            await fetch(`${other.http}/api/v1/book/kraken/BTC-USD?depth=5000`)
          ).json()) as { seq: number; bids: Level[]; asks: Level[] };
          return answer.seq === client.sdk.lastSeq(BOOK) && answer;
        });
        const book = client.sdk.book(BOOK)!;
        expect({ bids: book.bids(), asks: book.asks() }).toEqual({ bids: rest.bids, asks: rest.asks });
      }
    } finally {
      second.process.proc.kill("SIGCONT");
    }
  }, 60_000);

  test("the dead ring is marked and serves nothing; the broadcaster is ready on the live one", async () => {
    const broadcaster = broadcasters[0]!;
    const seen = await rings(broadcaster);
    expect(seen.get("kraken-a.ring")).toMatchObject({ writer: "writer_gone" });
    expect(seen.get("kraken-a.ring")!.symbols.every((s) => !s.served && s.book === "stale")).toBe(true);
    expect(seen.get("kraken-b.ring")).toMatchObject({ writer: "live" });
    expect(seen.get("kraken-b.ring")!.symbols.every((s) => s.served && s.book === "valid")).toBe(true);
    await waitFor("ready", async () => (await readyStatus(broadcaster)) === 200);
    const ringMetric = (name: string, ring: string) =>
      metric(broadcaster, `alphapulse_broadcast_${name}`, ring);
    expect(await ringMetric("ring_stale", "kraken-a.ring")).toBe(1);
    expect(await ringMetric("ring_topics_served", "kraken-a.ring")).toBe(0);
    expect(await ringMetric("ring_topics_served", "kraken-b.ring")).toBe(KRAKEN_TOPICS);
    expect(await ringMetric("topic_owner_changes_total", "kraken-b.ring")).toBe(KRAKEN_TOPICS);
  }, 60_000);
});

describe("a ring whose collector died at start", () => {
  const stack = new OpsStack("owner-unborn");
  let broadcaster: BroadcasterProcess;
  let client: RecordingSdkClient;

  beforeAll(async () => {
    await stack.startSimulator();
    await deadRing(stack, "kraken-x");
    broadcaster = await stack.startBroadcaster(SETTINGS);
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await stack.stop();
  }, 120_000);

  test("attached first, it serves its topics as stale until a live ring comes, which takes them over", async () => {
    await waitFor(
      "the dead ring marked",
      async () => (await rings(broadcaster)).get("kraken-x.ring")?.writer === "writer_gone",
    );
    expect(await readyStatus(broadcaster)).toBe(503);
    client = await new RecordingSdkClient(broadcaster.ws).start(TOPICS);
    const book = client.sdk.book(BOOK)!;
    expect({ status: book.status, bids: book.bids(), asks: book.asks() }).toEqual({
      status: "stale",
      bids: [],
      asks: [],
    });
    await waitFor("stale on every topic", () => TOPICS.every((topic) => client.status(topic, "stale")));

    await stack.startCollector("kraken");
    await waitFor("restarted on every topic", () =>
      TOPICS.every((topic) => client.status(topic, "restarted")),
    );
    await waitFor(
      "the live ring's book",
      () => client.sdk.book(BOOK)?.status === "valid" && client.sdk.book(BOOK)!.bidCount > 0,
    );
    await waitFor("ready", async () => (await readyStatus(broadcaster)) === 200);
    for (const topic of TOPICS) {
      expect(client.status(topic, "restarted")!.message.reason).toBe("ring kraken.ring");
    }
    expect(client.sdk.gaps).toBe(0);
  }, 120_000);

  test("appearing later, it takes nothing from the live ring and the broadcaster stays ready", async () => {
    const from = client.received.length;
    await deadRing(stack, "kraken-y");
    await waitFor(
      "the newcomer marked",
      async () => (await rings(broadcaster)).get("kraken-y.ring")?.writer === "writer_gone",
    );
    const seen = await rings(broadcaster);
    expect(seen.get("kraken-y.ring")!.symbols.every((s) => !s.served)).toBe(true);
    expect(seen.get("kraken.ring")!.symbols.every((s) => s.served && s.book === "valid")).toBe(true);
    expect(await readyStatus(broadcaster)).toBe(200);
    // `inspect` marks it too, and not the live one.
    expect(inspectWriterGone(stack, "kraken-y")).toBe(true);
    expect(inspectWriterGone(stack, "kraken")).toBe(false);
    // Its subscribers were told nothing: the live ring's messages went on.
    const messages = client.of(BOOK, from).map((r) => r.message);
    expect(messages.filter((m) => m.type === "status")).toEqual([]);
    expect(messages.length).toBeGreaterThan(0);
    expect(consecutive(messages.map((m) => m.seq))).toBe(true);
  }, 60_000);
});

describe("a ring file removed", () => {
  const symbols = [{ venueSymbol: "XBT/USD", symbol: "BTC-USD", priceDecimals: 1, sizeDecimals: 8 }];
  const root = `/dev/shm/ap-test-owner-removed-${process.pid}`;
  const broadcasters: LoopbackBroadcaster[] = [];
  const feeds: TestFeed[] = [];

  afterAll(() => tearDown(root, broadcasters, feeds));

  // The scan lists the directory only when its mtime moved, or moved within the last second:
  // after a quiet spell, each change comes after scans that found the directory unchanged.
  for (const quietMs of [0, 2_500]) {
    const when = quietMs === 0 ? "" : " (each after the directory was quiet)";
    test(`its topics are told stale; a ring that appears for them later takes them on, restarted${when}`, async () => {
      const dir = `${root}/quiet-${quietMs}`;
      rmSync(dir, { recursive: true, force: true });
      const feed = new TestFeed(dir, "kraken", "kraken", symbols);
      feeds.push(feed);
      feed.snapshot(0, [[100_0, 1]], [[101_0, 1]]);
      const broadcaster = startTestBroadcaster(dir);
      broadcasters.push(broadcaster);
      const client = await new RecordingSdkClient(broadcaster.ws).start([BOOK, TRADES]);
      await Bun.sleep(quietMs);
      feed.close();
      rmSync(`${dir}/kraken.ring`);
      await waitFor("stale", () =>
        [BOOK, TRADES].every((t) => client.status(t, "stale")?.message.reason === "ring_removed"),
      );
      expect(client.sdk.book(BOOK)!.status).toBe("stale");

      await Bun.sleep(quietMs);
      const next = new TestFeed(dir, "kraken-2", "kraken", symbols);
      feeds.push(next);
      next.snapshot(0, [[99_0, 2]], [[102_0, 2]]);
      await waitFor("restarted", () => [BOOK, TRADES].every((t) => client.status(t, "restarted")));
      await waitFor("the new book", () => client.sdk.book(BOOK)?.bids()[0]?.[0] === "99");
      expect(client.sdk.book(BOOK)!.status).toBe("valid");
      expect(client.status(BOOK, "restarted")!.message.reason).toBe("ring kraken-2.ring");
      expect(client.sdk.gaps).toBe(0);
      client.close();
    }, 30_000);
  }
});
