// The executable's front door: modes (by argument or ALPHAPULSE_MODE, whose arguments are then
// the mode's), --help, --version, and one clear line with exit code 2 for an unknown mode, a
// stray argument or a bad setting.
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import path from "node:path";
import pkg from "../package.json" with { type: "json" };
import { RingWriter } from "../src/shm/ring-writer.ts";

const MAIN = `${import.meta.dir}/../src/main.ts`;

function run(args: string[], env: Record<string, string> = {}) {
  const result = Bun.spawnSync(["bun", MAIN, ...args], {
    env: { ...process.env, ALPHAPULSE_MODE: "", ...env },
    stdout: "pipe",
    stderr: "pipe",
    // A mode that accepted a bad setting would run on: stop it, the exit code then fails the test.
    timeout: 20_000,
  });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

test("--help lists every mode and --version prints the package version", () => {
  const help = run(["--help"]);
  expect(help.code).toBe(0);
  for (const mode of ["collect", "broadcast", "simulate", "demo", "replay", "inspect", "healthcheck"]) {
    expect(help.stdout).toContain(`  ${mode}`);
  }
  const version = run(["--version"]);
  expect(version.code).toBe(0);
  expect(version.stdout.trim()).toBe(pkg.version);
});

test("an unknown mode, from the argument or ALPHAPULSE_MODE, is one line and exit code 2", () => {
  const fromArg = run(["colect"]);
  expect(fromArg.code).toBe(2);
  expect(fromArg.stderr.trim()).toBe(
    'alphapulse: mode: unknown mode "colect"; one of collect, relay, broadcast, simulate, demo, replay, inspect, healthcheck',
  );
  const fromEnv = run([], { ALPHAPULSE_MODE: "party" });
  expect(fromEnv.code).toBe(2);
  expect(fromEnv.stderr).toContain('ALPHAPULSE_MODE: unknown mode "party"');
  const none = run([]);
  expect(none.code).toBe(2);
  expect(none.stderr).toContain("no mode given");
});

test("a bad setting names the setting and what is wrong, exit code 2", () => {
  const bad = run(["healthcheck"], { METRICS_PORT: "eighty" });
  expect(bad.code).toBe(2);
  expect(bad.stderr.trim()).toBe('alphapulse healthcheck: METRICS_PORT: "eighty" is not a whole number');
  const range = run(["healthcheck"], { METRICS_PORT: "70000" });
  expect(range.code).toBe(2);
  expect(range.stderr).toContain("METRICS_PORT: 70000 is outside 0..65535");
});

test("healthcheck exits 0 against a server that answers 200 and 1 otherwise", async () => {
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (request) =>
      new URL(request.url).pathname === "/health" ? new Response("ok") : new Response("no", { status: 503 }),
  });
  try {
    const check = (path: string) =>
      Bun.spawn(["bun", MAIN, "healthcheck", `http://127.0.0.1:${server.port}${path}`], {
        stdout: "pipe",
        stderr: "pipe",
      }).exited;
    expect(await check("/health")).toBe(0);
    expect(await check("/ready")).toBe(1);
  } finally {
    server.stop(true);
  }
});

test("with ALPHAPULSE_MODE set, the arguments are the mode's; a first argument naming a mode still picks it", async () => {
  const dir = mkdtempSync(path.join("/dev/shm", "ap-test-cli-"));
  const writer = RingWriter.create({
    dir,
    name: "kraken",
    exchange: "kraken",
    capacity: 64,
    bookDepth: 5,
    symbols: [{ venueSymbol: "BTC/USD", symbol: "BTC-USD", priceDecimals: 1, sizeDecimals: 8 }],
  });
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("ok") });
  try {
    const ring = path.join(dir, "kraken.ring");
    const fromEnv = run([ring], { ALPHAPULSE_MODE: "inspect" });
    expect(fromEnv.stderr).toBe("");
    expect(fromEnv.code).toBe(0);
    const heartbeatAge = / heartbeat \d+ ms ago/;
    expect(fromEnv.stdout.replace(heartbeatAge, "")).toBe(
      run(["inspect", ring]).stdout.replace(heartbeatAge, ""),
    );
    expect(fromEnv.stdout).toContain("BTC-USD");
    const flags = run(["--json", "--records", "1", ring], { ALPHAPULSE_MODE: "inspect" });
    expect(flags.code).toBe(0);
    expect((JSON.parse(flags.stdout) as { exchange: string }).exchange).toBe("kraken");

    // The image's HEALTHCHECK runs `alphapulse healthcheck` in a container whose mode is set.
    const check = Bun.spawn(["bun", MAIN, "healthcheck", `http://127.0.0.1:${server.port}/health`], {
      env: { ...process.env, ALPHAPULSE_MODE: "broadcast" },
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await check.exited).toBe(0);

    // A mode set up by the environment alone refuses an argument instead of ignoring it.
    const stray = run(["kraken"], { ALPHAPULSE_MODE: "collect" });
    expect(stray.code).toBe(2);
    expect(stray.stderr.trim()).toBe(
      'alphapulse collect: takes no arguments (settings come from the environment), got "kraken"; usage: EXCHANGE=kraken SYMBOLS=BTC-USD,ETH-USD [NATS_URL=nats://...] alphapulse collect',
    );
  } finally {
    server.stop(true);
    writer.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
test("the process settings of every mode are validated: a bad SHUTDOWN_GRACE_MS or LOG_LEVEL is refused by name", () => {
  for (const mode of ["collect", "simulate", "broadcast", "demo", "replay"]) {
    const grace = run([mode], { SHUTDOWN_GRACE_MS: "abc" });
    expect({ mode, code: grace.code, stderr: grace.stderr.trim() }).toEqual({
      mode,
      code: 2,
      stderr: `alphapulse ${mode}: SHUTDOWN_GRACE_MS: "abc" is not a whole number`,
    });
  }
  const level = run(["simulate"], { LOG_LEVEL: "loud" });
  expect(level.code).toBe(2);
  expect(level.stderr.trim()).toBe(
    'alphapulse simulate: LOG_LEVEL: "loud" is not one of debug, info, warn, error',
  );
});

test("SHUTDOWN_GRACE_MS is the grace a SIGTERM gets", async () => {
  const simulator = Bun.spawn(["bun", MAIN, "simulate"], {
    env: {
      ...process.env,
      ALPHAPULSE_MODE: "",
      SIMULATOR_PORT: "0",
      SHUTDOWN_GRACE_MS: "1234",
      LOG_LEVEL: "info",
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  const reader = simulator.stdout.getReader();
  let output = "";
  while (!output.includes("simulator listening")) {
    const { value, done } = await reader.read();
    if (done) break;
    output += new TextDecoder().decode(value);
  }
  simulator.kill("SIGTERM");
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    output += new TextDecoder().decode(value);
  }
  expect(await simulator.exited).toBe(0);
  const stopping = output
    .split("\n")
    .filter((line) => line.includes('"shutting down"'))
    .map((line) => JSON.parse(line) as { graceMs: number });
  expect(stopping.map((line) => line.graceMs)).toEqual([1234]);
}, 30_000);
