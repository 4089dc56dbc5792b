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

const NONROOT = 65532;
const isRoot = process.getuid?.() === 0;
const stack = new OpsStack("distroless", 19440);
const buildDir = mkdtempSync(path.join(tmpdir(), "ap-test-ops-distroless-"));
const binary = path.join(buildDir, "alphapulse");

function distrolessCheck(args: string[], env: Record<string, string> = {}) {
  const result = Bun.spawnSync(["bash", path.join(REPO_ROOT, "scripts/ci/distroless-check.sh"), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, BINARY: binary, GRACE_MS: "5000", ...env },
  });
  return { exitCode: result.exitCode, output: `${result.stdout.toString()}${result.stderr.toString()}` };
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
    const simulator = stack.startSimulator();
    await stack.waitReady(simulator, `http://127.0.0.1:${stack.simulatorPort}/control/stats`);
  }, 120_000);

  afterAll(async () => {
    await stack.stop();
    rmSync(buildDir, { recursive: true, force: true });
  }, 60_000);

  test("a collector serves /health and /ready and stops on SIGTERM as PID 1", () => {
    const { exitCode, output } = distrolessCheck([
      "collect",
      String(stack.basePort + 6),
      "EXCHANGE=kraken",
      "SYMBOLS=BTC-USD,ETH-USD",
      `EXCHANGE_WS_URL=ws://127.0.0.1:${stack.simulatorPort}/kraken/v2`,
      "RING_CAPACITY=16384",
    ]);
    expect(output).toContain("distroless-check: /ready answered 200");
    expect(output).toContain("PID 1 in its namespace, uid 65532, read-only root");
    expect(output).toMatch(/distroless-check: OK mode=collect exited 0 \d+ ms after SIGTERM/);
    expect(exitCode).toBe(0);
  }, 120_000);

  test("a broadcaster reads a collector's ring through a read-only mount", async () => {
    const collector = stack.startCollector("kraken");
    await stack.waitReady(collector, `http://127.0.0.1:${stack.collectorMetricsPort("kraken")}/ready`);
    const { exitCode, output } = distrolessCheck(
      [
        "broadcast",
        String(stack.basePort + 7),
        `WEBSOCKET_PORT=${stack.basePort + 8}`,
        "BROADCAST_HOST=127.0.0.1",
      ],
      { RINGS_DIR: stack.shmDir },
    );
    expect(output).toContain("distroless-check: /ready answered 200");
    expect(output).toMatch(/distroless-check: OK mode=broadcast exited 0 \d+ ms after SIGTERM/);
    expect(exitCode).toBe(0);
  }, 120_000);

  test("the check fails when the mode cannot become ready", () => {
    const { exitCode, output } = distrolessCheck(["broadcast", String(stack.basePort + 7)], {
      READY_TIMEOUT: "3",
    });
    expect(output).toContain("FAIL /ready never answered 200");
    expect(exitCode).toBe(1);
  }, 60_000);
});
