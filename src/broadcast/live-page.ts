// The live page's script (bundled with the SDK when the broadcaster starts or is compiled): it
// lists venues from REST, subscribes the chosen book and trades plus every venue's status, and
// draws the ladder once per animation frame from the SDK's local book.
import { AlphaPulseClient } from "../client/client.ts";
import type { Level, TradeMessage } from "../protocol/messages.ts";

const LADDER_DEPTH = 20;
const TAPE_ROWS = 40;

interface SymbolsReply {
  exchanges: Array<{ exchange: string; symbols: Array<{ symbol: string; book: string }> }>;
}

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`live page: no #${id}`);
  return found as T;
}

const exchangeSelect = element<HTMLSelectElement>("exchange");
const symbolSelect = element<HTMLSelectElement>("symbol");
const connection = element("connection");
const bookStatus = element("book-status");
const asksBody = element("asks");
const bidsBody = element("bids");
const spread = element("spread");
const tape = element("trades");
const venues = element("venues");
const bookTitle = element("book-title");

const token = new URLSearchParams(location.search).get("token") ?? undefined;
const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
const client = new AlphaPulseClient({ urls: [wsUrl], ...(token ? { token } : {}) });
let catalog: SymbolsReply = { exchanges: [] };
let current: { book: string; trades: string } | null = null;
let drawPending = false;
const venueState = new Map<string, string>();

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

function drawLadder(): void {
  drawPending = false;
  if (current === null) return;
  const book = client.book(current.book);
  if (book === undefined) return;
  const asks: Level[] = book.asks(LADDER_DEPTH).reverse(); // best ask next to the spread
  const bids: Level[] = book.bids(LADDER_DEPTH);
  asksBody.replaceChildren(...asks.map((level) => cells(level, "ask")));
  bidsBody.replaceChildren(...bids.map((level) => cells(level, "bid")));
  const bestBid = bids[0]?.[0];
  const bestAsk = asks.at(-1)?.[0];
  spread.textContent = bestBid && bestAsk ? `${bestBid} / ${bestAsk}` : "-";
  bookStatus.textContent = `book ${book.status}`;
  bookStatus.className = book.status;
}

function scheduleDraw(): void {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(drawLadder);
}

function addTrade(trade: TradeMessage): void {
  const time = new Date((trade.ts || trade.pt) / 1000).toISOString().slice(11, 23);
  tape.prepend(cells([trade.price, trade.size, trade.side, time], trade.side));
  while (tape.children.length > TAPE_ROWS) tape.lastElementChild?.remove();
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
  const entry = catalog.exchanges.find((e) => e.exchange === exchangeSelect.value);
  symbolSelect.replaceChildren(...(entry?.symbols ?? []).map(({ symbol }) => new Option(symbol, symbol)));
}

async function choose(): Promise<void> {
  const exchange = exchangeSelect.value;
  const symbol = symbolSelect.value;
  if (!exchange || !symbol) return;
  if (current) await client.unsubscribe([current.book, current.trades]).catch(() => {});
  current = { book: `book.${exchange}.${symbol}`, trades: `trades.${exchange}.${symbol}` };
  bookTitle.textContent = `${exchange} ${symbol}`;
  tape.replaceChildren();
  asksBody.replaceChildren();
  bidsBody.replaceChildren();
  await client.subscribe([current.book, current.trades]);
}

client.on("open", () => {
  connection.textContent = "live";
  connection.className = "live";
});
client.on("close", () => {
  connection.textContent = "reconnecting";
  connection.className = "";
});
client.on("book", (topic) => {
  if (topic === current?.book) scheduleDraw();
});
client.on("message", (message) => {
  if (message.type === "trade" && message.topic === current?.trades) addTrade(message);
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

async function start(): Promise<void> {
  const response = await fetch(`/api/v1/symbols${token ? `?token=${encodeURIComponent(token)}` : ""}`);
  catalog = (await response.json()) as SymbolsReply;
  catalog.exchanges.sort((a, b) => a.exchange.localeCompare(b.exchange));
  exchangeSelect.replaceChildren(...catalog.exchanges.map(({ exchange }) => new Option(exchange, exchange)));
  fillSymbols();
  await client.connect();
  await client.subscribe(["status.*"]);
  await choose();
}

start().catch((error: unknown) => {
  connection.textContent = `error: ${error instanceof Error ? error.message : String(error)}`;
});
