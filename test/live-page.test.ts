// The live page in a real headless Chromium against real broadcasters: it lists the venues, draws
// the top 20 levels a side equal to the ring's book with prices padded to the symbol's decimals,
// badges what guards the book (checksum, sequence), starts the trade tape from REST, follows
// updates and trades live, switches venue, shows venue status; at 1400x900 and at a phone's 390x844 both sides of the ladder stay in the window (the
// screenshots land in test-artifacts/); a broadcaster that refuses the page (token needed,
// Origin not allowed) is named as the reason instead of "reconnecting" for ever; and a ring
// whose writer stopped shows its book and its venue as stale.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { formatScaled, formatScaledTrimmed } from "../src/market/decimal.ts";
import { BookIntegrity, ConnectionState, StatusReason } from "../src/shm/layout.ts";
import { seededRandom, TestFeed } from "./support/broadcast-feed.ts";
import { type LoopbackBroadcaster, startTestBroadcaster } from "./support/broadcaster.ts";

const DIR = `/dev/shm/ap-test-broadcast-page-${process.pid}`;
const ARTIFACTS = path.resolve(import.meta.dir, "../test-artifacts");
const MID = 4_500_000; // 45000.00 at 2 decimals
const TOKEN = "page-test-token";
const WAIT = { timeout: 20_000 };

let kraken: TestFeed;
let binance: TestFeed;
const broadcasters: LoopbackBroadcaster[] = [];
let browser: Browser;

/** A broadcaster on free ports over the test's rings. */
function startBroadcaster(settings: Record<string, string> = {}): string {
  const broadcaster = startTestBroadcaster(DIR, settings);
  broadcasters.push(broadcaster);
  return broadcaster.http;
}

/** The price as the page shows it: padded to the symbol's 2 decimals. */
const shown = (price: number) => formatScaled(price, 2);

beforeAll(async () => {
  rmSync(DIR, { recursive: true, force: true });
  const random = seededRandom(21);
  kraken = new TestFeed(
    DIR,
    "kraken",
    "kraken",
    [
      { venueSymbol: "XBT/USD", symbol: "BTC-USD", priceDecimals: 2, sizeDecimals: 8 },
      { venueSymbol: "ETH/USD", symbol: "ETH-USD", priceDecimals: 2, sizeDecimals: 8 },
    ],
    25,
  );
  binance = new TestFeed(
    DIR,
    "binance",
    "binance",
    [{ venueSymbol: "BTCUSDT", symbol: "BTC-USDT", priceDecimals: 2, sizeDecimals: 8 }],
    25,
  );
  // What guards each book, as each venue's adapter would say it.
  for (const id of [0, 1]) kraken.writer.setIntegrity(id, BookIntegrity.checksum);
  binance.writer.setIntegrity(0, BookIntegrity.sequence);
  kraken.connection(ConnectionState.Connected, StatusReason.None);
  binance.connection(ConnectionState.Reconnecting, StatusReason.Disconnected);
  // Levels every 0.50: half the prices lose a trailing zero on the wire, a few lose both.
  kraken.randomSnapshot(0, random, MID, 50, 30, 5e8);
  kraken.randomSnapshot(1, random, MID, 50, 30, 5e8);
  binance.randomSnapshot(0, random, MID, 50, 30, 5e8);
  // Trades before any page opens: the tape must start with them.
  for (let i = 0; i < 5; i++) kraken.trade(0, MID + 100 * i, 10_000_000, i % 2 === 0, 1 + i);
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(broadcasters.map((b) => b.stop()));
  kraken?.close();
  binance?.close();
  rmSync(DIR, { recursive: true, force: true });
});

async function openPage(url: string, viewport: { width: number; height: number }) {
  const page = await browser.newPage({ viewport });
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  await page.goto(url);
  return { page, errors };
}

