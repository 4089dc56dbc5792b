// The WebSocket half of smoke-tests.sh and integration-tests.sh: subscribes to topics on a
// broadcaster and waits for data, speaking the wire protocol of docs/protocol.md directly (no
// SDK), so it checks what any client would see. Prints one JSON line; exits 1 on failure.
//
// usage: bun scripts/ws-probe.ts WS_URL [--topics t1,t2] [--messages N] [--timeout-ms MS] [--chain]
//   --messages  data messages to wait for (default 1)
//   --chain     also require every message to follow its topic's last seq without a hole
import { type DataMessage, followsOn, type ServerMessage } from "../src/protocol/messages.ts";

interface ProbeOptions {
  readonly url: string;
  readonly topics: string[];
  readonly messages: number;
  readonly timeoutMs: number;
  readonly chain: boolean;
}

function parseArgs(argv: string[]): ProbeOptions {
  const [url, ...rest] = argv;
  if (url === undefined || !/^wss?:\/\//.test(url)) throw new Error("first argument: a ws:// or wss:// URL");
  const options = { url, topics: ["book.*.*", "trades.*.*"], messages: 1, timeoutMs: 30_000, chain: false };
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    if (flag === "--chain") {
      options.chain = true;
      continue;
    }
    const value = rest[++i] ?? "";
    if (flag === "--topics") options.topics = value.split(",");
    else if (flag === "--messages") options.messages = Number(value);
    else if (flag === "--timeout-ms") options.timeoutMs = Number(value);
    else throw new Error(`unknown argument ${flag}`);
  }
  if (!(options.messages >= 1) || !(options.timeoutMs >= 1))
    throw new Error("--messages and --timeout-ms must be >= 1");
  return options;
}

interface ProbeResult {
  ok: boolean;
  reason?: string;
  acked: string[];
  received: number;
  byType: Record<string, number>;
  topics: string[];
  chainBreaks: number;
  firstMessageMs?: number;
}

function probe(options: ProbeOptions): Promise<ProbeResult> {
  const started = performance.now();
  const result: ProbeResult = { ok: false, acked: [], received: 0, byType: {}, topics: [], chainBreaks: 0 };
  const lastSeq = new Map<string, number>();
  const seen = new Set<string>();
  return new Promise((resolve) => {
    const socket = new WebSocket(options.url);
    let done = false;
    const finish = (ok: boolean, reason?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      result.ok = ok && result.chainBreaks === 0;
      if (reason !== undefined) result.reason = reason;
      else if (result.chainBreaks > 0)
        result.reason = `${result.chainBreaks} messages broke their topic's seq chain`;
      result.topics = [...seen].sort();
      socket.close(1000);
      resolve(result);
    };
    const timer = setTimeout(
      () => finish(false, `${result.received}/${options.messages} data messages in ${options.timeoutMs} ms`),
      options.timeoutMs,
    );
    socket.onopen = () =>
      socket.send(JSON.stringify({ op: "subscribe", topics: options.topics, id: "probe" }));
    socket.onerror = () => finish(false, `cannot connect to ${options.url}`);
    socket.onclose = (event) => finish(false, `closed by the server: ${event.code} ${event.reason}`);
    socket.onmessage = (event) => {
      const message = JSON.parse(String(event.data)) as ServerMessage;
      if (message.type === "ack") {
        result.acked.push(...message.topics);
        // Each new topic's position: the seq of its last message; the next one is + 1.
        for (const [topic, seq] of Object.entries(message.seqs ?? {})) lastSeq.set(topic, seq);
        return;
      }
      if (message.type === "error") return finish(false, `server error ${message.code}: ${message.message}`);
      if (message.type === "pong" || message.type === "warning") return;
      const data: DataMessage = message;
      if (options.chain && !followsOn(data, lastSeq.get(data.topic))) result.chainBreaks++;
      lastSeq.set(data.topic, data.seq);
      seen.add(data.topic);
      if (data.type === "status") return;
      result.received++;
      result.byType[data.type] = (result.byType[data.type] ?? 0) + 1;
      result.firstMessageMs ??= Math.round(performance.now() - started);
      if (result.received >= options.messages) finish(true);
    };
  });
}

const result = await probe(parseArgs(process.argv.slice(2)));
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
