// Every shell command the README and the docs show in a ```sh block runs as written: one-shot
// commands must exit 0 (and print what they promise), long-running modes must come up serving
// (health, ready, their REST) and are then stopped. Commands of one block run in order and share
// a temporary SHARED_MEMORY_PATH, so `collect` then `inspect` works as a reader would do it. Only
// machine-specific values differ from the text: documented default ports become free ones, and
// /tmp/alphapulse_shm the temporary folder. Commands that use ./dist/alphapulse run in a scratch
// folder holding a link to the repository's dist/ (so files they create stay out of the
// repository); the others run at the repository's root. Collectors reach the venue through a
// simulator this test starts, unless the command names its own URL. A command not listed below
// fails the test: each new one is either run or excluded here with the reason.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { EXCHANGE_NAMES, type ExchangeName } from "../src/exchanges/registry.ts";
import { type Simulator, startSimulator } from "../src/simulator/index.ts";
import { freePorts } from "./support/ports.ts";

const REPO_ROOT = path.resolve(import.meta.dir, "..");
const DOCUMENTED_PORTS = /\b(9100|8080|8081|8082|8083|8084|8765|8766)\b/g;
const DEFAULT_SHM = "/tmp/alphapulse_shm";

interface DocCommand {
  /** As written, continuation lines included. */
  readonly text: string;
  /** Continuations joined and blanks collapsed: how the table below names it. */
  readonly key: string;
  readonly where: string;
}

/** Reads a setting as a command sees it: its own `NAME=value` first, else the environment. */
type Setting = (name: string) => string;

type How =
  | { readonly kind: "run"; readonly check?: (stdout: string, folder: string) => void }
  | {
      readonly kind: "serve";
      /** The venue a collector reaches through this test's simulator (when the text names no URL). */
      readonly venue?: ExchangeName;
      /** True once it serves what it should. */
      readonly ready: (setting: Setting, folder: string) => Promise<boolean>;
      /** Stopped (SIGTERM) once ready, before the next command: what Ctrl-C does. */
      readonly stopWhenReady?: boolean;
      /** Run instead of the text, with the reason: a part of it cannot run here. */
      readonly instead?: { readonly command: string; readonly why: string };
    }
  | { readonly kind: "excluded"; readonly why: string };

async function answers(url: string, check?: (body: string) => boolean): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    const body = await response.text();
    return response.status === 200 && (check === undefined || check(body));
  } catch {
    return false;
  }
}

const ready = (port: string) => answers(`http://127.0.0.1:${port}/ready`);

/** The demo: every venue's books valid over REST, the live page served, the broadcaster ready. */
async function demoServes(setting: Setting): Promise<boolean> {
  const ws = setting("WEBSOCKET_PORT");
  const symbols = (body: string) => {
    const reply = JSON.parse(body) as {
      exchanges: Array<{ exchange: string; symbols: Array<{ book: string }> }>;
    };
    const valid = reply.exchanges.filter(
      (e) => e.symbols.length > 0 && e.symbols.every((s) => s.book === "valid"),
    );
    return (
      valid
        .map((e) => e.exchange)
        .sort()
        .join() === [...EXCHANGE_NAMES].sort().join()
    );
  };
  return (
    (await ready(setting("METRICS_PORT"))) &&
    (await answers(`http://127.0.0.1:${ws}/api/v1/symbols`, symbols)) &&
    (await answers(`http://127.0.0.1:${ws}/`, (body) => body.includes("AlphaPulse")))
  );
}

const RECURSIVE = "runs the whole test suite, this test included; CI runs it";

