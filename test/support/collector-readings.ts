// Test support: what a test reads from a collector process it started (mode-process.ts): its
// readiness and metrics over HTTP (its ring against the true books: ring-truth.ts).

/** Whether the collector whose metrics server is at `metrics` (http://host:port) answers /ready with 200. */
export async function collectorReady(metrics: string): Promise<boolean> {
  const response = await fetch(`${metrics}/ready`).catch(() => null);
  return response?.status === 200;
}

/** Sum of a metric's samples whose labels include every given pair, scraped now. */
export async function metricSum(
  metrics: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  return metricSumIn(await (await fetch(`${metrics}/metrics`)).text(), name, labels);
}

/** Sum of a metric's samples whose labels include every given pair, in one scrape's text. */
export function metricSumIn(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}
