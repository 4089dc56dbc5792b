// `bun bench fanout` (or `bun bench/fanout.ts`): fan-out from the broadcaster to 1,000 and 10,000
// WebSocket clients held by several load-generator processes, each client on one symbol's book,
// bbo and trades, fed by ring writers here. Under the same load and clients it runs the same
// stream from a Node 20 + ws server (the baseline) and from bare Bun.serve publish (the ceiling).
// Reports deliveries/s, latency from record publish to client receipt on the shared clock,
// server RSS and CPU, and the server-side figure: the broadcaster's pick-up and fan-out
// histograms, and bare Bun.serve's due-to-handed time (raw_server_fanout_*). JSON line last.
//   FANOUT_CLIENTS=1000      one client count instead of 1000 and 10000
//   FANOUT_SECONDS=5         measured seconds per run
//   FANOUT_RATE=100          book updates per second per symbol (bbo a fifth, trades half)
//   FANOUT_PROCESSES=4       load-generator processes
//   FANOUT_CLIENT_PRIORITY=idle  the load generators run at SCHED_IDLE (only on what the servers
//                            and the ring feed leave of the cores, as clients on other machines
//                            would); "normal" lets them compete for the cores, as before
//   FANOUT_SERVERS=alphapulse,alphapulse:BROADCAST_WORKERS=2,raw,raw:stamp=due,node
//                            a server "alphapulse:NAME=VALUE:..." runs the broadcaster with those
//                            settings, for A/B runs of its settings in one run (e.g.
//                            alphapulse:BROADCAST_IDLE_STRATEGY=sleeping); "alphapulse" alone is
//                            one fan-out worker (BROADCAST_WORKERS=1) unless the settings say more.
//                            "raw" stamps each message when its timer publishes it, so its own
//                            event loop's delay is not in its figure; "raw:stamp=due" stamps the
//                            moment the message fell due, as the broadcaster's clock starts at the
//                            ring commit in another process: the like-for-like ceiling
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { realtimeInto } from "../src/shm/clock.ts";
import { TestFeed } from "../test/support/broadcast-feed.ts";
import { broadcasterEnv } from "../test/support/broadcaster.ts";
import { FROM_SOURCE, startBroadcasterProcess } from "../test/support/mode-process.ts";
import { httpStatus, waitFor } from "../test/support/wait.ts";
import type { WorkerReport, WorkerSpec } from "./fanout-client.ts";
import { runStream } from "./fanout-stream.mjs";
import { LoadGenerators } from "./fanout-workers.ts";
import { bucketCountsUs, bucketQuantilesUs, latencySummaryUs, round, scrapeHistogram } from "./stats.ts";

const ROOT = path.resolve(import.meta.dir, "..");
const CLIENT_COUNTS = process.env.FANOUT_CLIENTS ? [Number(process.env.FANOUT_CLIENTS)] : [1000, 10_000];
const SECONDS = Number(process.env.FANOUT_SECONDS ?? 5);
const RATE = Number(process.env.FANOUT_RATE ?? 100);
const PROCESSES = Number(process.env.FANOUT_PROCESSES ?? 4);
const CLIENT_PRIORITY = process.env.FANOUT_CLIENT_PRIORITY === "normal" ? "normal" : "idle";
const TWO_WORKERS = "alphapulse:BROADCAST_WORKERS=2";
const RAW_DUE = "raw:stamp=due";
const SERVERS = (process.env.FANOUT_SERVERS ?? `alphapulse,${TWO_WORKERS},raw,${RAW_DUE},node`).split(",");
const DIR = `/dev/shm/ap-test-broadcast-bench-${process.pid}`;
const EXCHANGES = ["kraken", "binance", "coinbase"];
const SYMBOLS = ["BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD"];
const STREAMS = EXCHANGES.flatMap((exchange) => SYMBOLS.map((symbol) => `${exchange}.${symbol}`));
const MID = 4_500_000;
const OPEN_FILES = 65_536;

const clock = new Uint32Array(2);
function nowMicros(): number {
  realtimeInto(clock, 0);
  return clock[0]! * 1e6 + clock[1]! / 1e3;
}

/** CPU seconds (user + system) and resident memory of a process, from /proc. */
function usage(pid: number): { cpu: number; rssMiB: number; peakMiB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { cpu: ticks / 100, rssMiB: round(kib("VmRSS") / 1024, 1), peakMiB: round(kib("VmHWM") / 1024, 1) };
}

interface Server {
  readonly pid: number;
  /** http://127.0.0.1:port: the comparison servers' /start, the broadcaster's REST. */
  readonly http: string;
  readonly ws: string;
  /** alphapulse only: where its /ready and /metrics are. */
  readonly metrics?: string;
  /** Fan-out threads serving the clients (the comparison servers have one). */
  readonly workers: number;
  stop(): Promise<void>;
}

