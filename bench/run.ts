// `bun bench [NAME...]`: runs every benchmark, or the named ones, each in its own process, one
// after another so they do not disturb each other. Each prints its result as one JSON line last;
// this runner prints them all again as one JSON line, last.

const BENCHMARKS: Record<string, string> = {
  shm: "shared-memory hop latency and rate, against a Unix socket",
  ingest: "collector ingest per venue, against tardis-dev; collector RSS",
  fanout: "broadcaster fan-out to 1k/10k clients, against Node + ws and raw Bun.serve",
  python: "Python ring reader decode cost and hop latency",
  simulator: "exchange simulator throughput",
  ops: "compiled binary: start-to-ready, /health latency, SIGTERM-to-exit, size",
  fabric: "NATS fabric: ring-to-ring records/s, hop latency against core NATS, failover time",
};

const requested = process.argv.slice(2);
const unknown = requested.filter((name) => !(name in BENCHMARKS));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(", ")}; one of ${Object.keys(BENCHMARKS).join(", ")}`);
  process.exit(2);
}
const names = requested.length > 0 ? requested : Object.keys(BENCHMARKS);
const results: unknown[] = [];
let failed = false;
for (const name of names) {
  console.error(`== bench ${name}: ${BENCHMARKS[name]}`);
  const child = Bun.spawn(["bun", `${import.meta.dir}/${name}.ts`], { stdout: "pipe", stderr: "inherit" });
  const output = await new Response(child.stdout).text();
  process.stdout.write(output);
  const code = await child.exited;
  const last = output.trim().split("\n").pop() ?? "";
  try {
    results.push(JSON.parse(last));
  } catch {
    results.push({ bench: name, error: `exit code ${code}, no JSON result line` });
    failed = true;
  }
  if (code !== 0) failed = true;
}
if (names.length > 1) console.log(JSON.stringify({ bench: "all", results }));
process.exit(failed ? 1 : 0);
