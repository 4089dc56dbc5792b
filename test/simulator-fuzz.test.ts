// Malformed client input never breaks the simulator: arbitrary text and arbitrary JSON sent to
// every venue's WebSocket and to the control API get errors (or are ignored), and the server keeps
// serving: after each batch a fresh client still gets a valid answer.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import fc from "fast-check";
import { type Simulator, startSimulator } from "../src/simulator/index.ts";
import { RecordingClient } from "./support/simulator-ws-client.ts";
import { waitFor } from "./support/wait.ts";

// Generous on a loaded 2-core machine: the waits inside poll with their own deadlines.
setDefaultTimeout(60_000);

let sim: Simulator;

beforeAll(() => {
  sim = startSimulator({ symbols: ["BTC-USD", "ETH-USDT"], seed: 2, bookLevels: 50 });
});

afterAll(async () => {
  await sim.stop();
});

/** Requests shaped like each venue's, with random values where the fields go. */
const field = fc.oneof(
  fc.jsonValue(),
  fc.constantFrom("book", "trade", "level2", "BTC/USD", "BTC-USD", "btcusdt@trade"),
);
const shaped = fc.oneof(
  fc.record({
    method: fc.oneof(fc.constantFrom("subscribe", "unsubscribe", "ping"), field),
    params: fc.oneof(field, fc.record({ channel: field, symbol: field, depth: field, snapshot: field })),
    req_id: field,
  }),
  fc.record({
    method: fc.oneof(
      fc.constantFrom("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY"),
      field,
    ),
    params: field,
    id: field,
  }),
  fc.record({
    type: fc.oneof(fc.constantFrom("subscribe", "unsubscribe"), field),
    product_ids: field,
    channel: field,
  }),
);
const inputs = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  shaped.map((v) => JSON.stringify(v)),
);

async function stillServes(): Promise<void> {
  const client = await RecordingClient.connect(sim.urls.kraken.ws);
  try {
    client.send({ method: "ping", req_id: 7 });
    await waitFor("a pong", () => client.json().some((m) => m.method === "pong"));
  } finally {
    client.close();
  }
  expect((await fetch(`http://127.0.0.1:${sim.port}/control/stats`)).status).toBe(200);
}

describe("simulator under malformed input", () => {
  for (const [venue, path] of [
    ["kraken", "/kraken/v2"],
    ["binance", "/binance/ws"],
    ["coinbase", "/coinbase"],
  ] as const) {
    test(`${venue}: arbitrary frames get errors or nothing, never a crash`, async () => {
      const samples = fc.sample(inputs, { numRuns: 150, seed: 17 });
      // Binance closes a connection after 5 messages a second: send in batches of 5 per connection.
      for (let i = 0; i < samples.length; i += 5) {
        const client = await RecordingClient.connect(`ws://127.0.0.1:${sim.port}${path}`);
        for (const text of samples.slice(i, i + 5)) client.send(text);
        await waitFor("replies or silence", () => client.frames.length > 0 || client.closed, {
          timeoutMs: 200,
        }).catch(() => {});
        client.close();
      }
      await stillServes();
    });
  }

  test("control API: arbitrary bodies and paths get 4xx answers", async () => {
    const bodies = fc.sample(
      fc.oneof(
        fc.string({ maxLength: 100 }),
        fc.jsonValue().map((v) => JSON.stringify(v)),
        fc
          .record({ venue: field, kind: field, symbol: field, durationMs: field })
          .map((v) => JSON.stringify(v)),
      ),
      { numRuns: 200, seed: 5 },
    );
    for (const body of bodies) {
      const response = await fetch(`http://127.0.0.1:${sim.port}/control/fault`, { method: "POST", body });
      // A random body may happen to be a valid fault request; anything else is a 400.
      expect([200, 400]).toContain(response.status);
    }
    for (const segment of fc.sample(fc.string({ minLength: 1, maxLength: 30 }), { numRuns: 100, seed: 9 })) {
      const response = await fetch(
        `http://127.0.0.1:${sim.port}/control/book/kraken/${encodeURIComponent(segment)}?depth=3`,
      );
      expect([400, 404]).toContain(response.status);
    }
    await stillServes();
  });
});
