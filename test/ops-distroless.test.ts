// The Dockerfile's runtime claim, proven without Docker (scripts/ci/distroless-check.sh): the
// compiled binary runs in an empty read-only root holding only what `ldd` lists, as uid 65532 and
// PID 1, and serves /health and /ready, exiting cleanly within the grace period on SIGTERM. Done
// for a collector (on the simulator, writing its ring to the root's own tmpfs) and for a
// broadcaster reading, through a read-only mount, the ring a collector outside writes: the pod's
// shape. Needs root (mount and PID namespaces), as CI has.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { REPO_ROOT } from "./support/ops-source-settings.ts";
import { OpsStack } from "./support/ops-stack.ts";
import { onFreePorts, PORT_IN_USE } from "./support/ports.ts";

const NONROOT = 65532;
const isRoot = process.getuid?.() === 0;
const stack = new OpsStack("distroless");
const buildDir = mkdtempSync(path.join(tmpdir(), "ap-test-ops-distroless-"));
const binary = path.join(buildDir, "alphapulse");

/**
 * Runs the check on a metrics port it must be told (it polls that port from outside the root),
 * again on another one if a process elsewhere took it first. The WebSocket port is left to the
 * broadcaster (0): nothing polls it.
 */
function distrolessCheck(mode: string, settings: string[], env: Record<string, string> = {}) {
  return onFreePorts(1, ([metricsPort]) => {
    const script = path.join(REPO_ROOT, "scripts/ci/distroless-check.sh");
    const result = Bun.spawnSync(["bash", script, mode, String(metricsPort), ...settings], {
      cwd: REPO_ROOT,
      env: { ...process.env, BINARY: binary, GRACE_MS: "5000", ...env },
    });
    const output = `${result.stdout.toString()}${result.stderr.toString()}`;
    if (result.exitCode !== 0 && PORT_IN_USE.test(output)) throw new Error(output);
    return { exitCode: result.exitCode, output };
  });
}

describe.skipIf(!isRoot)("distroless runtime (root only)", () => {
  beforeAll(async () => {
    const build = Bun.spawnSync(["bun", "build", "--compile", "src/main.ts", "--outfile", binary], {
      cwd: REPO_ROOT,
    });
    if (build.exitCode !== 0) throw new Error(`build failed: ${build.stderr.toString()}`);
    // The pod's rings volume: group-owned by the non-root user (fsGroup), so what a collector
    // writes there the broadcaster can read.
    mkdirSync(stack.shmDir, { recursive: true });
    chownSync(stack.shmDir, 0, NONROOT);
    chmodSync(stack.shmDir, 0o2770);
    await stack.startSimulator();
  }, 120_000);

  afterAll(async () => {
    await stack.stop();
    rmSync(buildDir, { recursive: true, force: true });
  }, 60_000);

  test("a collector serves /health and /ready and stops on SIGTERM as PID 1", async () => {
    const { exitCode, output } = await distrolessCheck("collect", [
      "EXCHANGE=kraken",
      "SYMBOLS=BTC-USD,ETH-USD",
      `EXCHANGE_WS_URL=${stack.simulator.urls.kraken.ws}`,
      "RING_CAPACITY=16384",
    ]);
    expect(output).toContain("distroless-check: /ready answered 200");
    expect(output).toContain("PID 1 in its namespace, uid 65532, read-only root");
    expect(output).toMatch(/distroless-check: OK mode=collect exited 0 \d+ ms after SIGTERM/);
    expect(exitCode).toBe(0);
  }, 120_000);

  test("a broadcaster reads a collector's ring through a read-only mount", async () => {
    const collector = await stack.startCollector("kraken");
    await stack.waitReady(collector.process, `${collector.metrics}/ready`);
    const { exitCode, output } = await distrolessCheck(
      "broadcast",
      ["WEBSOCKET_PORT=0", "BROADCAST_HOST=127.0.0.1"],
      { RINGS_DIR: stack.shmDir },
    );
    expect(output).toContain("distroless-check: /ready answered 200");
    expect(output).toMatch(/distroless-check: OK mode=broadcast exited 0 \d+ ms after SIGTERM/);
    expect(exitCode).toBe(0);
  }, 120_000);

  test("the check fails when the mode cannot become ready", async () => {
    const { exitCode, output } = await distrolessCheck("broadcast", ["WEBSOCKET_PORT=0"], {
      READY_TIMEOUT: "3",
    });
    expect(output).toContain("FAIL /ready never answered 200");
    expect(exitCode).toBe(1);
  }, 60_000);
});
