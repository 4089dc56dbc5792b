// `alphapulse <mode>` as a real process for tests and benchmarks, on ports it picks itself: the
// simulator, a collector and the broadcaster are started on port 0 and each reports the ports
// it bound in its start-up log line, which is where these helpers read them from. Each process
// gets a clean environment (PATH, HOME and what the caller gives), as a container would.
import path from "node:path";
import type { Subprocess } from "bun";
import type { SimulatorUrls } from "../../src/simulator/index.ts";
import { REPO_ROOT } from "./ops-source-settings.ts";

/** The binary from source; a test or bench of the compiled binary passes its path instead. */
export const FROM_SOURCE: readonly string[] = ["bun", path.join(REPO_ROOT, "src/main.ts")];
/** How much of a process's output `output()` keeps, for error messages. */
const OUTPUT_TAIL = 20_000;

export type LogRecord = Record<string, unknown> & { readonly msg: string; readonly pid: number };

interface Waiter {
  readonly msg: string;
  readonly resolve: (record: LogRecord) => void;
}

export class ModeProcess {
  readonly proc: Subprocess<"ignore", "pipe", "pipe">;
  /** Every JSON log line the process wrote to stdout so far, parsed. */
  readonly records: LogRecord[] = [];
  private tail = "";
  private readonly waiters = new Set<Waiter>();
  /** Resolves once stdout has ended (the process exited) and every line of it was parsed. */
  private readonly stdoutDone: Promise<void>;
  private readonly stderrDone: Promise<void>;

  constructor(
    readonly name: string,
    mode: string,
    env: Record<string, string>,
    command: readonly string[] = FROM_SOURCE,
  ) {
    this.proc = Bun.spawn([...command, mode], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...env },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    this.stdoutDone = this.drain(this.proc.stdout, true);
    this.stderrDone = this.drain(this.proc.stderr, false);
  }

  /** The last part of what the process printed (stdout and stderr), for error messages. */
  output(): string {
    return this.tail;
  }

  /** The first log line whose `msg` is `msg`; fails, with the output, if the process exits first. */
  logged(msg: string, timeoutMs = 60_000): Promise<LogRecord> {
    const found = this.records.find((record) => record.msg === msg);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        if (!this.waiters.delete(waiter)) return;
        clearTimeout(timer);
        reject(new Error(`${this.name} ${why} before logging "${msg}": ${this.tail}`));
      };
      const waiter: Waiter = {
        msg,
        resolve: (record) => {
          clearTimeout(timer);
          resolve(record);
        },
      };
      const timer = setTimeout(() => fail(`took over ${timeoutMs} ms`), timeoutMs);
      this.waiters.add(waiter);
      void this.stdoutDone.then(() => fail(`exited (${this.proc.exitCode ?? this.proc.signalCode})`));
    });
  }

  /** `logged(msg)` for the line a process writes once it serves; if that never comes, it is killed. */
  async startupLine(msg: string, timeoutMs = 60_000): Promise<LogRecord> {
    try {
      return await this.logged(msg, timeoutMs);
    } catch (error) {
      await this.stop("SIGKILL");
      throw error;
    }
  }

  /** The exit code (-1 after a signal), once the process has ended and all its output is read. */
  async finished(): Promise<number> {
    await Promise.all([this.stdoutDone, this.stderrDone]);
    return this.proc.exitCode ?? -1;
  }

  /** Signals the process (unless it already ended), then `finished()`; SIGKILL after 30 s. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill(signal);
      const timer = setTimeout(() => this.proc.kill("SIGKILL"), 30_000);
      await this.proc.exited;
      clearTimeout(timer);
    }
    return this.finished();
  }

  private async drain(stream: ReadableStream<Uint8Array>, parse: boolean): Promise<void> {
    const decoder = new TextDecoder();
    let partial = "";
    for await (const chunk of stream) {
      const text = decoder.decode(chunk, { stream: true });
      this.tail = (this.tail + text).slice(-OUTPUT_TAIL);
      if (!parse) continue;
      const lines = (partial + text).split("\n");
      partial = lines.pop()!;
      for (const line of lines) this.parse(line);
    }
    if (parse) this.parse(partial);
    // The stream ends with the process: its exit status is known by the time anyone reads it.
    await this.proc.exited;
  }

  private parse(line: string): void {
    if (!line.startsWith("{")) return;
    let record: LogRecord;
    try {
      record = JSON.parse(line) as LogRecord;
    } catch {
      return; // not a log line
    }
    if (typeof record.msg !== "string") return;
    this.records.push(record);
    for (const waiter of this.waiters) {
      if (waiter.msg !== record.msg) continue;
      this.waiters.delete(waiter);
      waiter.resolve(record);
    }
  }
}

function port(record: LogRecord, field: string): number {
  const value = record[field];
  if (typeof value !== "number" || value <= 0) {
    throw new Error(`"${record.msg}" log line has no ${field}: ${JSON.stringify(record)}`);
  }
  return value;
}

/** The modes log their bound ports at info level; the helpers need that line whatever else is asked. */
const PORT_REPORTING = { LOG_LEVEL: "info" };

