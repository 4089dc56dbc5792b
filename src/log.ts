// Structured JSON logs on stdout, one object a line, filtered by LOG_LEVEL. Repeated events on a
// hot path go through `throttled`, which logs the first and then counts the rest.

export type LogLevel = "debug" | "info" | "warn" | "error";
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
export const LOG_LEVELS = Object.keys(RANK) as LogLevel[];

type Fields = Record<string, unknown>;

export class Logger {
  private readonly throttles = new Map<string, { until: number; suppressed: number }>();

  constructor(
    private level: LogLevel = "info",
    private readonly base: Fields = {},
    private readonly write: (line: string) => void = writeStdout,
  ) {}

  setLevel(level: LogLevel): void {
    this.level = level;
  }

  child(fields: Fields): Logger {
    return new Logger(this.level, { ...this.base, ...fields }, this.write);
  }

  debug(msg: string, fields?: Fields): void {
    this.log("debug", msg, fields);
  }
  info(msg: string, fields?: Fields): void {
    this.log("info", msg, fields);
  }
  warn(msg: string, fields?: Fields): void {
    this.log("warn", msg, fields);
  }
  error(msg: string, fields?: Fields): void {
    this.log("error", msg, fields);
  }

  /** Logs `key` at most once per `intervalMs`; the next line says how many were suppressed. */
  throttled(level: LogLevel, key: string, msg: string, fields?: Fields, intervalMs = 10_000): void {
    const now = Date.now();
    const entry = this.throttles.get(key);
    if (entry && now < entry.until) {
      entry.suppressed++;
      return;
    }
    const suppressed = entry?.suppressed ?? 0;
    this.throttles.set(key, { until: now + intervalMs, suppressed: 0 });
    this.log(level, msg, suppressed > 0 ? { ...fields, suppressed } : fields);
  }

  private log(level: LogLevel, msg: string, fields?: Fields): void {
    if (RANK[level] < RANK[this.level]) return;
    const record = { time: new Date().toISOString(), level, msg, ...this.base, ...fields };
    this.write(`${JSON.stringify(record, errorReplacer)}\n`);
  }
}

/** A closed stdout (EPIPE when the reader went away) must not take the process down with it. */
function writeStdout(line: string): void {
  try {
    process.stdout.write(line);
  } catch {
    // Nowhere left to log to; the process carries on.
  }
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (typeof value === "bigint") return value.toString();
  return value;
}

/** The process's logger; src/main.ts sets its level from LOG_LEVEL before a mode starts. */
export const log = new Logger("info", { pid: process.pid });
