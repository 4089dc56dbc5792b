// REST under /api/v1 (GET only): the rings (and whether each one's writer is live) and symbols
// with their state and the checks that guard each book, a book snapshot at any depth, and a
// topic's recent trades from its history; errors as {"error","status"} JSON. Times are whole
// milliseconds.
import type { RingHub } from "./ring-hub.ts";

const JSON_HEADERS = { "content-type": "application/json" };
const DEFAULT_DEPTH = 20;
const MAX_DEPTH = 5000;
const DEFAULT_TRADES = 100;
const MAX_TRADES = 10_000;

/** What REST reads: the ring hub's followers and topics. */
type RestSource = Pick<RingHub, "followers" | "topics" | "ownerOf">;

export function restError(status: number, message: string): Response {
  return new Response(JSON.stringify({ error: message, status }), { status, headers: JSON_HEADERS });
}

/** The answer to a GET under /api/v1/. */
export function restAnswer(url: URL, source: RestSource): Response {
  const parts = url.pathname.split("/").filter((p) => p !== "");
  const [, , resource, exchange, symbol] = parts;
  if (resource === "symbols" && parts.length === 3) return Response.json({ exchanges: listing(source) });
  if ((resource === "book" || resource === "trades") && parts.length === 5 && exchange && symbol) {
    const topic = source.topics.get(`${resource}.${exchange}.${symbol}`);
    const owner = topic ? source.ownerOf(topic) : undefined;
    if (topic === undefined || owner === undefined) return restError(404, `no ${exchange} ${symbol} here`);
    if (resource === "book") {
      const depth = wholeParam(url, "depth", DEFAULT_DEPTH, MAX_DEPTH);
      if (depth === null) return restError(400, `depth must be a whole number from 1 to ${MAX_DEPTH}`);
      const text = owner.bookSnapshot(symbol, depth);
      const integrity = owner.bookIntegrity(symbol);
      if (text === null || integrity === null) return restError(404, `no book for ${exchange} ${symbol}`);
      // The snapshot message, then the checks that guard the book now (not part of the message).
      return new Response(`${text.slice(0, -1)},"integrity":${JSON.stringify(integrity)}}`, {
        headers: JSON_HEADERS,
      });
    }
    const limit = wholeParam(url, "limit", DEFAULT_TRADES, MAX_TRADES);
    if (limit === null) return restError(400, `limit must be a whole number from 1 to ${MAX_TRADES}`);
    return new Response(
      `{"exchange":"${exchange}","symbol":"${symbol}","trades":[${topic.recent(limit).join(",")}]}`,
      { headers: JSON_HEADERS },
    );
  }
  return restError(404, `no route ${url.pathname}`);
}

/**
 * Every ring with its writer's state and its symbols' book state and age. An exchange with two
 * rings is listed twice; `served` says which ring serves each symbol now.
 */
function listing(source: RestSource) {
  const now = Date.now();
  return [...source.followers.values()].map((follower) => ({
    exchange: follower.exchange,
    ring: follower.path,
    generation: follower.generation,
    heartbeatAgeMs: follower.heartbeatAgeMs(),
    writer: follower.stale ?? "live",
    writerPid: follower.writerPid(),
    symbols: follower.bookStates().map((book) => ({
      symbol: book.symbol,
      book: book.status,
      served: book.served,
      integrity: book.integrity,
      lastUpdateAgeMs:
        book.publishSec === 0 ? null : now - (book.publishSec * 1000 + Math.floor(book.publishNsec / 1e6)),
    })),
  }));
}

/** A whole-number query parameter from 1 to `max`; `fallback` when absent, null when wrong. */
function wholeParam(url: URL, name: string, fallback: number, max: number): number | null {
  const raw = url.searchParams.get(name);
  if (raw === null) return fallback;
  if (!/^\d+$/.test(raw)) return null;
  const value = Number(raw);
  return value >= 1 && value <= max ? value : null;
}
