// The fan-out load generator: one process holding many WebSocket clients, driven over
// stdin/stdout by bench/fanout.ts and test/broadcast-fanout.test.ts.
//   verify mode: every client is an SDK client (sequence checks on every message, a local book);
//                the report says, per topic, how many clients ended in each state.
//   count  mode: lean raw-socket clients that count messages and bytes and sample latency (record
//                publish time `pt` to receipt, on the shared clock), so the clients cost little CPU.
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

let sampled = 0;

/**
 * Keeps a uniform sample of at most MAX_SAMPLES over the whole run (reservoir sampling): keeping
 * only the first ones measured the first second of a 10,000-client run, before any backlog.
 */
function keepSample(ns: number): void {
  sampled++;
  if (latencyNs.length < MAX_SAMPLES) latencyNs.push(ns);
  else {
    const slot = Math.floor(Math.random() * sampled);
    if (slot < MAX_SAMPLES) latencyNs[slot] = ns;
  }
}

function nowMicros(): number {
  realtimeInto(clock, 0);
  return clock[0]! * 1e6 + clock[1]! / 1e3;
}

function topicsOf(index: number): readonly string[] {
  return spec.topicSets[(spec.firstClient + index) % spec.topicSets.length]!;
}

const SUBSCRIBE_KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const decoder = new TextDecoder();

/** A client frame: masked (with a zero mask, which leaves the payload as is), FIN, text. */
function clientFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const long = payload.length > 125;
  const frame = new Uint8Array((long ? 8 : 6) + payload.length);
  frame[0] = 0x80 | opcode;
  if (long) {
    frame[1] = 0x80 | 126;
    frame[2] = payload.length >> 8;
    frame[3] = payload.length & 0xff;
  } else {
    frame[1] = 0x80 | payload.length;
  }
  frame.set(payload, long ? 8 : 6);
  return frame;
}

/**
 * A lean client on a raw TCP socket: it parses only frame headers and counts, and reads `pt`
 * from one message in `sampleEvery`. A WebSocket object per client costs a dispatched event per
 * message, which on two cores would measure the clients, not the server.
 */
function leanClient(index: number): Promise<void> {
  const sampleEvery = spec.sampleEvery ?? 8;
  const url = new URL(spec.url);
  return new Promise((resolve, reject) => {
    let open = false;
    let subscribed = false;
    let pending = new Uint8Array(0);
    let seen = 0;
    const onFrames = (socket: { write(data: Uint8Array): number }, bytesIn: Uint8Array) => {
      let data = bytesIn;
      if (pending.length > 0) {
        data = new Uint8Array(pending.length + bytesIn.length);
        data.set(pending);
        data.set(bytesIn, pending.length);
      }
      let at = 0;
      while (data.length - at >= 2) {
        const opcode = data[at]! & 0x0f;
        let length = data[at + 1]! & 0x7f;
        let header = 2;
        if (length === 126) {
          if (data.length - at < 4) break;
          length = (data[at + 2]! << 8) | data[at + 3]!;
          header = 4;
        } else if (length === 127) {
          if (data.length - at < 10) break;
          length =
            (data[at + 6]! * 2 ** 24 + ((data[at + 7]! << 16) | (data[at + 8]! << 8) | data[at + 9]!)) >>> 0;
          header = 10;
        }
        if (data.length - at < header + length) break;
        const start = at + header;
        at = start + length;
        if (opcode === 1) {
          if (!subscribed) {
            subscribed = true;
            resolve();
            continue;
          }
          if (!counting) continue;
          messages++;
          bytes += length;
          if (++seen % sampleEvery === 0) {
            const text = decoder.decode(data.subarray(start, start + length));
            const field = text.indexOf('"pt":');
            const published =
              field > 0 ? Number.parseFloat(text.slice(field + 5, text.indexOf(",", field))) : 0;
            if (published > 0) keepSample((nowMicros() - published) * 1000);
          }
        } else if (opcode === 9) {
          socket.write(clientFrame(10, data.subarray(start, start + length)));
        } else if (opcode === 8) {
          const code = length >= 2 ? (data[start]! << 8) | data[start + 1]! : 1005;
          closes[code] = (closes[code] ?? 0) + 1;
        }
      }
      pending = at < data.length ? data.slice(at) : new Uint8Array(0);
    };
    Bun.connect({
      hostname: url.hostname,
      port: Number(url.port),
      socket: {
        open(socket) {
          socket.write(
            `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\n` +
              `Connection: Upgrade\r\nSec-WebSocket-Key: ${SUBSCRIBE_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
          );
        },
        data(socket, chunk) {
          if (open) {
            onFrames(socket, chunk);
            return;
          }
          const text = decoder.decode(chunk);
          const end = text.indexOf("\r\n\r\n");
          if (!text.startsWith("HTTP/1.1 101") || end < 0) {
            reject(new Error(`client ${index}: upgrade refused: ${text.split("\r\n")[0]}`));
            socket.end();
            return;
          }
          open = true;
          const request = new TextEncoder().encode(
            JSON.stringify({ op: "subscribe", topics: topicsOf(index) }),
          );
          socket.write(clientFrame(1, request));
          const rest = chunk.subarray(Buffer.byteLength(text.slice(0, end + 4)));
          if (rest.length > 0) onFrames(socket, rest);
        },
        close() {
          if (!subscribed) reject(new Error(`client ${index} closed before its ack`));
        },
        error(_socket, error) {
          reject(error);
        },
      },
    }).then((socket) => leanSockets.push(socket), reject);
  });
}

function digest(client: AlphaPulseClient, topic: string): string {
  const book = client.book(topic);
  const state = book ? JSON.stringify([book.bids(), book.asks()]) : "";
  return `${client.lastSeq(topic)} ${Bun.hash(state).toString(36)}`;
}

const sdkClients: AlphaPulseClient[] = [];
const leanSockets: Array<{ end(): void }> = [];
let gaps = 0;

async function connectAll(): Promise<void> {
  // A few hundred handshakes at a time: a burst of thousands overflows the listen backlog.
  const batch = 200;
  for (let first = 0; first < spec.clients; first += batch) {
    const pending: Promise<unknown>[] = [];
    for (let i = first; i < Math.min(spec.clients, first + batch); i++) {
      if (spec.mode === "count") {
        pending.push(leanClient(i));
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
    connected: spec.mode === "count" ? leanSockets.length : sdkClients.filter((c) => c.connected).length,
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
    sampled = 0;
    startedAt = performance.now();
    counting = true;
    console.log(JSON.stringify({ event: "started" }));
  } else if (command === "stop") {
    if (line.includes(" ")) await reach(JSON.parse(argument) as Record<string, number>, 60_000);
    counting = false;
    console.log(JSON.stringify({ event: "report", ...report() }));
    for (const client of sdkClients) client.close();
    for (const socket of leanSockets) socket.end();
    process.exit(0);
  }
}
