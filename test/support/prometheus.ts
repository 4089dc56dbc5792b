// Test support: a real Prometheus on loopback with the offline config
// (scripts/ci/prometheus-offline-config.ts) written into `dir`, its file_sd targets read from
// `dir/targets.json`. It binds port 0 and the address comes from its own "Listening on" log line.
import path from "node:path";
import { writeOfflineConfig } from "../../scripts/ci/prometheus-offline-config.ts";
import { httpStatus, type WaitOptions, waitFor } from "./wait.ts";

export interface LoopbackPrometheus {
  /** http://127.0.0.1:port */
  readonly url: string;
  /** 127.0.0.1:port, as a scrape target. */
  readonly address: string;
  stop(): Promise<void>;
}

/** Starts Prometheus and resolves once it answers /-/ready (`ready` bounds that wait). */
export async function startPrometheus(dir: string, ready: WaitOptions = {}): Promise<LoopbackPrometheus> {
  if (Bun.which("prometheus") === null) throw new Error("prometheus is missing: apt-get install prometheus");
  const config = writeOfflineConfig({ outDir: dir, interval: "1s", withoutAlertmanager: true });
  const server = Bun.spawn(
    [
      "prometheus",
      `--config.file=${config}`,
      "--web.listen-address=127.0.0.1:0",
      `--storage.tsdb.path=${path.join(dir, "data")}`,
      "--log.level=info",
    ],
    { stdin: "ignore", stdout: "ignore", stderr: "pipe" },
  );
  let log = "";
  void (async () => {
    for await (const chunk of server.stderr) log = (log + new TextDecoder().decode(chunk)).slice(-50_000);
  })();
  const stop = async () => {
    server.kill("SIGTERM");
    await server.exited;
  };
  try {
    const address = await waitFor(
      "Prometheus to log its address",
      () => {
        if (server.exitCode !== null) throw new Error(`prometheus exited ${server.exitCode}: ${log}`);
        return /msg="Listening on" address=(127\.0\.0\.1:\d+)/.exec(log)?.[1];
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    const url = `http://${address}`;
    await waitFor("Prometheus ready", async () => (await httpStatus(`${url}/-/ready`)) === 200, ready);
    return { url, address, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
