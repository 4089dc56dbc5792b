// The idle strategies' spin: a record it finds is polled in the same event-loop turn, before
// the timers that fell due while it spun; a round that finds nothing despite that, and the
// round right after one that read, go through the event loop.
import { expect, test } from "bun:test";
import { IDLE_STRATEGIES, idleStrategy } from "../src/broadcast/idle-strategy.ts";

/** A spin phase far longer than any pause of a busy test process: every idle() here spins. */
const SETTINGS = { spinMicros: 1_000_000, parkMillis: 0 } as const;

for (const name of IDLE_STRATEGIES) {
  test(`${name}: a record found while spinning is polled in the same turn, ahead of a due timer`, async () => {
    const order: string[] = [];
    setTimeout(() => order.push("timer"), 1);
    const due = performance.now() + 3;
    while (performance.now() < due) {} // the timer falls due; only the event loop can run it
    const strategy = idleStrategy({ ...SETTINGS, idleStrategy: name }, () => true);
    strategy.idle(0, () => order.push("poll"));
    order.push("idle returned");
    await Bun.sleep(5);
    strategy.close();
    expect(order).toEqual(["poll", "idle returned", "timer"]);
  });
}

test("a poll that the spin started and that reads nothing goes through the event loop", async () => {
  const strategy = idleStrategy({ ...SETTINGS, idleStrategy: "busy-spin" }, () => true);
  const order: string[] = [];
  let polls = 0;
  const poll = () => {
    polls++;
    order.push(`poll ${polls}`);
    if (polls < 3) strategy.idle(0, poll); // a record is always "waiting", never read
  };
  strategy.idle(0, poll);
  order.push("idle returned");
  await Bun.sleep(5);
  strategy.close();
  // The first poll runs at once; the one it schedules waits for the next turn (no recursion).
  expect(order).toEqual(["poll 1", "idle returned", "poll 2", "poll 3"]);
});

test("the turn after a round that read records does not spin: uWS writes its messages first", async () => {
  let probes = 0;
  const strategy = idleStrategy({ ...SETTINGS, idleStrategy: "busy-spin" }, () => {
    probes++;
    return true;
  });
  const order: string[] = [];
  strategy.idle(5, () => order.push("after reading"));
  strategy.idle(0, () => order.push("the turn after"));
  order.push("both returned");
  await Bun.sleep(5);
  strategy.close();
  expect(probes).toBe(0);
  expect(order).toEqual(["both returned", "after reading", "the turn after"]);
});
