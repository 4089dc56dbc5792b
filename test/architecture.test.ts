// The layering of src/, checked on every import (type-only and dynamic ones included): the data
// path runs exchange -> collector -> shm -> (fabric) -> broadcast -> client, on foundations
// every part may use but that use none of them. Each area of src/ (a folder, or a file at its
// top) may import only the areas its row names; an area not in the table fails until it is
// placed in it. The table is printed with the test run, so it documents itself.
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseSync } from "oxc-parser";

const SRC = path.resolve(import.meta.dir, "../src");

interface Layer {
  /** What the area holds, for the printed table. */
  readonly holds: string;
  /** Areas it may import; "*" for anything in src/ (the entry points). */
  readonly imports: readonly string[] | "*";
}

const FOUNDATION = ["market", "log", "config", "lifecycle", "health"];

/** Lowest first: a row names only rows above it, so the table itself has no cycle. */
const LAYERS: Record<string, Layer> = {
  market: { holds: "exact decimals (scaled integers)", imports: [] },
  log: { holds: "structured logs", imports: [] },
  config: { holds: "validated settings (Settings, ConfigError)", imports: ["log"] },
  lifecycle: { holds: "signals and the shutdown sequence", imports: ["log", "config"] },
  health: { holds: "/health, /ready and /metrics of every mode", imports: ["log"] },
  book: { holds: "exact order books", imports: ["market"] },
  shm: { holds: "the shared-memory ring: layout, writer, reader", imports: ["market", "log"] },
  protocol: { holds: "the WebSocket wire: message types and encoders", imports: ["market"] },
  exchanges: {
    holds: "one adapter per venue: frames to book and trade events",
    imports: ["market", "book", "shm", "log"],
  },
  simulator: {
    holds:
      "stand-in venues for tests and the demo: the engine in src/simulator/, each venue's protocol in its folder (exchanges/<venue>/simulator.ts, listed in exchanges/simulators.ts); it may read its venue's facts, never the reverse",
    imports: [...FOUNDATION, "exchanges"],
  },
  collector: { holds: "venue connections to rings", imports: [...FOUNDATION, "book", "shm", "exchanges"] },
  fabric: { holds: "rings carried between hosts", imports: [...FOUNDATION, "book", "shm"] },
  "fabric modes": {
    holds:
      "the fabric's process entries (fabric/collect.ts, fabric/relay-main.ts): `collect` with NATS_URL runs the collector's own runtime once it holds the venue's lease, `relay` reads the ring settings a collector does; the rest of the fabric knows no collector",
    imports: [...FOUNDATION, "shm", "exchanges", "collector", "fabric"],
  },
  broadcast: {
    holds: "rings to WebSocket and REST clients",
    imports: [...FOUNDATION, "book", "shm", "fabric", "protocol"],
  },
  client: { holds: "the client SDK (browsers and Bun)", imports: ["market", "protocol"] },
  page: {
    holds: "the live page's browser script, served by the broadcaster: a client of it through the SDK",
    imports: ["market", "protocol", "client"],
  },
  cli: { holds: "operator commands (demo, inspect, healthcheck)", imports: "*" },
  main: { holds: "the binary's entry: modes by name", imports: "*" },
};

/** A venue's simulated protocol lives beside its adapter but belongs to the simulator. */
const VENUE_SIMULATOR = /^exchanges\/([^/]+\/simulator|simulators)\.ts$/;

/** The fabric's mode entries compose the collector with the fabric; they are not the fabric's core. */
const FABRIC_MODES = /^fabric\/(collect|relay-main)\.ts$/;

/** The area of a path relative to src/: its first folder, or the file's name at the top. */
function areaOf(relative: string): string {
  if (VENUE_SIMULATOR.test(relative)) return "simulator";
  if (FABRIC_MODES.test(relative)) return "fabric modes";
  if (relative === "broadcast/live-page.ts") return "page";
  const [first, ...rest] = relative.split("/");
  return rest.length === 0 ? path.basename(first!, path.extname(first!)) : first!;
}