export interface SimulatorProcess {
  readonly process: ModeProcess;
  readonly port: number;
  /** Where each venue's collector connects. */
  readonly urls: SimulatorUrls;
  /** http://127.0.0.1:port, the control API's base. */
  readonly http: string;
}

/** `alphapulse simulate` on a port of its choosing (`env` adds SIMULATOR_* settings). */
export async function startSimulatorProcess(
  env: Record<string, string> = {},
  command: readonly string[] = FROM_SOURCE,
): Promise<SimulatorProcess> {
  const process = new ModeProcess(
    "simulator",
    "simulate",
    { SIMULATOR_HOST: "127.0.0.1", ...env, SIMULATOR_PORT: "0", ...PORT_REPORTING },
    command,
  );
  const line = await process.startupLine("simulator listening");
  const bound = port(line, "port");
  return { process, port: bound, urls: line.urls as SimulatorUrls, http: `http://127.0.0.1:${bound}` };
}

export interface CollectorProcess {
  readonly process: ModeProcess;
  readonly metricsPort: number;
  /** http://127.0.0.1:metricsPort, for /health, /ready and /metrics. */
  readonly metrics: string;
}

/**
 * `alphapulse collect` of `venue` against a simulator's URLs, writing its ring under
 * SHARED_MEMORY_PATH; `env` gives SYMBOLS and the rest. With NATS_URL it must be the first
 * collector of its venue in the fabric: it returns once that one leads.
 */
export async function startCollectorProcess(
  venue: keyof SimulatorUrls,
  urls: SimulatorUrls,
  env: Record<string, string>,
  command: readonly string[] = FROM_SOURCE,
  name = `${venue}-collector`,
): Promise<CollectorProcess> {
  const venueUrls = urls[venue];
  const process = new ModeProcess(
    name,
    "collect",
    {
      EXCHANGE: venue,
      EXCHANGE_WS_URL: venueUrls.ws,
      EXCHANGE_REST_URL: "rest" in venueUrls ? venueUrls.rest : "",
      ...env,
      METRICS_PORT: "0",
      ...PORT_REPORTING,
    },
    command,
  );
  // A collector in the fabric (NATS_URL) says where it listens once it leads its venue.
  const startup = env.NATS_URL === undefined ? "collecting" : "leading";
  const metricsPort = port(await process.startupLine(startup), "metricsPort");
  return { process, metricsPort, metrics: `http://127.0.0.1:${metricsPort}` };
}

export interface BroadcasterProcess {
  readonly process: ModeProcess;
  readonly websocketPort: number;
  readonly metricsPort: number;
  /** ws://127.0.0.1:websocketPort/ws */
  readonly ws: string;
  /** http://127.0.0.1:websocketPort, the REST API and the live page. */
  readonly http: string;
  /** http://127.0.0.1:metricsPort */
  readonly metrics: string;
}

/**
 * `alphapulse broadcast` on loopback over the rings in SHARED_MEMORY_PATH (in `env`). Both ports
 * are the process's choice unless `env` names WEBSOCKET_PORT (a port a client already knows).
 */
export async function startBroadcasterProcess(
  env: Record<string, string>,
  command: readonly string[] = FROM_SOURCE,
): Promise<BroadcasterProcess> {
  const process = new ModeProcess(
    "broadcaster",
    "broadcast",
    { BROADCAST_HOST: "127.0.0.1", WEBSOCKET_PORT: "0", ...env, METRICS_PORT: "0", ...PORT_REPORTING },
    command,
  );
  const line = await process.startupLine("broadcasting");
  const websocketPort = port(line, "websocketPort");
  const metricsPort = port(line, "metricsPort");
  return {
    process,
    websocketPort,
    metricsPort,
    ws: `ws://127.0.0.1:${websocketPort}/ws`,
    http: `http://127.0.0.1:${websocketPort}`,
    metrics: `http://127.0.0.1:${metricsPort}`,
  };
}