async function showKraken(page: Page): Promise<void> {
  await page.waitForSelector("#connection.live", WAIT);
  await page.waitForFunction(
    () => document.querySelector("#book-title")?.textContent !== "",
    undefined,
    WAIT,
  );
  await page.selectOption("#exchange", "kraken");
  await page.waitForFunction(
    () => document.querySelector("#book-title")?.textContent === "kraken BTC-USD",
    undefined,
    WAIT,
  );
  await page.waitForFunction(() => document.querySelectorAll("#bids tr").length === 20, undefined, WAIT);
}

interface Box {
  readonly top: number;
  readonly bottom: number;
  readonly left: number;
  readonly right: number;
}

/** Where each row of a tbody sits in the window, and where the part of the page clipping it ends. */
function rowBoxes(page: Page, tbody: string): Promise<{ rows: Box[]; clip: Box }> {
  return page.evaluate((selector) => {
    const box = (element: Element) => {
      const r = element.getBoundingClientRect();
      return { top: r.top, bottom: r.bottom, left: r.left, right: r.right };
    };
    const body = document.querySelector(selector)!;
    return { rows: [...body.querySelectorAll("tr")].map(box), clip: box(body.closest(".side")!) };
  }, tbody);
}

function inside(box: Box, width: number, height: number): boolean {
  return box.top >= 0 && box.left >= 0 && box.bottom <= height && box.right <= width;
}

test("the live page shows the book with padded prices, the recent trades, venue status, live", async () => {
  const { page, errors } = await openPage(`${startBroadcaster()}/`, { width: 1280, height: 800 });
  // Venues are listed alphabetically; binance comes up first.
  await page.waitForFunction(
    () => document.querySelector("#book-title")?.textContent === "binance BTC-USDT",
    undefined,
    WAIT,
  );
  await showKraken(page);
  expect(await page.locator("#asks tr").count()).toBe(20);
  expect((await page.locator("#exchange option").allTextContents()).sort()).toEqual(["binance", "kraken"]);
  // The badge says what guards the book, from REST.
  await page.waitForFunction(
    () => document.querySelector("#book-integrity")?.textContent === "checksum only",
    undefined,
    WAIT,
  );

  // The ladder is the ring's book: best bid first, best ask just above the spread, and every
  // price at the symbol's 2 decimals though the wire sends 44999.5 and 45000 as such.
  expect(await page.locator("#bids tr").first().locator("td").first().textContent()).toBe(shown(MID - 50));
  expect(await page.locator("#asks tr").last().locator("td").first().textContent()).toBe(shown(MID + 50));
  expect(formatScaledTrimmed(MID - 50, 2)).toBe("44999.5");
  const prices = await page.locator("#bids tr td:first-child, #asks tr td:first-child").allTextContents();
  expect(prices).toHaveLength(40);
  for (const price of prices) expect(price).toMatch(/^\d+\.\d\d$/);
  expect(await page.locator("#spread").textContent()).toBe(`${shown(MID - 50)} / ${shown(MID + 50)}`);

  // The tape starts with the trades made before the page opened (from REST), newest first.
  await page.waitForFunction(() => document.querySelectorAll("#trades tr").length === 5, undefined, WAIT);
  expect(await page.locator("#trades tr td:first-child").allTextContents()).toEqual(
    [4, 3, 2, 1, 0].map((i) => shown(MID + 100 * i)),
  );

  // Live: a better bid and a trade arrive over the WebSocket.
  kraken.update(0, [{ ask: false, price: MID - 10, size: 123_000_000 }]);
  await page.waitForFunction(
    (price) => document.querySelector("#bids tr td")?.textContent === price,
    shown(MID - 10),
    WAIT,
  );
  expect(await page.locator("#bids tr").first().locator("td").nth(1).textContent()).toBe("1.23");
  kraken.trade(0, MID - 10, 50_000_000, true, 77);
  await page.waitForFunction(() => document.querySelectorAll("#trades tr").length === 6, undefined, WAIT);
  expect(await page.locator("#trades tr").first().locator("td").allTextContents()).toEqual([
    shown(MID - 10),
    "0.5",
    "sell",
    expect.any(String),
  ]);

  // Venue status for every ring.
  await page.waitForFunction(() => document.querySelectorAll("#venues .venue").length === 2, undefined, WAIT);
  const venues = await page.locator("#venues .venue").allTextContents();
  expect(venues.sort()).toEqual(["binancereconnecting", "krakenconnected"]);

  // Another venue, and back.
  await page.selectOption("#exchange", "binance");
  await page.waitForFunction(
    () => document.querySelector("#book-title")?.textContent === "binance BTC-USDT",
    undefined,
    WAIT,
  );
  await page.waitForFunction(
    () => document.querySelector("#book-integrity")?.textContent === "seq only",
    undefined,
    WAIT,
  );
  binance.update(0, [{ ask: true, price: MID + 20, size: 7_000_000 }]);
  await page.waitForFunction(
    (price) => document.querySelector("#asks tr:last-child td")?.textContent === price,
    shown(MID + 20),
    WAIT,
  );
  await page.selectOption("#exchange", "kraken");
  await page.waitForFunction(() => document.querySelectorAll("#bids tr").length === 20, undefined, WAIT);
  for (let i = 0; i < 12; i++) kraken.trade(0, MID + i, 10_000_000 * (i + 1), i % 2 === 0, 100 + i);
  await page.waitForFunction(() => document.querySelectorAll("#trades tr").length === 18, undefined, WAIT);
  expect(errors).toEqual([]);
  await page.close();
}, 90_000);