/** Every documented command, by its collapsed text. */
const COMMANDS: Record<string, How> = {
  "npm install -g bun && bun install && bun run demo": {
    kind: "serve",
    ready: demoServes,
    instead: {
      command: "bun install && bun run demo",
      why: "`npm install -g bun` installs Bun for the whole machine from the npm registry; this test runs under Bun already",
    },
  },
  "bash .ci/run": { kind: "excluded", why: `${RECURSIVE} (after installing Debian packages as root)` },
  "bun run build": {
    kind: "run",
    check: () => expect(statSync(path.join(REPO_ROOT, "dist/alphapulse")).mode & 0o100).toBe(0o100),
  },
  "EXCHANGE=kraken SYMBOLS=BTC-USD,ETH-USD ./dist/alphapulse collect # EXCHANGE: any venue below": {
    kind: "serve",
    venue: "kraken",
    ready: (setting) => ready(setting("METRICS_PORT")),
  },
  "./dist/alphapulse broadcast": {
    kind: "serve",
    ready: async (setting) =>
      (await answers(`http://127.0.0.1:${setting("METRICS_PORT")}/health`)) &&
      answers(`http://127.0.0.1:${setting("WEBSOCKET_PORT")}/api/v1/book/kraken/BTC-USD`, (body) =>
        body.includes('"status":"valid"'),
      ),
  },
  "./dist/alphapulse inspect /tmp/alphapulse_shm/kraken.ring": {
    kind: "run",
    check: (stdout) => {
      expect(stdout).toContain("exchange kraken");
      expect(stdout).toMatch(/book BTC-USD: valid/);
    },
  },
  "EXCHANGE=binance SYMBOLS=BTC-USDT CAPTURE_PATH=captures ./dist/alphapulse collect # Ctrl-C when done": {
    kind: "serve",
    venue: "binance",
    stopWhenReady: true,
    // Ready, and the book connection's capture holds frames past the snapshot.
    ready: async (setting, folder) => {
      if (!(await ready(setting("METRICS_PORT")))) return false;
      const captures = path.join(folder, "captures");
      const files = existsSync(captures) ? readdirSync(captures) : [];
      const book = files.find((name) => name.startsWith("binance-binance."));
      return book !== undefined && readFileSync(path.join(captures, book), "utf8").includes("depthUpdate");
    },
  },
  "EXCHANGE=binance SYMBOLS=BTC-USDT ./dist/alphapulse replay captures/binance-*.capture": {
    kind: "run",
    check: (stdout) => {
      const summary = JSON.parse(stdout.trim().split("\n").at(-1)!) as {
        frames: number;
        validBooks: string[];
      };
      expect(summary.frames).toBeGreaterThan(0);
      expect(summary.validBooks).toEqual(["BTC-USDT"]);
    },
  },
  "bun install": { kind: "run" },
  "bun run dev demo # from source, restarts on change; any mode: bun run dev collect": {
    kind: "serve",
    ready: demoServes,
  },
  "bun run typecheck # tsc --noEmit, strict": { kind: "run" },
  "bun run lint # Biome, and knip for dead code (scripts/ci/dead-code.ts)": { kind: "run" },
  "bun run test # the TypeScript tests (bun test --timeout 60000)": { kind: "excluded", why: RECURSIVE },
  "bun run test:all # those, the Python tests and the operations checks": {
    kind: "excluded",
    why: RECURSIVE,
  },
  "bun bench # every benchmark; `bun bench shm` runs one": {
    kind: "excluded",
    why: "runs every benchmark for many minutes on purpose; CI's bench job runs it",
  },
  "python3 -m unittest discover -s python/tests -t python -v": {
    kind: "excluded",
    why: "the Python test suite; `bun run test:all` and CI run it",
  },
  "SIMULATOR_PORT=9100 ./dist/alphapulse simulate # logs the URLs below": {
    kind: "serve",
    ready: (setting) => answers(`http://127.0.0.1:${setting("SIMULATOR_PORT")}/control/stats`),
  },
  "EXCHANGE=kraken SYMBOLS=BTC-USD,ETH-USD METRICS_PORT=8081 EXCHANGE_WS_URL=ws://127.0.0.1:9100/kraken/v2 ./dist/alphapulse collect":
    { kind: "serve", ready: (setting) => ready(setting("METRICS_PORT")) },
  "EXCHANGE=binance SYMBOLS=BTC-USDT METRICS_PORT=8082 EXCHANGE_WS_URL=ws://127.0.0.1:9100/binance EXCHANGE_REST_URL=http://127.0.0.1:9100/binance ./dist/alphapulse collect":
    { kind: "serve", ready: (setting) => ready(setting("METRICS_PORT")) },
  "EXCHANGE=coinbase SYMBOLS=BTC-USD METRICS_PORT=8083 EXCHANGE_WS_URL=ws://127.0.0.1:9100/coinbase EXCHANGE_REST_URL=http://127.0.0.1:9100/coinbase ./dist/alphapulse collect":
    { kind: "serve", ready: (setting) => ready(setting("METRICS_PORT")) },
  "EXCHANGE=okx SYMBOLS=BTC-USDT METRICS_PORT=8084 EXCHANGE_WS_URL=ws://127.0.0.1:9100/okx/ws/v5/public EXCHANGE_REST_URL=http://127.0.0.1:9100/okx ./dist/alphapulse collect":
    { kind: "serve", ready: (setting) => ready(setting("METRICS_PORT")) },
};

