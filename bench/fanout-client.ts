// The fan-out load generator: one process holding many WebSocket clients, driven over
// stdin/stdout by bench/fanout.ts and test/broadcast-fanout.test.ts.
//   verify mode: every client is an SDK client (sequence checks on every message, a local book);
//                the report says, per topic, how many clients ended in each state.
//   count  mode: lean clients that count messages and bytes and sample latency (record publish
//                time `pt` to receipt, on the shared clock), so the clients cost little CPU.
// Protocol (bench/fanout-workers.ts drives it): argv[2] is a JSON WorkerSpec; it prints
// {"event":"ready"} once every client is subscribed; "start" resets the counters ({"event":
// "started"}); "stop" (or "stop <json {topic: seq}>": first wait until every client reached
// those seqs) prints {"event":"report",...} and exits.
import { AlphaPulseClient } from "../src/client/client.ts";
import { realtimeInto } from "../src/shm/clock.ts";

export interface WorkerSpec {
  readonly url: string;
  readonly clients: number;
  /** Client i subscribes topicSets[(firstClient + i) % topicSets.length]. */
  readonly topicSets: readonly (readonly string[])[];
  readonly firstClient: number;
  readonly mode: "verify" | "count";
  /** count mode: sample the latency of one message in this many. */
  readonly sampleEvery?: number;
}

export interface WorkerReport {
  readonly clients: number;
  readonly connected: number;
  readonly messages: number;
  readonly bytes: number;
  readonly seconds: number;
  readonly closes: Record<string, number>;
  /** verify mode: gaps the SDK saw (a correct stream has none). */
  readonly gaps: number;
  /** verify mode: per topic, "<last seq> <book digest>" -> clients in that state. */
  readonly states: Record<string, Record<string, number>>;
  /** count mode: sampled latencies, nanoseconds. */
  readonly latencyNs: number[];
}

const spec = JSON.parse(process.argv[2] ?? "{}") as WorkerSpec;
const clock = new Uint32Array(2);
let counting = false;
let messages = 0;
let bytes = 0;
let startedAt = 0;
const closes: Record<string, number> = {};
const latencyNs: number[] = [];
const MAX_SAMPLES = 50_000;

function nowMicros(): number {
  realtimeInto(clock, 0);
  return clock[0]! * 1e6 + clock[1]! / 1e3;
}

function topicsOf(index: number): readonly string[] {
  return spec.topicSets[(spec.firstClient + index) % spec.topicSets.length]!;
}

/** A lean client: counts, and reads `pt` from one message in `sampleEvery` without parsing it all. */
function leanClient(index: number): Promise<WebSocket> {
  const sampleEvery = spec.sampleEvery ?? 8;
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(spec.url);
    let seen = 0;
    let subscribed = false;
    socket.onopen = () => socket.send(JSON.stringify({ op: "subscribe", topics: topicsOf(index) }));
    socket.onmessage = (event) => {
      const text = event.data as string;
      if (!subscribed) {
        if (text.startsWith('{"type":"ack"')) {
          subscribed = true;
          resolve(socket);
        }
        return;
      }
      if (!counting) return;
      messages++;
      bytes += text.length;
      if (++seen % sampleEvery === 0 && latencyNs.length < MAX_SAMPLES) {
        const at = text.indexOf('"pt":');
        if (at > 0) {
          const published = Number.parseFloat(text.slice(at + 5, text.indexOf(",", at)));
          if (published > 0) latencyNs.push((nowMicros() - published) * 1000);
        }
      }
    };
    socket.onclose = (event) => {
      closes[event.code] = (closes[event.code] ?? 0) + 1;
      if (!subscribed) reject(new Error(`client ${index} closed (${event.code}) before its ack`));
    };
  });
}

function digest(client: AlphaPulseClient, topic: string): string {
  const book = client.book(topic);
  const state = book ? JSON.stringify([book.bids(), book.asks()]) : "";
  return `${client.lastSeq(topic)} ${Bun.hash(state).toString(36)}`;
}

const sdkClients: AlphaPulseClient[] = [];
const leanClients: WebSocket[] = [];
let gaps = 0;

async function connectAll(): Promise<void> {
  // A few hundred handshakes at a time: a burst of thousands overflows the listen backlog.
  const batch = 200;
  for (let first = 0; first < spec.clients; first += batch) {
    const pending: Promise<unknown>[] = [];
    for (let i = first; i < Math.min(spec.clients, first + batch); i++) {
      if (spec.mode === "count") {
        pending.push(leanClient(i).then((socket) => leanClients.push(socket)));
        continue;
      }
      const client = new AlphaPulseClient({ urls: [spec.url], reconnect: false, requestTimeoutMs: 60_000 });
      client.on("message", (message) => {
        if (!counting) return;
        messages++;
        bytes += message.topic.length; // verify mode reports messages; bytes are not its point
      });
      client.on("gap", () => gaps++);
      client.on("close", (code) => {
        closes[code] = (closes[code] ?? 0) + 1;
      });
      sdkClients.push(client);
      pending.push(client.connect().then(() => client.subscribe(topicsOf(i))));
    }
    await Promise.all(pending);
  }
}

function report(): WorkerReport {
  const states: Record<string, Record<string, number>> = {};
  sdkClients.forEach((client, i) => {
    for (const topic of topicsOf(i)) {
      const key = digest(client, topic);
      states[topic] ??= {};
      states[topic][key] = (states[topic][key] ?? 0) + 1;
    }
  });
  return {
    clients: spec.clients,
    connected: spec.mode === "count" ? leanClients.length : sdkClients.filter((c) => c.connected).length,
    messages,
    bytes,
    seconds: (performance.now() - startedAt) / 1000,
    closes,
    gaps,
    states,
    latencyNs,
  };
}

/** Waits until every SDK client reached the given last seq on each of its topics. */
async function reach(targets: Record<string, number>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const done = () =>
    sdkClients.every((client, i) =>
      topicsOf(i).every((topic) => targets[topic] === undefined || client.lastSeq(topic) === targets[topic]),
    );
  while (!done() && Date.now() < deadline) await Bun.sleep(10);
}

await connectAll();
console.log(JSON.stringify({ event: "ready" }));
for await (const line of console) {
  const [command, argument] = [line.split(" ", 1)[0], line.slice(line.indexOf(" ") + 1)];
  if (command === "start") {
    messages = 0;
    bytes = 0;
    latencyNs.length = 0;
    startedAt = performance.now();
    counting = true;
    console.log(JSON.stringify({ event: "started" }));
  } else if (command === "stop") {
    if (line.includes(" ")) await reach(JSON.parse(argument) as Record<string, number>, 60_000);
    counting = false;
    console.log(JSON.stringify({ event: "report", ...report() }));
    for (const client of sdkClients) client.close();
    for (const socket of leanClients) socket.close();
    process.exit(0);
  }
}
