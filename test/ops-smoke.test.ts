// scripts/smoke-tests.sh and scripts/integration-tests.sh for real, against a locally started
// simulator, collectors (Kraken, Binance) and broadcaster on loopback, as CI and deploys run them;
// and shown to fail when there is nothing to test.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import { REPO_ROOT } from "./support/ops-source-settings.ts";
import { OpsStack } from "./support/ops-stack.ts";

const stack = new OpsStack("smoke", 19430);

function runScript(script: string, args: string[], env: Record<string, string> = {}) {
  const result = Bun.spawnSync(["bash", path.join(REPO_ROOT, "scripts", script), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
  });
  return { exitCode: result.exitCode, output: `${result.stdout.toString()}${result.stderr.toString()}` };
}

describe("smoke and integration scripts against a live stack", () => {
  const wsBase = `http://127.0.0.1:${stack.websocketPort}`;
  const metricsBase = `http://127.0.0.1:${stack.broadcasterMetricsPort}`;

  beforeAll(async () => {
    const simulator = stack.startSimulator();
    await stack.waitReady(simulator, `http://127.0.0.1:${stack.simulatorPort}/control/stats`);
    for (const exchange of ["kraken", "binance"] as const) {
      const collector = stack.startCollector(exchange);
      await stack.waitReady(collector, `http://127.0.0.1:${stack.collectorMetricsPort(exchange)}/ready`);
    }
    const broadcaster = stack.startBroadcaster();
    await stack.waitReady(broadcaster, `${metricsBase}/health`);
  }, 120_000);

  afterAll(async () => {
    await stack.stop();
  }, 60_000);

  test("smoke-tests.sh passes: /health, /ready, REST symbols, WebSocket data", () => {
    const { exitCode, output } = runScript("smoke-tests.sh", [wsBase, metricsBase]);
    expect(output).toContain("smoke: OK");
    expect(exitCode).toBe(0);
  }, 120_000);

  test("integration-tests.sh passes: REST books of every venue, 200 chained messages, metrics", () => {
    const { exitCode, output } = runScript("integration-tests.sh", [wsBase, metricsBase]);
    expect(output).toContain("integration: REST book kraken BTC-USD ok");
    expect(output).toContain("integration: REST book binance ETH-USDT ok");
    expect(output).toContain("integration: OK");
    expect(exitCode).toBe(0);
  }, 180_000);

  test("smoke-tests.sh fails, naming the check, when nothing answers", () => {
    const { exitCode, output } = runScript(
      "smoke-tests.sh",
      ["http://127.0.0.1:19498", "http://127.0.0.1:19499"],
      {
        READY_TIMEOUT: "1",
      },
    );
    expect(exitCode).toBe(1);
    expect(output).toContain("smoke: FAIL http://127.0.0.1:19499/health");
  }, 60_000);

  test("the WebSocket probe fails on a topic that never sends data", () => {
    const result = Bun.spawnSync(
      [
        "bun",
        path.join(REPO_ROOT, "scripts/ws-probe.ts"),
        `ws://127.0.0.1:${stack.websocketPort}/ws`,
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
