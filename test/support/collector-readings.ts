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

/** What guards one book, as each reader of it says: check names, checksum first. */
export interface IntegrityReadings {
  /** A broadcaster's `GET /api/v1/symbols`, for the ring that serves the symbol. */
  readonly listed: string[];
  /** The same broadcaster's `GET /api/v1/book/{exchange}/{symbol}`. */
  readonly book: string[];
  /** The collector's alphapulse_book_integrity gauges that are 1. */
  readonly metric: string[];
}

/**
 * What guards `symbol`'s book of `exchange`, read from the collector's metrics at `metrics` and
 * from a broadcaster (http://host:port) over its ring; null while the broadcaster does not
 * serve the symbol yet.
 */
export async function integrityReadings(
  metrics: string,
  http: string,
  exchange: string,
  symbol: string,
): Promise<IntegrityReadings | null> {
  interface Listing {
    exchanges: { exchange: string; symbols: { symbol: string; served: boolean; integrity: string[] }[] }[];
  }
  const { exchanges } = (await (await fetch(`${http}/api/v1/symbols`)).json()) as Listing;
  const listed = exchanges
    .filter((ring) => ring.exchange === exchange)
    .flatMap((ring) => ring.symbols)
    .find((entry) => entry.symbol === symbol && entry.served);
  const answer = await fetch(`${http}/api/v1/book/${exchange}/${symbol}?depth=1`);
  if (listed === undefined || !answer.ok) return null;
  const scrape = await (await fetch(`${metrics}/metrics`)).text();
  const metric = ["checksum", "sequence"].filter(
    (check) => metricSumIn(scrape, "alphapulse_book_integrity", { exchange, symbol, check }) === 1,
  );
  return {
    listed: listed.integrity,
    book: ((await answer.json()) as { integrity: string[] }).integrity,
    metric,
  };
}
