// scripts/smoke-tests.sh and scripts/integration-tests.sh for real, against a locally started
// simulator, collectors (Kraken, Binance) and broadcaster on loopback, as CI and deploys run them;
// and shown to fail when there is nothing to test.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import type { BroadcasterProcess } from "./support/mode-process.ts";
import { REPO_ROOT } from "./support/ops-source-settings.ts";
import { OpsStack } from "./support/ops-stack.ts";
import { freePorts } from "./support/ports.ts";

const stack = new OpsStack("smoke");

function runScript(script: string, args: string[], env: Record<string, string> = {}) {
  const result = Bun.spawnSync(["bash", path.join(REPO_ROOT, "scripts", script), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
  });
  return { exitCode: result.exitCode, output: `${result.stdout.toString()}${result.stderr.toString()}` };
}

describe("smoke and integration scripts against a live stack", () => {
  let broadcaster: BroadcasterProcess;

  beforeAll(async () => {
    await stack.startSimulator();
    for (const exchange of ["kraken", "binance"] as const) {
      const collector = await stack.startCollector(exchange);
      await stack.waitReady(collector.process, `${collector.metrics}/ready`);
    }
    broadcaster = await stack.startBroadcaster();
    await stack.waitReady(broadcaster.process, `${broadcaster.metrics}/health`);
  }, 120_000);

  afterAll(async () => {
    await stack.stop();
  }, 60_000);

  test("smoke-tests.sh passes: /health, /ready, REST symbols, WebSocket data", () => {
    const { exitCode, output } = runScript("smoke-tests.sh", [broadcaster.http, broadcaster.metrics]);
    expect(output).toContain("smoke: OK");
    expect(exitCode).toBe(0);
  }, 120_000);

  test("integration-tests.sh passes: REST books of every venue, 200 chained messages, metrics", () => {
    const { exitCode, output } = runScript("integration-tests.sh", [broadcaster.http, broadcaster.metrics]);
    expect(output).toContain("integration: REST book kraken BTC-USD ok");
    expect(output).toContain("integration: REST book binance ETH-USDT ok");
    expect(output).toContain("integration: OK");
    expect(exitCode).toBe(0);
  }, 180_000);

  test("smoke-tests.sh fails, naming the check, when nothing answers", () => {
    const [ws, metrics] = freePorts(2).map((port) => `http://127.0.0.1:${port}`);
    const { exitCode, output } = runScript("smoke-tests.sh", [ws!, metrics!], { READY_TIMEOUT: "1" });
    expect(exitCode).toBe(1);
    expect(output).toContain(`smoke: FAIL ${metrics}/health`);
  }, 60_000);

  test("the WebSocket probe fails on a topic that never sends data", () => {
    const result = Bun.spawnSync(
      [
        "bun",
        path.join(REPO_ROOT, "scripts/ws-probe.ts"),
        broadcaster.ws,
        "--topics",
        "trades.nosuchvenue.BTC-USD",
        "--timeout-ms",
        "2000",
      ],
      { cwd: REPO_ROOT },
    );
    expect(result.exitCode).toBe(1);
    expect(JSON.parse(result.stdout.toString()).ok).toBe(false);
  }, 60_000);
});
