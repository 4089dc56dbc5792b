// The executable's front door: modes, --help, --version, and one clear line with exit code 2 for
// an unknown mode or a bad setting.
import { expect, test } from "bun:test";
import pkg from "../package.json" with { type: "json" };

const MAIN = `${import.meta.dir}/../src/main.ts`;

function run(args: string[], env: Record<string, string> = {}) {
  const result = Bun.spawnSync(["bun", MAIN, ...args], {
    env: { ...process.env, ALPHAPULSE_MODE: "", ...env },
    stdout: "pipe",
    stderr: "pipe",
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
