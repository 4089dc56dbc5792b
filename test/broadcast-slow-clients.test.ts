// The slow-client policy without sockets: clients report their unsent bytes; one check warns
// once past the warning level, closes with 4008 past the close level, keeps all of them within
// the send budget by closing the furthest behind first, and exports the total. With many
// clients, a check reads only those known to be behind and a share of the others, and still
// reaches every client within a sweep.
import { beforeEach, expect, test } from "bun:test";
import { Registry } from "prom-client";
import { BroadcastMetrics } from "../src/broadcast/metrics.ts";
import { SlowClientPolicy } from "../src/broadcast/slow-clients.ts";
import { newClientState } from "../src/broadcast/subscriptions.ts";
import { Logger } from "../src/log.ts";
import { CloseCode } from "../src/protocol/messages.ts";
import { RecordingClient } from "./support/recording-client.ts";

const LIMITS = { slowWarnBytes: 1000, slowCloseBytes: 5000, sendBudgetBytes: 6000 };
let registry: Registry;
let metrics: BroadcastMetrics;
let policy: SlowClientPolicy;
let logLines: string[];

beforeEach(() => {
  registry = new Registry();
  metrics = new BroadcastMetrics(registry, {
    ringLag: () => [],
    rings: () => 0,
    ringWriters: () => [],
  });
  logLines = [];
  policy = new SlowClientPolicy(LIMITS, metrics, new Logger("info", {}, (line) => logLines.push(line)));
});

function clients(...buffered: number[]): Set<RecordingClient> {
  return new Set(
    buffered.map((bytes, i) => {
      const client = new RecordingClient(newClientState(i + 1, 20));
      client.buffered = bytes;
      return client;
    }),
  );
}

async function value(metric: { get(): Promise<{ values: Array<{ value: number }> }> }): Promise<number> {
  return (await metric.get()).values[0]?.value ?? 0;
}

/** The unsent-bytes gauge as Prometheus scrapes it. */
async function unsentBytes(): Promise<number> {
  return value(registry.getSingleMetric("alphapulse_broadcast_unsent_bytes")!);
}

test("under the warning level: nothing happens; the total is exported", async () => {
  const all = clients(0, 999, 500);
  expect(policy.check(all)).toBe(1499);
  expect([...all].every((c) => c.sent.length === 0 && c.closed === null)).toBe(true);
  expect(await unsentBytes()).toBe(1499);
});

test("past the warning level: warned once, with the bytes; warned again only after catching up", async () => {
  const one = clients(1200);
  const [client] = one;
  policy.check(one);
  policy.check(one);
  expect(client!.messages()).toEqual([
    {
      type: "warning",
      code: "slow_consumer",
      message: "you are 1200 bytes behind; past 5000 the server closes with 4008",
      bufferedBytes: 1200,
    },
  ]);
  client!.buffered = 600; // under the warning level, not yet under half of it
  policy.drained(client!);
  expect(client!.data.warned).toBe(true);
  client!.buffered = 400;
  policy.drained(client!);
  client!.buffered = 1100;
  policy.check(one);
  expect(client!.sent).toHaveLength(2);
  expect(client!.closed).toBeNull();
  expect(await value(metrics.slowWarnings)).toBe(2);
});

test("past the close level: warned first (the warning says why), then closed with 4008", async () => {
  const both = clients(5000, 10);
  const [slow, fine] = both;
  expect(policy.check(both)).toBe(10);
  expect(slow!.messages()[0]).toMatchObject({ type: "warning", bufferedBytes: 5000 });
  expect(slow!.closed).toEqual({ code: CloseCode.SlowConsumer, reason: "slow consumer: could not keep up" });
  expect(fine!.closed).toBeNull();
  expect(await value(metrics.slowDisconnects)).toBe(1);
  expect(logLines.some((line) => line.includes("closing a slow client"))).toBe(true);
});

test("over the send budget together: the furthest behind are closed until the rest fit", async () => {
  // 2000 + 4000 + 1500 + 300 = 7800 > 6000: closing the 4000 one is enough.
  const all = clients(2000, 4000, 1500, 300);
  expect(policy.check(all)).toBe(3800);
  expect([...all].map((c) => c.closed?.reason ?? null)).toEqual([
    null,
    "slow consumer: the server's send budget is spent",
    null,
    null,
  ]);
  // Closing clients under the warning level would not help them: only those past it are candidates.
  for (const client of all) client.buffered = 0; // caught up: no longer watched
  const many = clients(1900, 1900, 1900, 900, 900);
  expect(policy.check(many)).toBe(5600);
  expect([...many].filter((c) => c.closed !== null)).toHaveLength(1);
  expect(await unsentBytes()).toBe(5600);
});

test("many clients: a check reads the watched ones and a share of the rest; every client within a sweep", () => {
  // 1,024 clients: a check sweeps 256 of them (at least 1/20th), so a sweep takes 4 checks.
  const all = clients(...new Array<number>(1024).fill(0));
  const reads = new Map<RecordingClient, number>();
  for (const client of all) {
    client.getBufferedAmount = () => {
      reads.set(client, (reads.get(client) ?? 0) + 1);
      return client.buffered;
    };
  }
  const stalled = [...all][1023]!; // the last one a sweep reaches
  stalled.buffered = 10;
  expect(policy.check(all)).toBe(0);
  expect(reads.size).toBe(256);
  policy.check(all);
  policy.check(all);
  expect(stalled.closed).toBeNull();
  expect(policy.check(all)).toBe(10); // reached in the fourth check, and watched from then on
  expect(reads.size).toBe(1024);
  expect([...reads.values()].every((n) => n <= 2)).toBe(true);

  // Watched: read at every check, so it is warned and closed in the check after it passes a level.
  reads.clear();
  stalled.buffered = 1500;
  policy.check(all);
  expect(stalled.messages()[0]).toMatchObject({ type: "warning", bufferedBytes: 1500 });
  stalled.buffered = 6000;
  expect(policy.check(all)).toBe(0);
  expect(stalled.closed).toEqual({
    code: CloseCode.SlowConsumer,
    reason: "slow consumer: could not keep up",
  });
  expect(reads.get(stalled)).toBe(2);
  expect(reads.size).toBe(2 * 256 + 1); // the sweep's next two shares, and the watched client

  // A client that caught up leaves the watch; one that uWS drained joins it before its sweep turn.
  const drainedClient = [...all][1000]!; // not in the next share (512 to 767)
  drainedClient.buffered = 1200;
  policy.drained(drainedClient);
  policy.check(all);
  expect(drainedClient.messages()[0]).toMatchObject({ type: "warning", bufferedBytes: 1200 });
});