/** One server under test, on a port of its choosing, with the open-file limit the clients need. */
async function startServer(server: string): Promise<Server> {
  const [kind, ...settings] = server.split(":");
  const limit = `ulimit -n ${OPEN_FILES} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`;
  const wrapper = ["sh", "-c", limit, "sh"];
  if (kind === "alphapulse") {
    const overrides: Record<string, string> = {
      BROADCAST_WORKERS: "1",
      ...Object.fromEntries(settings.map((s) => [s.slice(0, s.indexOf("=")), s.slice(s.indexOf("=") + 1)])),
    };
    const env = broadcasterEnv(DIR, overrides);
    const broadcaster = await startBroadcasterProcess(env, [...wrapper, ...FROM_SOURCE]);
    await waitFor("the broadcaster", async () => (await httpStatus(`${broadcaster.metrics}/ready`)) === 200);
    return {
      pid: broadcaster.process.proc.pid,
      http: broadcaster.http,
      ws: broadcaster.ws,
      metrics: broadcaster.metrics,
      workers: Number(overrides.BROADCAST_WORKERS),
      stop: async () => {
        await broadcaster.process.stop();
      },
    };
  }
  if (kind !== "raw" && kind !== "node") throw new Error(`FANOUT_SERVERS: unknown server "${server}"`);
  const stamp = settings.includes("stamp=due") ? "due" : "publish";
  const spec = JSON.stringify({ port: 0, symbols: STREAMS, rate: RATE, stamp });
  const script =
    kind === "raw"
      ? ["bun", "bench/fanout-raw-server.ts", spec]
      : ["node", "bench/fanout-node-server.mjs", spec];
  const child = Bun.spawn([...wrapper, ...script], { cwd: ROOT, stdout: "pipe", stderr: "inherit" });
  // Its first line says where it listens; the rest of its output is drained unread.
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let first = "";
  while (!first.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`${kind} server exited before listening`);
    first += value;
  }
  void (async () => {
    while (!(await lines.read()).done) {}
  })();
  const { port } = JSON.parse(first.slice(0, first.indexOf("\n"))) as { port: number };
  return {
    pid: child.pid,
    http: `http://127.0.0.1:${port}`,
    ws: `ws://127.0.0.1:${port}/ws`,
    workers: 1,
    stop: async () => {
      child.kill("SIGTERM");
      await Promise.race([child.exited, Bun.sleep(10_000)]);
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
}

/** The broadcaster's feed: the same pacing as the comparison servers' stream, through rings. */
function feedRings(feeds: Map<string, TestFeed>, seconds: number): void {
  const updates = new Map<string, number>();
  let tradeId = 0;
  runStream(STREAMS, RATE, seconds, nowMicros, (topic) => {
    const [channel, exchange, symbol] = topic.split(".") as [string, string, string];
    const feed = feeds.get(exchange)!;
    const id = SYMBOLS.indexOf(symbol);
    if (channel === "book") {
      // A size change on level 1 to 5 in turn: every update changes the view, one in five the bbo.
      const n = (updates.get(topic) ?? 0) + 1;
      updates.set(topic, n);
      const ask = n % 2 === 0;
      const level = 1 + (Math.floor(n / 2) % 5);
      feed.update(id, [{ ask, price: ask ? MID + level * 10 : MID - level * 10, size: 1_000_000 + n }]);
    } else if (channel === "trades") {
      feed.trade(id, MID, 1000 + tradeId, tradeId % 2 === 0, ++tradeId);
    }
  });
}

interface RunResult {
  server: string;
  /** Fan-out processes or workers serving the clients. */
  workers: number;
  clients: number;
  deliveries_per_s: number;
  offered_per_s: number;
  p50_us: number;
  p99_us: number;
  server_cpu_pct: number;
  server_rss_mib: number;
  server_peak_rss_mib: number;
  closed: number;
  avg_message_bytes: number;
  /**
   * alphapulse, from its own histograms (live records; interpolated inside buckets): ring commit
   * to the record seen committed, and to the end of the poll turn that handed its message to uWS
   * for every subscriber (uWS writes when the turn returns to the event loop).
   */
  server_pickup_p50_us?: number;
  server_pickup_p99_us?: number;
  /**
   * alphapulse as above; bare Bun.serve ("raw") from each message falling due to `publish`
   * returning, which includes up to 1 ms of its stream's timer granularity.
   */
  server_fanout_p50_us?: number;
  server_fanout_p99_us?: number;
}

async function run(kind: string, clients: number, feeds: Map<string, TestFeed>): Promise<RunResult> {
  const server = await startServer(kind);
  let generators: LoadGenerators | null = null;
  try {
    const topicSets = STREAMS.map((stream) => [`book.${stream}`, `bbo.${stream}`, `trades.${stream}`]);
    const processes = Math.max(1, Math.min(PROCESSES, Math.ceil(clients / 250)));
    const specs: WorkerSpec[] = Array.from({ length: processes }, (_, i) => {
      const first = Math.floor((i * clients) / processes);
      return {
        url: server.ws,
        clients: Math.floor(((i + 1) * clients) / processes) - first,
        topicSets,
        firstClient: first,
        mode: "count",
      };
    });
    generators = new LoadGenerators(specs, OPEN_FILES, CLIENT_PRIORITY);
    await generators.ready(300_000);
    await generators.start();
    const before = usage(server.pid);
    const started = performance.now();
    if (server.metrics) feedRings(feeds, SECONDS);
    else await fetch(`${server.http}/start?seconds=${SECONDS}`);
    await Bun.sleep(SECONDS * 1000 + 250); // the last messages arrive
    const after = usage(server.pid);
    const elapsed = (performance.now() - started) / 1000;
    const quantiles = async (name: string) => {
      if (!server.metrics) return [];
      const buckets = await scrapeHistogram(server.metrics, name);
      const shape = bucketCountsUs(buckets).filter(([, count]) => count > 0);
      console.error(`${kind}: ${name} (records up to each bound, us): ${JSON.stringify(shape)}`);
      return bucketQuantilesUs(buckets, [0.5, 0.99]);
    };
    const [pickupP50, pickupP99] = await quantiles("alphapulse_broadcast_pickup_latency_seconds");
    let [fanoutP50, fanoutP99] = await quantiles("alphapulse_broadcast_fanout_latency_seconds");
    if (kind.startsWith("raw")) {
      const handed = (await (await fetch(`${server.http}/latency`)).json()) as {
        p50_us: number;
        p99_us: number;
      };
      [fanoutP50, fanoutP99] = [handed.p50_us, handed.p99_us];
    }
    const reports: WorkerReport[] = await generators.stop();
    generators = null;
    const messages = reports.reduce((sum, r) => sum + r.messages, 0);
    const samples = new Float64Array(reports.flatMap((r) => r.latencyNs));
    const latency = latencySummaryUs(samples);
    const perClient = RATE * (1 + 1 / 5 + 1 / 2);
    return {
      server: kind,
      workers: server.workers,
      clients,
      deliveries_per_s: Math.round(messages / SECONDS),
      offered_per_s: Math.round(perClient * clients),
      p50_us: latency.p50_us,
      p99_us: latency.p99_us,
      server_cpu_pct: round(((after.cpu - before.cpu) / elapsed) * 100, 1),
      server_rss_mib: after.rssMiB,
      server_peak_rss_mib: after.peakMiB,
      closed: reports.reduce((sum, r) => sum + Object.values(r.closes).reduce((a, b) => a + b, 0), 0),
      avg_message_bytes: Math.round(reports.reduce((sum, r) => sum + r.bytes, 0) / Math.max(1, messages)),
      ...(pickupP50 === undefined
        ? {}
        : { server_pickup_p50_us: pickupP50, server_pickup_p99_us: pickupP99 }),
      ...(fanoutP50 === undefined
        ? {}
        : { server_fanout_p50_us: fanoutP50, server_fanout_p99_us: fanoutP99 }),
    };
  } finally {
    generators?.kill();
    await server.stop();
  }
}

rmSync(DIR, { recursive: true, force: true });
const feeds = new Map<string, TestFeed>();
const results: RunResult[] = [];
try {
  for (const exchange of EXCHANGES) {
    const specs = SYMBOLS.map((symbol) => ({
      venueSymbol: symbol,
      symbol,
      priceDecimals: 2,
      sizeDecimals: 8,
    }));
    const feed = new TestFeed(DIR, exchange, exchange, specs, 10, 1 << 20);
    specs.forEach((_, id) => {
      const side = (sign: number) =>
        Array.from({ length: 20 }, (_, i): [number, number] => [MID + sign * (i + 1) * 10, 100_000_000]);
      feed.snapshot(id, side(-1), side(1));
    });
    feeds.set(exchange, feed);
  }
  for (const clients of CLIENT_COUNTS) {
    for (const kind of SERVERS) {
      const result = await run(kind, clients, feeds);
      results.push(result);
      console.error(JSON.stringify(result));
    }
  }
} finally {
  for (const feed of feeds.values()) feed.close();
  rmSync(DIR, { recursive: true, force: true });
}

/** Each broadcaster run's end-to-end p50 and p99 over the `bare` server's at its client count. */
function latencyAgainst(bare: string) {
  return results
    .filter((r) => r.server.startsWith("alphapulse"))
    .map((r) => {
      const base = results.find((b) => b.server === bare && b.clients === r.clients);
      return {
        server: r.server,
        clients: r.clients,
        p50: base ? round(r.p50_us / base.p50_us, 2) : null,
        p99: base ? round(r.p99_us / base.p99_us, 2) : null,
      };
    });
}

const largest = Math.max(...CLIENT_COUNTS);
const at = (kind: string) => results.find((r) => r.server === kind && r.clients === largest);
const ours = at("alphapulse");
const node = at("node");
const raw = at("raw");
const rawDue = at(RAW_DUE);
const summary: Record<string, unknown> = {
  bench: "fanout",
  clients: largest,
  rate_per_symbol: RATE,
  seconds: SECONDS,
  client_priority: CLIENT_PRIORITY,
  deliveries_per_s: ours?.deliveries_per_s,
  p50_us: ours?.p50_us,
  p99_us: ours?.p99_us,
  rss_mib: ours?.server_peak_rss_mib,
  server_pickup_p50_us: ours?.server_pickup_p50_us,
  server_pickup_p99_us: ours?.server_pickup_p99_us,
  server_fanout_p50_us: ours?.server_fanout_p50_us,
  server_fanout_p99_us: ours?.server_fanout_p99_us,
  // Bare Bun.serve's own server-side figure on the same stream (due to handed to uWS): what no
  // broadcaster on Bun.serve can beat on this box.
  raw_server_fanout_p50_us: rawDue?.server_fanout_p50_us ?? raw?.server_fanout_p50_us,
  raw_server_fanout_p99_us: rawDue?.server_fanout_p99_us ?? raw?.server_fanout_p99_us,
  cpu_pct: ours?.server_cpu_pct,
  node_ws_deliveries_per_s: node?.deliveries_per_s,
  raw_bun_deliveries_per_s: raw?.deliveries_per_s,
  vs_node: ours && node ? round(ours.deliveries_per_s / node.deliveries_per_s, 2) : null,
  vs_raw: ours && raw ? round(ours.deliveries_per_s / raw.deliveries_per_s, 3) : null,
  // End-to-end latency of each broadcaster run against bare Bun.serve at the same client count:
  // stamped at its publish (its own wait for the event loop not counted), and stamped when due.
  latency_vs_raw: latencyAgainst("raw"),
  latency_vs_raw_due: latencyAgainst(RAW_DUE),
  // Two fan-out workers against one, same clients and stream: the ratio of each figure.
  workers_scaling: CLIENT_COUNTS.map((clients) => {
    const one = results.find((r) => r.server === "alphapulse" && r.clients === clients);
    const two = results.find((r) => r.server === TWO_WORKERS && r.clients === clients);
    const ratio = (key: keyof RunResult) => {
      const [a, b] = [one?.[key], two?.[key]];
      return typeof a === "number" && typeof b === "number" && a > 0 ? round(b / a, 2) : null;
    };
    return {
      clients,
      server_fanout_p50: ratio("server_fanout_p50_us"),
      server_fanout_p99: ratio("server_fanout_p99_us"),
      server_pickup_p50: ratio("server_pickup_p50_us"),
      p50: ratio("p50_us"),
      p99: ratio("p99_us"),
      deliveries: ratio("deliveries_per_s"),
      cpu: ratio("server_cpu_pct"),
    };
  }),
  runs: results,
};
const twoWorkers = (summary.workers_scaling as Array<Record<string, number | null>>).find(
  (s) => s.clients === largest,
);
/** Every broadcaster run's end-to-end p50 and p99 within 1.1x of the like-for-like ceiling. */
const withinOnePointOne = (summary.latency_vs_raw_due as ReturnType<typeof latencyAgainst>).every(
  (r) => r.p50 !== null && r.p99 !== null && r.p50 <= 1.1 && r.p99 <= 1.1,
);
if (largest < 10_000 && ours) {
  summary.goals = {
    latency_1_1x_raw_due: withinOnePointOne,
    server_fanout_p99_1ms: ours.server_fanout_p99_us === undefined ? null : ours.server_fanout_p99_us < 1_000,
  };
}
if (largest >= 10_000 && ours) {
  summary.goals = {
    latency_1_1x_raw_due: withinOnePointOne,
    deliveries_1_5m: ours.deliveries_per_s >= 1_500_000,
    ten_x_node: node ? ours.deliveries_per_s >= 10 * node.deliveries_per_s : null,
    raw_0_8: raw ? ours.deliveries_per_s >= 0.8 * raw.deliveries_per_s : null,
    rss_128mib: ours.server_peak_rss_mib <= 128,
    two_workers_fanout_p50_0_6:
      twoWorkers?.server_fanout_p50 == null ? null : twoWorkers.server_fanout_p50 <= 0.6,
  };
}
console.log(JSON.stringify(summary));