test("at 1400x900 every level of both sides is in the window, prices aligned on the point", async () => {
  const { page, errors } = await openPage(`${startBroadcaster()}/`, { width: 1400, height: 900 });
  await showKraken(page);
  const bids = await rowBoxes(page, "#bids");
  const asks = await rowBoxes(page, "#asks");
  expect(bids.rows).toHaveLength(20);
  expect(asks.rows).toHaveLength(20);
  // Whole rows: inside the window and not clipped by their side of the ladder.
  for (const side of [bids, asks]) {
    for (const row of side.rows) {
      expect(inside(row, 1400, 900)).toBe(true);
      expect(row.top >= side.clip.top - 0.5 && row.bottom <= side.clip.bottom + 0.5).toBe(true);
    }
  }
  // Same digits after the point, right-aligned in tabular figures: the points line up.
  const points = await page.evaluate(() =>
    [...document.querySelectorAll("#bids td:first-child, #asks td:first-child")].map((cell) => {
      const range = document.createRange();
      const text = cell.firstChild!;
      const at = text.textContent!.indexOf(".");
      range.setStart(text, at);
      range.setEnd(text, at + 1);
      return Math.round(range.getBoundingClientRect().left);
    }),
  );
  expect(new Set(points).size).toBe(1);
  expect(await page.evaluate(() => document.documentElement.scrollHeight <= window.innerHeight)).toBe(true);
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, "live-page-1400x900.png") });
  expect(errors).toEqual([]);
  await page.close();
}, 60_000);

test("at a phone's 390x844 the page fits the width and both best levels show on the first screen", async () => {
  const { page, errors } = await openPage(`${startBroadcaster()}/`, { width: 390, height: 844 });
  await showKraken(page);
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  const bids = await rowBoxes(page, "#bids");
  const asks = await rowBoxes(page, "#asks");
  // Each side keeps its best levels next to the spread and clips the rest: the clipping boxes
  // and the best rows are in the window.
  expect(inside(bids.clip, 390, 844)).toBe(true);
  expect(inside(asks.clip, 390, 844)).toBe(true);
  const bestBid = bids.rows[0]!;
  const bestAsk = asks.rows.at(-1)!;
  expect(inside(bestBid, 390, 844)).toBe(true);
  expect(inside(bestAsk, 390, 844)).toBe(true);
  const shownBids = bids.rows.filter((row) => row.bottom <= bids.clip.bottom + 0.5);
  expect(shownBids.length).toBeGreaterThanOrEqual(8);
  for (const row of shownBids) expect(inside(row, 390, 844)).toBe(true);
  expect(await page.locator("#bids tr").first().locator("td").first().textContent()).toBe(shown(MID - 10));
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, "live-page-390x844.png"), fullPage: true });
  expect(errors).toEqual([]);
  await page.close();
}, 60_000);

