// The baseline for `bun bench fanout`: what a user would write instead, a Node 20 server with
// the `ws` package sending each message to its topic's subscribers. GET /start?seconds=S sends
// the synthetic stream of bench/fanout-stream.mjs; subscribes get an ack.
import { createServer } from "node:http";
import { performance } from "node:perf_hooks";
import { WebSocketServer } from "ws";
import { runStream } from "./fanout-stream.mjs";

const spec = JSON.parse(process.argv[2] ?? "{}");
/** Epoch microseconds on CLOCK_REALTIME, the clock the load generators read. */
const nowMicros = () => (performance.timeOrigin + performance.now()) * 1000;
const subscribers = new Map();

const http = createServer((request, response) => {
  const url = new URL(request.url, "http://localhost");
  if (url.pathname === "/start") {
    runStream(
      spec.symbols,
      spec.rate,
      Number(url.searchParams.get("seconds") ?? 5),
      nowMicros,
      (topic, text) => {
        for (const socket of subscribers.get(topic) ?? []) socket.send(text);
      },
    );
    response.end("started");
    return;
  }
  response.end("ok");
});

const wss = new WebSocketServer({ server: http, path: "/ws", perMessageDeflate: false });
wss.on("connection", (socket) => {
  const mine = [];
  socket.on("message", (data) => {
    const request = JSON.parse(String(data));
    for (const topic of request.topics) {
      if (!subscribers.has(topic)) subscribers.set(topic, new Set());
      subscribers.get(topic).add(socket);
      mine.push(topic);
    }
    socket.send(JSON.stringify({ type: "ack", op: "subscribe", topics: request.topics }));
  });
  socket.on("close", () => {
    for (const topic of mine) subscribers.get(topic)?.delete(socket);
  });
});

// Port 0 (the bench's choice) binds a free port: the bench reads it from this line.
http.listen(spec.port, "127.0.0.1", () =>
  console.log(JSON.stringify({ event: "listening", port: http.address().port })),
);
