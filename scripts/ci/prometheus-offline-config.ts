// monitoring/prometheus.yml made runnable off a cluster. Debian's Prometheus (what CI has) is
// built without Kubernetes discovery, so each kubernetes_sd_configs block becomes a file_sd_configs
// block; a targets file can then give the same __meta_kubernetes_* labels pod discovery would,
// and the real relabel rules pick collectors and broadcaster apart exactly as in the cluster.
// Everything else (jobs, relabelling, rule files) is the file as committed.
//
// usage: bun scripts/ci/prometheus-offline-config.ts OUT_DIR [SCRAPE_INTERVAL]
//   writes OUT_DIR/prometheus.yml reading targets from OUT_DIR/targets.json; prints its path.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

const MONITORING = path.resolve(import.meta.dir, "../../monitoring");

type ScrapeConfig = { job_name: string; kubernetes_sd_configs?: unknown; [key: string]: unknown };
type PrometheusConfig = {
  global?: Record<string, unknown>;
  rule_files?: string[];
  alerting?: unknown;
  scrape_configs: ScrapeConfig[];
};

export interface OfflineConfigOptions {
  readonly outDir: string;
  /** Scrape and rule evaluation interval, e.g. "1s" for tests; the committed one if absent. */
  readonly interval?: string;
  /** Drop the Alertmanager target (it does not exist off the cluster). */
  readonly withoutAlertmanager?: boolean;
}

/** Writes the offline config and returns its path; targets go in `${outDir}/targets.json`. */
export function writeOfflineConfig(options: OfflineConfigOptions): string {
  const config = Bun.YAML.parse(
    readFileSync(path.join(MONITORING, "prometheus.yml"), "utf8"),
  ) as PrometheusConfig;
  const targets = path.join(options.outDir, "targets.json");
  for (const job of config.scrape_configs) {
    if (job.kubernetes_sd_configs === undefined) continue;
    delete job.kubernetes_sd_configs;
    job.file_sd_configs = [{ files: [targets], refresh_interval: "1s" }];
  }
  config.rule_files = (config.rule_files ?? []).map((file) => path.resolve(MONITORING, file));
  if (options.interval !== undefined) {
    config.global = {
      ...config.global,
      scrape_interval: options.interval,
      evaluation_interval: options.interval,
    };
  }
  if (options.withoutAlertmanager === true) delete config.alerting;
  mkdirSync(options.outDir, { recursive: true });
  const file = path.join(options.outDir, "prometheus.yml");
  // JSON is YAML: Prometheus reads it as it is.
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

if (import.meta.main) {
  const [outDir, interval] = process.argv.slice(2);
  if (outDir === undefined) {
    console.error("usage: bun scripts/ci/prometheus-offline-config.ts OUT_DIR [SCRAPE_INTERVAL]");
    process.exit(2);
  }
  console.log(writeOfflineConfig({ outDir, ...(interval === undefined ? {} : { interval }) }));
}