/** README first (it builds dist/), then every other markdown file of the repository. */
function documents(): string[] {
  const skip = /^(node_modules|test-artifacts|\.fixtures|dist)\//;
  const found = [...new Bun.Glob("**/*.md").scanSync(REPO_ROOT)].filter((file) => !skip.test(file)).sort();
  return ["README.md", ...found.filter((file) => file !== "README.md")];
}

function shellBlocks(file: string): DocCommand[][] {
  const text = readFileSync(path.join(REPO_ROOT, file), "utf8");
  const blocks: DocCommand[][] = [];
  for (const match of text.matchAll(/^```(?:sh|bash|shell)\n([\s\S]*?)^```/gm)) {
    const startLine = text.slice(0, match.index).split("\n").length + 1;
    const commands: DocCommand[] = [];
    let pending: string[] = [];
    match[1]!.split("\n").forEach((line, i) => {
      if (pending.length === 0 && (line.trim() === "" || line.trim().startsWith("#"))) return;
      pending.push(line);
      if (line.endsWith("\\")) return;
      const joined = pending.join("\n");
      const key = joined.replace(/\\\n/g, " ").replace(/\s+/g, " ").trim();
      commands.push({ text: joined, key, where: `${file}:${startLine + i - pending.length + 1}` });
      pending = [];
    });
    if (commands.length > 0) blocks.push(commands);
  }
  return blocks;
}

async function freePort(): Promise<number> {
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = server.port!;
  server.stop(true);
  return port;
}

/** A command running in its own process group (setsid), so stopping it stops all it started. */
class Running {
  readonly output: string[] = [];
  readonly exited: Promise<number>;
  private readonly child: ReturnType<typeof Bun.spawn>;

  constructor(command: string, cwd: string, env: Record<string, string>) {
    this.child = Bun.spawn(["setsid", "bash", "-c", command], { cwd, env, stdout: "pipe", stderr: "pipe" });
    for (const stream of [this.child.stdout, this.child.stderr] as ReadableStream<Uint8Array>[]) {
      void (async () => {
        const decoder = new TextDecoder();
        for await (const chunk of stream) this.output.push(decoder.decode(chunk));
      })();
    }
    this.exited = this.child.exited;
  }

  get done(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  tail(): string {
    return this.output.join("").slice(-3000);
  }

  /** SIGTERM to the group, then SIGKILL if it has not gone within the grace. */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.done) return;
    const group = -this.child.pid;
    try {
      process.kill(group, "SIGTERM");
    } catch {
      return;
    }
    const gone = await Promise.race([this.exited.then(() => true), Bun.sleep(graceMs).then(() => false)]);
    if (!gone) {
      try {
        process.kill(group, "SIGKILL");
      } catch {}
      await this.exited;
    }
  }
}

let simulator: Simulator;
const work = mkdtempSync(path.join(tmpdir(), "ap-test-docs-"));

beforeAll(async () => {
  simulator = startSimulator({
    port: await freePort(),
    symbols: ["BTC-USD", "ETH-USD", "BTC-USDT"],
    seed: 3,
  });
});

afterAll(async () => {
  await simulator?.stop();
  rmSync(work, { recursive: true, force: true });
});

const blocks = documents().flatMap((file) => shellBlocks(file));

test("every documented command is run or excluded with a reason, and every one listed is still documented", () => {
  const documented = blocks.flat().map((command) => command.key);
  const missing = documented.filter((key) => !(key in COMMANDS));
  expect(missing).toEqual([]);
  const stale = Object.keys(COMMANDS).filter((key) => !documented.includes(key));
  expect(stale).toEqual([]);
});

