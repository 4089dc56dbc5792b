// The live page in a real headless Chromium against a real broadcaster: it lists the venues,
// draws the top 20 levels a side equal to the ring's book, follows updates and trades live,
// switches venue, shows venue status, and leaves a screenshot in test-artifacts/.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { type Browser, chromium } from "playwright-core";
import { formatScaledTrimmed } from "../src/market/decimal.ts";
import { ConnectionState, StatusReason } from "../src/shm/layout.ts";
import { seededRandom, TestFeed } from "./support/broadcast-feed.ts";
import { type LoopbackBroadcaster, startTestBroadcaster } from "./support/broadcaster.ts";

const DIR = `/dev/shm/ap-test-broadcast-page-${process.pid}`;
const ARTIFACTS = path.resolve(import.meta.dir, "../test-artifacts");
const MID = 4_500_000; // 45000.00 at 2 decimals

let kraken: TestFeed;
let binance: TestFeed;
let broadcaster: LoopbackBroadcaster;
let browser: Browser;

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
  kraken.connection(ConnectionState.Connected, StatusReason.None);
  binance.connection(ConnectionState.Reconnecting, StatusReason.Disconnected);
  kraken.randomSnapshot(0, random, MID, 50, 30, 5e8);
  kraken.randomSnapshot(1, random, MID, 50, 30, 5e8);
  binance.randomSnapshot(0, random, MID, 50, 30, 5e8);
  broadcaster = startTestBroadcaster(DIR);
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
  await broadcaster?.stop();
  kraken?.close();
  binance?.close();
  rmSync(DIR, { recursive: true, force: true });
});

test("the live page shows the book, trades and venue status, live", async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  await page.goto(`${broadcaster.http}/`);
  await page.waitForSelector("#connection.live", { timeout: 20_000 });
  // Venues are listed alphabetically; pick kraken.
  await page.waitForFunction(
    () => document.querySelector("#book-title")?.textContent === "binance BTC-USDT",
    undefined,
    {
      timeout: 20_000,
    },
  );
  await page.selectOption("#exchange", "kraken");
  await page.waitForFunction(
    () => document.querySelector("#book-title")?.textContent === "kraken BTC-USD",
    undefined,
    {
      timeout: 20_000,
    },
  );
  await page.waitForFunction(() => document.querySelectorAll("#bids tr").length === 20, undefined, {
    timeout: 20_000,
  });
  expect(await page.locator("#asks tr").count()).toBe(20);
  expect((await page.locator("#exchange option").allTextContents()).sort()).toEqual(["binance", "kraken"]);

  // The ladder is the ring's book: best bid first, best ask just above the spread.
  const best = (price: number) => formatScaledTrimmed(price, 2);
  expect(await page.locator("#bids tr").first().locator("td").first().textContent()).toBe(best(MID - 50));
  expect(await page.locator("#asks tr").last().locator("td").first().textContent()).toBe(best(MID + 50));

  // Live: a better bid and a trade arrive over the WebSocket.
  kraken.update(0, [{ ask: false, price: MID - 10, size: 123_000_000 }]);
  await page.waitForFunction(
    (price) => document.querySelector("#bids tr td")?.textContent === price,
    best(MID - 10),
    { timeout: 20_000 },
  );
  expect(await page.locator("#bids tr").first().locator("td").nth(1).textContent()).toBe("1.23");
  kraken.trade(0, MID - 10, 50_000_000, true, 77);
  await page.waitForFunction(() => document.querySelectorAll("#trades tr").length === 1, undefined, {
    timeout: 20_000,
  });
  expect(await page.locator("#trades tr td").allTextContents()).toEqual([
    best(MID - 10),
    "0.5",
    "sell",
    expect.any(String),
  ]);

  // Venue status for every ring.
  await page.waitForFunction(() => document.querySelectorAll("#venues .venue").length === 2, undefined, {
    timeout: 20_000,
  });
  const venues = await page.locator("#venues .venue").allTextContents();
  expect(venues.sort()).toEqual(["binancereconnecting", "krakenconnected"]);

  // Another venue.
  await page.selectOption("#exchange", "binance");
  await page.waitForFunction(
    () => document.querySelector("#book-title")?.textContent === "binance BTC-USDT",
    undefined,
    {
      timeout: 20_000,
    },
  );
  binance.update(0, [{ ask: true, price: MID + 20, size: 7_000_000 }]);
  await page.waitForFunction(
    (price) => document.querySelector("#asks tr:last-child td")?.textContent === price,
    best(MID + 20),
    { timeout: 20_000 },
  );
  await page.selectOption("#exchange", "kraken");
  await page.waitForFunction(() => document.querySelectorAll("#bids tr").length === 20, undefined, {
    timeout: 20_000,
  });
  for (let i = 0; i < 12; i++) kraken.trade(0, MID + i, 10_000_000 * (i + 1), i % 2 === 0, 100 + i);
  await page.waitForFunction(() => document.querySelectorAll("#trades tr").length === 12, undefined, {
    timeout: 20_000,
  });

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, "live-page.png"), fullPage: true });
  expect(errors).toEqual([]);
  await page.close();
}, 90_000);
