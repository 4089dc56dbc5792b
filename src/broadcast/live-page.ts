// The live page's script (bundled with the SDK when the broadcaster starts or is compiled): it
// lists venues from REST, subscribes the chosen book and trades plus every venue's status, fills
// the trade tape from REST's recent trades, badges what guards the chosen book (checksum,
// sequence) from REST's book answer, and draws once per animation frame from the SDK's
// local book, prices padded to the symbol's decimals so their points line up (display only).
// When the broadcaster refuses the page (a token needed, an Origin not allowed) it says so and
// stops, rather than reconnecting for ever.
import { AlphaPulseClient } from "../client/client.ts";
import { formatScaled, parseScaled } from "../market/decimal.ts";
import type { Level, TradeMessage } from "../protocol/messages.ts";

const LADDER_DEPTH = 20;
const TAPE_ROWS = 40;

interface SymbolsReply {
  /** One entry per ring: an exchange may have two, each serving some of its symbols. */
  exchanges: Array<{ exchange: string; symbols: Array<{ symbol: string; served: boolean }> }>;
}

interface TradesReply {
  trades: TradeMessage[];
}

/** REST's book answer, of which the page reads only what guards the book. */
interface BookReply {
  /** "checksum", "sequence", both or neither. */
  integrity: string[];
}

/** How often the page asks again what guards the chosen book (a venue's checksum may come and go). */
const INTEGRITY_REFRESH_MS = 10_000;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`live page: no #${id}`);
  return found as T;
}

const exchangeSelect = element<HTMLSelectElement>("exchange");
const symbolSelect = element<HTMLSelectElement>("symbol");
const connection = element("connection");
const notice = element("notice");
const bookStatus = element("book-status");
const bookIntegrity = element("book-integrity");
const asksBody = element("asks");
const bidsBody = element("bids");
const spread = element("spread");
const tape = element("trades");
const venues = element("venues");
const bookTitle = element("book-title");

const token = new URLSearchParams(location.search).get("token") ?? undefined;
const tokenQuery = token ? `?token=${encodeURIComponent(token)}` : "";
const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
const client = new AlphaPulseClient({ urls: [wsUrl], ...(token ? { token } : {}) });
/** The symbols served, by exchange (alphabetical), whichever ring serves them. */
let catalog = new Map<string, string[]>();
let current: { book: string; trades: string } | null = null;
/** The chosen symbol's recent trades, newest first. */
let trades: TradeMessage[] = [];
let drawPending = false;
const venueState = new Map<string, string>();

/** What the broadcaster said when it refused this page, or null when it did not refuse it. */
function refusalText(status: number, error: string): string | null {
  if (status === 401) {
    return token
      ? "the broadcaster does not accept the token in this page's address (?token=...)"
      : "this broadcaster needs a token: open the page as /?token=<BROADCAST_TOKEN>";
  }
  if (status === 403) return `the broadcaster refuses this page: ${error} (see BROADCAST_ALLOWED_ORIGINS)`;
  return null;
}

/** Shows why the page cannot go on, and stops reconnecting. */
function refused(text: string): void {
  client.close();
  notice.textContent = text;
  connection.textContent = "refused";
  connection.className = "refused";
}

/**
 * A browser hides why a WebSocket upgrade was refused. The same request as a POST, which
 * carries this page's Origin, gets the server's answer in words.
 */
async function explainClose(): Promise<void> {
  try {
    const response = await fetch(`/ws${tokenQuery}`, { method: "POST" });
    const { error } = (await response.json()) as { error?: string };
    const text = refusalText(response.status, error ?? `HTTP ${response.status}`);
    if (text !== null) refused(text);
  } catch {
    // Unreachable: the SDK keeps reconnecting, and the header says so.
  }
}

/** Display text of a decimal string at the symbol's decimals (the wire trims trailing zeros). */
function padded(text: string, decimals: number | null): string {
  return decimals === null ? text : formatScaled(parseScaled(text, decimals), decimals);
}

function cells(values: readonly string[], className?: string): HTMLTableRowElement {
  const row = document.createElement("tr");
  if (className) row.className = className;
  for (const value of values) {
    const cell = document.createElement("td");
    cell.textContent = value;
    row.append(cell);
  }
  return row;
}

function draw(): void {
  drawPending = false;
  if (current === null) return;
  const book = client.book(current.book);
  const decimals = book?.hasSnapshot ? book.priceDecimals : null;
  const row = (side: string) => (level: Level) => cells([padded(level[0], decimals), level[1]], side);
  tape.replaceChildren(
    ...trades.map((trade) => {
      const time = new Date((trade.ts || trade.pt) / 1000).toISOString().slice(11, 23);
      return cells([padded(trade.price, decimals), trade.size, trade.side, time], trade.side);
    }),
  );
  if (book === undefined) return;
  const asks: Level[] = book.asks(LADDER_DEPTH).reverse(); // best ask next to the spread
  const bids: Level[] = book.bids(LADDER_DEPTH);
  asksBody.replaceChildren(...asks.map(row("ask")));
  bidsBody.replaceChildren(...bids.map(row("bid")));
  const bestBid = bids[0]?.[0];
  const bestAsk = asks.at(-1)?.[0];
  spread.textContent =
    bestBid && bestAsk ? `${padded(bestBid, decimals)} / ${padded(bestAsk, decimals)}` : "-";
  bookStatus.textContent = `book ${book.status}`;
  bookStatus.className = book.status;
}

function scheduleDraw(): void {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(draw);
}