test("every TypeScript import the docs show resolves from the repository root", () => {
  for (const file of documents()) {
    const text = readFileSync(path.join(REPO_ROOT, file), "utf8");
    for (const block of text.matchAll(/^```ts\n([\s\S]*?)^```/gm)) {
      for (const specifier of block[1]!.matchAll(/from "([^"]+)"/g)) {
        expect({ file, specifier: specifier[1], resolves: resolves(specifier[1]!) }).toEqual({
          file,
          specifier: specifier[1],
          resolves: true,
        });
      }
    }
  }
});

function resolves(specifier: string): boolean {
  try {
    Bun.resolveSync(specifier, REPO_ROOT);
    return true;
  } catch {
    return false;
  }
}

describe("documented commands, as written", () => {
  for (const commands of blocks) {
    const runnable = commands.filter((command) => COMMANDS[command.key]?.kind !== "excluded");
    if (runnable.length === 0) continue;
    test(`${commands[0]!.where}: ${runnable.map((c) => c.key.split(" #")[0]).join(" | ")}`, async () => {
      await runBlock(runnable);
    }, 300_000);
  }
});

async function runBlock(commands: readonly DocCommand[]): Promise<void> {
  const folder = mkdtempSync(path.join(work, "block-"));
  symlinkSync(path.join(REPO_ROOT, "dist"), path.join(folder, "dist"));
  const shm = mkdtempSync(path.join("/dev/shm", "ap-test-docs-"));
  const ports = new Map<string, string>();
  for (const port of ["9100", "8080", "8081", "8082", "8083", "8084", "8765", "8766"])
    ports.set(port, String(await freePort()));
  const running: Running[] = [];
  try {
    for (const command of commands) {
      const how = COMMANDS[command.key]!;
      if (how.kind === "excluded") continue;
      const written = how.kind === "serve" && how.instead ? how.instead.command : command.text;
      const text = written.replace(DOCUMENTED_PORTS, (port) => ports.get(port)!).replaceAll(DEFAULT_SHM, shm);
      const env: Record<string, string> = {
        ...(process.env as Record<string, string>),
        ALPHAPULSE_MODE: "",
        SHARED_MEMORY_PATH: shm,
        WEBSOCKET_PORT: String(await freePort()),
        METRICS_PORT: String(await freePort()),
        SIMULATOR_PORT: String(await freePort()),
        // The demo's collectors take consecutive ports from this one, a venue each.
        DEMO_COLLECTOR_METRICS_PORT: String(freePorts(EXCHANGE_NAMES.length)[0]),
        SHUTDOWN_GRACE_MS: "3000",
      };
      if (how.kind === "serve" && how.venue) {
        const urls: { ws: string; rest?: string } = simulator.urls[how.venue];
        env.EXCHANGE_WS_URL = urls.ws;
        if (urls.rest !== undefined) env.EXCHANGE_REST_URL = urls.rest;
      }
      const setting: Setting = (name) => new RegExp(`\\b${name}=(\\S+)`).exec(text)?.[1] ?? env[name]!;
      const cwd = text.includes("./dist/") ? folder : REPO_ROOT;
      const process_ = new Running(text, cwd, env);
      if (how.kind === "run") {
        const code = await Promise.race([process_.exited, Bun.sleep(240_000).then(() => null)]);
        if (code === null) await process_.stop(1000);
        expect({ command: command.where, code, output: code === 0 ? "" : process_.tail() }).toEqual({
          command: command.where,
          code: 0,
          output: "",
        });
        how.check?.(process_.output.join(""), folder);
        continue;
      }
      running.push(process_);
      const deadline = Date.now() + 90_000;
      let up = false;
      while (!up && !process_.done && Date.now() < deadline) {
        up = await how.ready(setting, folder);
        if (!up) await Bun.sleep(250);
      }
      expect({ command: command.where, serving: up, output: up ? "" : process_.tail() }).toEqual({
        command: command.where,
        serving: true,
        output: "",
      });
      if (how.stopWhenReady) await process_.stop();
    }
  } finally {
    for (const process_ of running.reverse()) await process_.stop();
    rmSync(shm, { recursive: true, force: true });
    rmSync(folder, { recursive: true, force: true });
  }
}
