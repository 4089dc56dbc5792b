// Simulator throughput: `alphapulse simulate` in its own process at a high rate, one client per
// venue here subscribed to every symbol; reports what the clients received per second, what the
// simulator generated against its target, and the simulator's CPU share of one core.
//
//   bun bench/simulator.ts [updatesPerSecond=1000] [seconds=5]   (the last stdout line is JSON)
import { startSimulatorProcess } from "../test/support/mode-process.ts";

const SYMBOLS = ["BTC-USD", "ETH-USD", "SOL-USD", "BTC-USDT", "ETH-USDT"];
const UPDATES = Number(process.argv[2] ?? 1_000);
const SECONDS = Number(process.argv[3] ?? 5);
const TRADES = Math.max(1, Math.floor(UPDATES / 10));
const CLOCK_TICKS = 100; // USER_HZ on Linux

interface Counter {
  frames: number;
  bytes: number;
}

function cpuTicks(pid: number): number {
  const stat = require("node:fs").readFileSync(`/proc/${pid}/stat`, "utf8") as string;
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

function open(url: string, counter: Counter, onOpen: (ws: WebSocket) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.onmessage = (event) => {
      counter.frames++;
      counter.bytes += String(event.data).length;
    };
    ws.onopen = () => {
      onOpen(ws);
      resolve(ws);
    };
    ws.onerror = () => reject(new Error(`cannot connect to ${url}`));
  });
}

async function main(): Promise<void> {
  const simulator = await startSimulatorProcess({
    SIMULATOR_SYMBOLS: SYMBOLS.join(","),
    SIMULATOR_UPDATES_PER_SECOND: String(UPDATES),
    SIMULATOR_TRADES_PER_SECOND: String(TRADES),
  });
  const child = simulator.process.proc;
  const { urls } = simulator;
  try {
    const counters = {
      kraken: { frames: 0, bytes: 0 },
      binance: { frames: 0, bytes: 0 },
      coinbase: { frames: 0, bytes: 0 },
    };
    const kraken = SYMBOLS.map((s) => s.replace("-", "/"));
    const binanceStreams = SYMBOLS.map((s) => s.replace("-", "").toLowerCase()).flatMap((s) => [
      `${s}@trade`,
      `${s}@depth@100ms`,
    ]);
    const sockets = [
      await open(urls.kraken.ws, counters.kraken, (ws) => {
        ws.send(
          JSON.stringify({ method: "subscribe", params: { channel: "book", symbol: kraken, depth: 100 } }),
        );
        ws.send(JSON.stringify({ method: "subscribe", params: { channel: "trade", symbol: kraken } }));
      }),
      await open(`${urls.binance.ws}/stream?streams=${binanceStreams.join("/")}`, counters.binance, () => {}),
      await open(urls.coinbase.ws, counters.coinbase, (ws) => {
        ws.send(JSON.stringify({ type: "subscribe", product_ids: SYMBOLS, channel: "level2" }));
        ws.send(JSON.stringify({ type: "subscribe", product_ids: SYMBOLS, channel: "market_trades" }));
        ws.send(JSON.stringify({ type: "subscribe", channel: "heartbeats" }));
      }),
    ];
    await Bun.sleep(1_000); // snapshots and warm-up
    const statsBefore = (await (await fetch(`${simulator.http}/control/stats`)).json()) as Stats;
    const start = {
      kraken: { ...counters.kraken },
      binance: { ...counters.binance },
      coinbase: { ...counters.coinbase },
    };
    const ticks = cpuTicks(child.pid);
    const t0 = performance.now();
    await Bun.sleep(SECONDS * 1_000);
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = (cpuTicks(child.pid) - ticks) / CLOCK_TICKS / elapsed;
    const statsAfter = (await (await fetch(`${simulator.http}/control/stats`)).json()) as Stats;
    for (const ws of sockets) ws.close();
    const perVenue: Record<string, unknown> = {};
    for (const venue of ["kraken", "binance", "coinbase"] as const) {
      const events = statsAfter.venues[venue].marketEvents - statsBefore.venues[venue].marketEvents;
      perVenue[venue] = {
        framesPerSecond: Math.round((counters[venue].frames - start[venue].frames) / elapsed),
        megabytesPerSecond:
          Math.round(((counters[venue].bytes - start[venue].bytes) / elapsed / 1e6) * 100) / 100,
        marketEventsPerSecond: Math.round(events / elapsed),
        targetEventsPerSecond: (UPDATES + TRADES) * SYMBOLS.length,
      };
    }
    console.log(
      JSON.stringify({
        bench: "simulator",
        symbols: SYMBOLS.length,
        updatesPerSecondPerSymbol: UPDATES,
        tradesPerSecondPerSymbol: TRADES,
        seconds: Math.round(elapsed * 100) / 100,
        simulatorCpuCores: Math.round(cpu * 100) / 100,
        venues: perVenue,
      }),
    );
  } finally {
    await simulator.process.stop();
  }
}

interface Stats {
  venues: Record<"kraken" | "binance" | "coinbase", { marketEvents: number }>;
}

await main();