/** Adds trades (from REST or live) to the tape: one row per seq, newest first. */
function addTrades(more: readonly TradeMessage[]): void {
  const bySeq = new Map(trades.map((trade) => [trade.seq, trade]));
  for (const trade of more) bySeq.set(trade.seq, trade);
  trades = [...bySeq.values()].sort((a, b) => b.seq - a.seq).slice(0, TAPE_ROWS);
  scheduleDraw();
}

function drawVenues(): void {
  venues.replaceChildren(
    ...[...venueState].map(([exchange, state]) => {
      const row = document.createElement("div");
      row.className = "venue";
      const name = document.createElement("span");
      name.textContent = exchange;
      const status = document.createElement("span");
      status.textContent = state;
      status.className = state;
      row.append(name, status);
      return row;
    }),
  );
}

function fillSymbols(): void {
  const symbols = catalog.get(exchangeSelect.value) ?? [];
  symbolSelect.replaceChildren(...symbols.map((symbol) => new Option(symbol, symbol)));
}

/** The symbol's recent trades from REST, so the tape starts full. */
async function loadTrades(exchange: string, symbol: string, topic: string): Promise<void> {
  const query = new URLSearchParams({ limit: String(TAPE_ROWS), ...(token ? { token } : {}) });
  const response = await fetch(`/api/v1/trades/${exchange}/${symbol}?${query}`);
  if (!response.ok || current?.trades !== topic) return;
  addTrades(((await response.json()) as TradesReply).trades);
}

/** The badge of what guards the chosen book: its venue's checksum, its sequence, both or neither. */
async function loadIntegrity(exchange: string, symbol: string, topic: string): Promise<void> {
  const query = new URLSearchParams({ depth: "1", ...(token ? { token } : {}) });
  const response = await fetch(`/api/v1/book/${exchange}/${symbol}?${query}`);
  if (!response.ok || current?.book !== topic) return;
  const { integrity } = (await response.json()) as BookReply;
  const checksum = integrity.includes("checksum");
  const sequence = integrity.includes("sequence");
  bookIntegrity.textContent =
    checksum && sequence ? "checksum+seq" : checksum ? "checksum only" : sequence ? "seq only" : "unguarded";
  bookIntegrity.className = integrity.length === 0 ? "unguarded" : "guarded";
  bookIntegrity.title = `guarded by: ${integrity.join(", ") || "nothing"}`;
}

/** Asks again what guards the chosen book. */
function refreshIntegrity(): void {
  const [, exchange, symbol] = current?.book.split(".") ?? [];
  if (current && exchange && symbol) void loadIntegrity(exchange, symbol, current.book).catch(() => {});
}

async function choose(): Promise<void> {
  const exchange = exchangeSelect.value;
  const symbol = symbolSelect.value;
  if (!exchange || !symbol) return;
  if (current) await client.unsubscribe([current.book, current.trades]).catch(() => {});
  current = { book: `book.${exchange}.${symbol}`, trades: `trades.${exchange}.${symbol}` };
  bookTitle.textContent = `${exchange} ${symbol}`;
  trades = [];
  tape.replaceChildren();
  asksBody.replaceChildren();
  bidsBody.replaceChildren();
  bookIntegrity.textContent = "-";
  bookIntegrity.className = "";
  await client.subscribe([current.book, current.trades]);
  refreshIntegrity();
  await loadTrades(exchange, symbol, current.trades);
}

client.on("open", () => {
  connection.textContent = "live";
  connection.className = "live";
  // Once a symbol is chosen, later opens resubscribe by themselves, resuming where they were.
  if (current === null)
    void client
      .subscribe(["status.*"])
      .then(choose)
      .catch(() => {});
});
client.on("close", () => {
  if (connection.className === "refused") return;
  connection.textContent = "reconnecting";
  connection.className = "";
  void explainClose();
});
client.on("book", (topic) => {
  if (topic === current?.book) scheduleDraw();
});
client.on("message", (message) => {
  if (message.type === "trade" && message.topic === current?.trades) addTrades([message]);
  if (message.type === "status" && message.topic.startsWith("status.")) {
    venueState.set(message.topic.slice("status.".length), message.status);
    drawVenues();
  }
});

exchangeSelect.addEventListener("change", () => {
  fillSymbols();
  void choose();
});
symbolSelect.addEventListener("change", () => void choose());

/** The symbols each exchange serves, from REST's list of rings, exchanges in alphabetical order. */
function servedSymbols(reply: SymbolsReply): Map<string, string[]> {
  const served = new Map<string, string[]>();
  for (const { exchange } of [...reply.exchanges].sort((a, b) => a.exchange.localeCompare(b.exchange))) {
    served.set(exchange, []);
  }
  for (const { exchange, symbols } of reply.exchanges) {
    served.get(exchange)!.push(...symbols.filter((s) => s.served).map((s) => s.symbol));
  }
  return served;
}

async function start(): Promise<void> {
  const response = await fetch(`/api/v1/symbols${tokenQuery}`);
  const reply = (await response.json()) as SymbolsReply & { error?: string };
  if (!response.ok) {
    refused(
      refusalText(response.status, reply.error ?? "") ??
        `the broadcaster answered ${response.status}: ${reply.error}`,
    );
    return;
  }
  catalog = servedSymbols(reply);
  exchangeSelect.replaceChildren(...[...catalog.keys()].map((exchange) => new Option(exchange, exchange)));
  fillSymbols();
  setInterval(refreshIntegrity, INTEGRITY_REFRESH_MS);
  // A failed first attempt is reported by the close handler and retried by the SDK.
  await client.connect().catch(() => {});
}

start().catch((error: unknown) => {
  notice.textContent = `cannot start: ${error instanceof Error ? error.message : String(error)}`;
});