test("a broadcaster that wants a token: the page says a token is needed, or that its token is wrong", async () => {
  const base = startBroadcaster({ BROADCAST_TOKEN: TOKEN });
  const without = await openPage(`${base}/`, { width: 1400, height: 900 });
  await without.page.waitForSelector("#connection.refused", WAIT);
  expect(await without.page.locator("#notice").textContent()).toBe(
    "this broadcaster needs a token: open the page as /?token=<BROADCAST_TOKEN>",
  );
  await without.page.screenshot({ path: path.join(ARTIFACTS, "live-page-token-needed.png") });
  await without.page.close();

  const wrong = await openPage(`${base}/?token=nope`, { width: 1400, height: 900 });
  await wrong.page.waitForSelector("#connection.refused", WAIT);
  expect(await wrong.page.locator("#notice").textContent()).toContain("does not accept the token");
  await wrong.page.close();

  const right = await openPage(`${base}/?token=${TOKEN}`, { width: 1400, height: 900 });
  await showKraken(right.page);
  await right.page.waitForFunction(() => document.querySelectorAll("#trades tr").length > 0, undefined, WAIT);
  expect(await right.page.locator("#notice").textContent()).toBe("");
  expect(right.errors).toEqual([]);
  await right.page.close();
}, 60_000);

test("an Origin allowlist without the page's own origin: the page names the refusal and stops", async () => {
  const base = startBroadcaster({ BROADCAST_ALLOWED_ORIGINS: "https://trading.example" });
  const { page } = await openPage(`${base}/`, { width: 1400, height: 900 });
  await page.waitForSelector("#connection.refused", WAIT);
  expect(await page.locator("#notice").textContent()).toBe(
    `the broadcaster refuses this page: origin ${base} is not allowed (see BROADCAST_ALLOWED_ORIGINS)`,
  );
  // It stays refused: no reconnect loop back to "reconnecting".
  await Bun.sleep(1500);
  expect(await page.locator("#connection").textContent()).toBe("refused");
  await page.screenshot({ path: path.join(ARTIFACTS, "live-page-origin-refused.png") });
  await page.close();
}, 60_000);

test("a ring whose writer stops: the page shows its book and its venue as stale", async () => {
  const okx = new TestFeed(DIR, "okx", "okx", [
    { venueSymbol: "BTC-USDT", symbol: "BTC-USDT", priceDecimals: 2, sizeDecimals: 8 },
  ]);
  try {
    okx.connection(ConnectionState.Connected, StatusReason.None);
    okx.randomSnapshot(0, seededRandom(22), MID, 50, 30, 5e8);
    const { page, errors } = await openPage(`${startBroadcaster()}/`, { width: 1400, height: 900 });
    await page.waitForSelector("#connection.live", WAIT);
    await page.waitForFunction(
      () => document.querySelector("#book-title")?.textContent !== "",
      undefined,
      WAIT,
    );
    await page.selectOption("#exchange", "okx");
    await page.waitForSelector("#book-status.valid", WAIT);
    await page.waitForFunction(
      () => [...document.querySelectorAll("#venues .venue")].some((v) => v.textContent === "okxconnected"),
      undefined,
      WAIT,
    );
    okx.close(); // the writer stops: its ring is closed and beats no more
    await page.waitForSelector("#book-status.stale", WAIT);
    expect(await page.locator("#book-status").textContent()).toBe("book stale");
    // In the warning colour, as an invalid book is.
    expect(await page.locator("#book-status").evaluate((e) => getComputedStyle(e).color)).toBe(
      "rgb(255, 107, 107)",
    );
    await page.waitForFunction(
      () => [...document.querySelectorAll("#venues .venue")].some((v) => v.textContent === "okxstale"),
      undefined,
      WAIT,
    );
    // The levels stay, as of the last update; the header says they are old.
    expect(await page.locator("#bids tr").count()).toBe(10);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, "live-page-stale.png") });
    expect(errors).toEqual([]);
    await page.close();
  } finally {
    okx.close();
    rmSync(`${DIR}/okx.ring`, { force: true });
  }
}, 60_000);
