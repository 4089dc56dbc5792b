// The collector's HTTP GETs (metadata, Binance depth snapshots): a timeout, 429 Retry-After and
// 418 (IP ban) pause the request budget instead of retrying into a longer ban, and every answer
// is captured when capture is on.
import { HttpStatusError, type RestClient } from "../exchanges/venue.ts";
import type { TokenBucket } from "./budget.ts";
import type { CaptureFile } from "./capture.ts";

const TIMEOUT_MS = 10_000;
/** A 418 comes without a usable Retry-After more often than not: back off for minutes. */
const BAN_PAUSE_MS = 5 * 60_000;

export class HttpRest implements RestClient {
  /** Answers by status class, for metrics. */
  readonly results = new Map<string, number>();

  constructor(
    private readonly budget: TokenBucket,
    private readonly capture: CaptureFile | null,
  ) {}

  async getJson(url: string): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch (error) {
      this.count("error");
      throw error;
    }
    const body = await response.text();
    this.capture?.rest(url, Date.now() / 1000, body);
    this.count(String(response.status));
    if (response.status === 429 || response.status === 418) {
      const retryAfter = Number(response.headers.get("retry-after"));
      const pauseMs = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 0;
      const fallbackMs = response.status === 418 ? BAN_PAUSE_MS : 1000;
      this.budget.pause(Date.now() + (pauseMs > 0 ? pauseMs : fallbackMs));
    }
    if (!response.ok) throw new HttpStatusError(url, response.status, body);
    return JSON.parse(body) as unknown;
  }

  private count(result: string): void {
    this.results.set(result, (this.results.get(result) ?? 0) + 1);
  }
}
