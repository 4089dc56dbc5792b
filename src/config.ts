// Settings from the environment, read and validated once at start. A bad value stops the
// process with one line naming the setting and what is wrong (exit code 2).
import { LOG_LEVELS, type LogLevel } from "./log.ts";

export class ConfigError extends Error {
  constructor(
    readonly setting: string,
    detail: string,
  ) {
    super(`${setting}: ${detail}`);
    this.name = "ConfigError";
  }
}

export type Env = Record<string, string | undefined>;

/** Typed accessors over an environment; each throws ConfigError on a bad value. */
export class Settings {
  constructor(private readonly env: Env) {}

  string(name: string, fallback: string): string {
    const value = this.env[name];
    return value === undefined || value === "" ? fallback : value;
  }

  optionalString(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value === "" ? undefined : value;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const raw = this.env[name];
    if (raw === undefined || raw === "") return fallback;
    if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(name, `"${raw}" is not a whole number`);
    const value = Number(raw);
    if (value < min || value > max) throw new ConfigError(name, `${value} is outside ${min}..${max}`);
    return value;
  }

  port(name: string, fallback: number): number {
    return this.int(name, fallback, 0, 65535);
  }

  oneOf<T extends string>(name: string, choices: readonly T[], fallback: T): T {
    const raw = this.string(name, fallback).toLowerCase();
    if (!(choices as readonly string[]).includes(raw)) {
      throw new ConfigError(name, `"${raw}" is not one of ${choices.join(", ")}`);
    }
    return raw as T;
  }

  list(name: string, fallback: readonly string[]): string[] {
    const raw = this.env[name];
    if (raw === undefined || raw.trim() === "") return [...fallback];
    return raw
      .split(",")
      .map((item) => item.trim())
      .filter((item) => item !== "");
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.env[name];
    if (raw === undefined || raw === "") return fallback;
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    throw new ConfigError(name, `"${raw}" is not a boolean (true/false)`);
  }
}

/** Settings of the process itself, read for every mode before it starts (src/main.ts). */
export interface ProcessConfig {
  readonly logLevel: LogLevel;
  /** How long the shutdown steps may take in all after SIGTERM/SIGINT. */
  readonly shutdownGraceMs: number;
}

export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;

export function readProcessConfig(settings: Settings): ProcessConfig {
  return {
    logLevel: settings.oneOf("LOG_LEVEL", LOG_LEVELS, "info"),
    shutdownGraceMs: settings.int("SHUTDOWN_GRACE_MS", DEFAULT_SHUTDOWN_GRACE_MS, 0, 600_000),
  };
}

/** Settings every mode that reads or writes rings shares. */
export interface CommonConfig {
  readonly sharedMemoryPath: string;
}

const DEFAULT_SHARED_MEMORY_PATH = "/tmp/alphapulse_shm";

export function readCommonConfig(settings: Settings): CommonConfig {
  const sharedMemoryPath = settings.string("SHARED_MEMORY_PATH", DEFAULT_SHARED_MEMORY_PATH);
  if (!sharedMemoryPath.startsWith("/")) {
    throw new ConfigError("SHARED_MEMORY_PATH", `"${sharedMemoryPath}" must be an absolute path`);
  }
  return { sharedMemoryPath };
}