/** Every module specifier a file imports or re-exports, type-only and dynamic ones included. */
function specifiers(file: string, text = readFileSync(file, "utf8")): string[] {
  const { module, errors } = parseSync(file, text);
  if (errors.length > 0) throw new Error(`${file}: ${errors.map((e) => e.message).join("; ")}`);
  const found = module.staticImports.map((i) => i.moduleRequest.value);
  for (const entry of module.staticExports.flatMap((e) => e.entries)) {
    if (entry.moduleRequest !== null) found.push(entry.moduleRequest.value);
  }
  for (const dynamic of module.dynamicImports) {
    const literal = /^\s*(["'`])([^"'`$]+)\1\s*$/.exec(
      text.slice(dynamic.moduleRequest.start, dynamic.moduleRequest.end),
    );
    if (literal === null) throw new Error(`${file}: an import() of a computed path cannot be checked`);
    found.push(literal[2]!);
  }
  return found;
}

function sourceFiles(): string[] {
  return readdirSync(SRC, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && /\.(ts|mts|js|mjs)$/.test(entry.name))
    .map((entry) => path.join(entry.parentPath, entry.name))
    .sort();
}

/** "src/<file>: <specifier>" for each import the table does not allow. */
function violations(): string[] {
  const found: string[] = [];
  for (const file of sourceFiles()) {
    const from = areaOf(path.relative(SRC, file));
    const layer = LAYERS[from];
    for (const specifier of specifiers(file)) {
      if (!specifier.startsWith(".")) continue; // packages and runtime modules
      const target = path.relative(SRC, path.resolve(path.dirname(file), specifier));
      const to = target.startsWith("..") ? "outside src/" : areaOf(target);
      const allowed =
        layer !== undefined && (to === from || layer.imports === "*" || layer.imports.includes(to));
      if (!allowed) found.push(`src/${path.relative(SRC, file)}: ${specifier}`);
    }
  }
  return found;
}

function printTable(): void {
  const rows = Object.entries(LAYERS).map(([area, layer]) => [
    area,
    layer.imports === "*" ? "anything" : layer.imports.join(", ") || "(nothing)",
    layer.holds,
  ]);
  const widths = [0, 1].map((column) => Math.max(...rows.map((row) => row[column]!.length)));
  console.log("src/ layers, lowest first (area | may import | holds):");
  for (const [area, imports, holds] of rows) {
    console.log(`  ${area!.padEnd(widths[0]!)} | ${imports!.padEnd(widths[1]!)} | ${holds}`);
  }
}

test("the layer table is a layering: each area imports only areas listed before it", () => {
  printTable();
  const order = Object.keys(LAYERS);
  const upward = Object.entries(LAYERS).flatMap(([area, layer]) =>
    layer.imports === "*"
      ? []
      : layer.imports
          .filter((to) => order.indexOf(to) >= order.indexOf(area))
          .map((to) => `${area} -> ${to}`),
  );
  expect(upward).toEqual([]);
});

test("every area of src/ is in the table", () => {
  const areas = new Set(sourceFiles().map((file) => areaOf(path.relative(SRC, file))));
  expect([...areas].filter((area) => LAYERS[area] === undefined)).toEqual([]);
});

test("no import in src/ breaks the table", () => {
  expect(violations()).toEqual([]);
});

test("the check sees type-only, re-exported and dynamic imports, not ones in comments or strings", () => {
  const text = [
    'import type { A } from "./a.ts";',
    'import { type B, b } from "./b.ts";',
    'export type { C } from "./c.ts";',
    'export * from "./d.ts";',
    'const e = await import("./e.ts");',
    '// import { f } from "./f.ts";',
    "const g = 'import { g } from \"./g.ts\"';",
  ].join("\n");
  expect(specifiers("probe.ts", text)).toEqual(["./a.ts", "./b.ts", "./c.ts", "./d.ts", "./e.ts"]);
  expect(() => specifiers("probe.ts", "const name = './x.ts'; await import(name);")).toThrow(/computed/);
});
