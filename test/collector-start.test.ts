// A collector that cannot start fails before anyone sees it: real collector processes against the
// simulator, one with its METRICS_PORT taken, one whose ring another writer holds. Each exits
// non-zero naming what is in the way, and neither opened a connection to the exchange (the
// simulator counts none, WebSocket or REST) nor left a ring file.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { EXCHANGE_NAMES, type ExchangeName } from "../src/exchanges/registry.ts";
import { SIMULATED_VENUES } from "../src/exchanges/simulators.ts";
import { RingLock } from "../src/shm/ring-writer.ts";
import { type Simulator, startSimulator } from "../src/simulator/index.ts";

const ROOT = `${import.meta.dir}/..`;
let simulator: Simulator;
const dirs: string[] = [];

beforeAll(() => {
  simulator = startSimulator({ port: 0, hostname: "127.0.0.1", seed: 5, bookLevels: 50 });
});
afterAll(async () => {
  await simulator.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function freshDir(): string {
  const dir = mkdtempSync("/dev/shm/ap-test-collector-start-");
  dirs.push(dir);
  return dir;
}

/** Runs a collector to its exit; its exit code and everything it printed. */
async function collect(venue: ExchangeName, dir: string, metricsPort: number) {
  const urls = simulator.urls[venue];
  const child = Bun.spawn(["bun", "src/main.ts", "collect"], {
    cwd: ROOT,
    env: {
      ...process.env,
      ALPHAPULSE_MODE: "",
      EXCHANGE: venue,
      SYMBOLS: SIMULATED_VENUES[venue].demoSymbols.join(","),
      EXCHANGE_WS_URL: urls.ws,
      EXCHANGE_REST_URL: urls.rest,
      SHARED_MEMORY_PATH: dir,
      METRICS_PORT: String(metricsPort),
      LOG_LEVEL: "error",
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  clearTimeout(timer);
  return { code, output: stdout + stderr };
}

/** Connections and REST requests the simulator has had from anyone, for this venue. */
function exchangeContacts(venue: ExchangeName): number {
  const stats = simulator.stats().venues[venue];
  return stats.connectionsTotal + stats.restRequests;
}

const rings = (dir: string) => readdirSync(dir).filter((name) => name.endsWith(".ring"));

describe.each(EXCHANGE_NAMES)("%s collector that cannot start", (venue) => {
  test("METRICS_PORT taken: exits non-zero naming the port, no exchange connection, no ring", async () => {
    const squatter = Bun.serve({ port: 0, hostname: "0.0.0.0", fetch: () => new Response("taken") });
    try {
      const port = squatter.port!;
      const dir = freshDir();
      const before = exchangeContacts(venue);
      const { code, output } = await collect(venue, dir, port);
      expect(code).not.toBe(0);
      expect(output).toContain(String(port));
      expect(exchangeContacts(venue)).toBe(before);
      expect(rings(dir)).toEqual([]);
    } finally {
      squatter.stop(true);
    }
  }, 30_000);

  test("its ring held by another writer: exits non-zero naming the ring, no exchange connection, no ring", async () => {
    const dir = freshDir();
    const held = RingLock.acquire(dir, venue);
    try {
      const before = exchangeContacts(venue);
      const { code, output } = await collect(venue, dir, 0);
      expect(code).not.toBe(0);
      expect(output).toContain(`another process is writing ${dir}/${venue}.ring`);
      expect(exchangeContacts(venue)).toBe(before);
      expect(rings(dir)).toEqual([]);
    } finally {
      held.release();
    }
  }, 30_000);
});
