// What the binary really reads from its environment, found by scanning src/ rather than kept as
// a list: `settings.<kind>("NAME", default)` calls and direct `env.NAME` / `process.env.NAME`
// reads. The ops tests hold manifests and docs to this, so a new setting is picked up by itself.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

export const REPO_ROOT = path.resolve(import.meta.dir, "../..");

type SettingKind = "string" | "optionalString" | "int" | "port" | "oneOf" | "list" | "bool" | "env";

export interface SettingUse {
  readonly file: string; // relative to the repo root
  readonly kind: SettingKind;
  /** The default argument as written in the source ("8080", "DEFAULT_SHARED_MEMORY_PATH"), if any. */
  readonly fallback?: string;
}

const SETTINGS_CALL =
  /\.(string|optionalString|int|port|oneOf|list|bool)\(\s*"([A-Z][A-Z0-9_]*)"\s*(?:,\s*([^,()]+?)\s*[,)])?/g;
const ENV_READ = /\benv(?:\.([A-Z][A-Z0-9_]*)\b|\[\s*"([A-Z][A-Z0-9_]*)"\s*\])/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

/** Every environment variable src/ reads, with each place that reads it. */
export function scanSettings(srcDir = path.join(REPO_ROOT, "src")): Map<string, SettingUse[]> {
  const uses = new Map<string, SettingUse[]>();
  const add = (name: string, use: SettingUse) => {
    const list = uses.get(name) ?? [];
    list.push(use);
    uses.set(name, list);
  };
  for (const file of sourceFiles(srcDir)) {
    const text = readFileSync(file, "utf8");
    const relative = path.relative(REPO_ROOT, file);
    for (const match of text.matchAll(SETTINGS_CALL)) {
      const [, kind, name, fallback] = match;
      add(name!, {
        file: relative,
        kind: kind as SettingKind,
        ...(fallback === undefined ? {} : { fallback }),
      });
    }
    for (const match of text.matchAll(ENV_READ)) {
      add((match[1] ?? match[2])!, { file: relative, kind: "env" });
    }
  }
  return uses;
}

/** The numeric default a mode's own code gives a port setting, when its source states one. */
export function portDefault(
  uses: Map<string, SettingUse[]>,
  name: string,
  modeDir: string,
): number | undefined {
  const found = (uses.get(name) ?? []).find(
    (use) =>
      use.kind === "port" && use.file.startsWith(`src/${modeDir}/`) && /^\d+$/.test(use.fallback ?? ""),
  );
  return found === undefined ? undefined : Number(found.fallback);
}
