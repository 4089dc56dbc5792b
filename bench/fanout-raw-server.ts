// The fan-out ceiling for `bun bench fanout`: bare Bun.serve topic pub/sub with no AlphaPulse
// logic (no rings, books, limits or metrics). GET /start?seconds=S publishes the synthetic stream
// of bench/fanout-stream.mjs; subscribes get an ack. GET /latency gives its own server-side
// figure, as the broadcaster's fan-out histogram does: from each message falling due to
// `publish` returning (handed to uWS for every subscriber), which includes up to 1 ms of the
// stream's timer granularity.
import { realtimeInto } from "../src/shm/clock.ts";
import { runStream } from "./fanout-stream.mjs";
import { latencySummaryUs } from "./stats.ts";

const spec = JSON.parse(process.argv[2] ?? "{}") as {
  port: number;
  symbols: string[];
  rate: number;
  stamp?: "publish" | "due";
};
const clock = new Uint32Array(2);
/** Due-to-handed nanoseconds of each message published, for GET /latency. */
const handed = new Float64Array(1 << 22);
let handedCount = 0;

function nowMicros(): number {
  realtimeInto(clock, 0);
  return clock[0]! * 1e6 + clock[1]! / 1e3;
}

const server = Bun.serve({
  port: spec.port,
  hostname: "127.0.0.1",
  fetch(request, srv) {
    const url = new URL(request.url);
    if (url.pathname === "/ws") {
      return srv.upgrade(request, { data: undefined }) ? undefined : new Response("upgrade", { status: 400 });
    }
    if (url.pathname === "/start") {
      runStream(
        spec.symbols,
        spec.rate,
        Number(url.searchParams.get("seconds") ?? 5),
        nowMicros,
        (topic, text, due) => {
          srv.publish(topic, text);
          if (handedCount < handed.length) handed[handedCount++] = (nowMicros() - due) * 1000;
        },
        spec.stamp,
      );
      return new Response("started");
    }
    if (url.pathname === "/latency") {
      return Response.json(latencySummaryUs(handed.slice(0, handedCount)));
    }
    return new Response("ok");
  },
  websocket: {
    message(ws, text) {
      const request = JSON.parse(String(text)) as { topics: string[] };
      for (const topic of request.topics) ws.subscribe(topic);
      ws.send(JSON.stringify({ type: "ack", op: "subscribe", topics: request.topics }));
    },
  },
});
console.log(JSON.stringify({ event: "listening", port: server.port }));
