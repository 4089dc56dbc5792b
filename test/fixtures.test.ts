// The captured frames the tests read: scripts/fetch-fixtures.sh pins every one the tests name (and
// nothing else), the files the tests find hold exactly the pinned bytes, the script fetches into
// an empty folder from a mirror and checks each sha256 (a wrong file stops it, naming the file),
// and a missing fixture fails a test with one line naming the script.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Server } from "bun";
import { fixturePath } from "./support/fixtures.ts";

const REPO_ROOT = path.resolve(import.meta.dir, "..");
const SCRIPT = path.join(REPO_ROOT, "scripts/fetch-fixtures.sh");

interface Pin {
  readonly name: string;
  readonly sha256: string;
  readonly upstream: string;
  readonly commit: string;
  readonly path: string;
  readonly how: string;
}

function readPins(): Pin[] {
  const lines = readFileSync(SCRIPT, "utf8").split("\n");
  return lines
    .filter((line) => /^(ccxt|cryptofeed|nautilus)\//.test(line))
    .map((line) => {
      const [name, sha256, upstream, commit, file, how] = line.split(" ");
      return { name: name!, sha256: sha256!, upstream: upstream!, commit: commit!, path: file!, how: how! };
    });
}

/** Every fixture name the tests and benchmarks spell out. */
function namedFixtures(): Set<string> {
  const names = new Set<string>();
  for (const folder of ["test", "bench"]) {
    for (const file of new Bun.Glob("**/*.{ts,mjs,py}").scanSync(path.join(REPO_ROOT, folder))) {
      const text = readFileSync(path.join(REPO_ROOT, folder, file), "utf8");
      for (const match of text.matchAll(/["'`]((?:ccxt|cryptofeed|nautilus)\/[A-Za-z0-9_./-]+)["'`]/g)) {
        names.add(match[1]!);
      }
    }
  }
  return names;
}

const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher("sha256").update(bytes).digest("hex");

const pins = readPins();
let work: string;
let mirror: Server<undefined>;
let mirrorFails = false;

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), "ap-test-fixtures-"));
  // A stand-in for raw.githubusercontent.com: <repo>/<commit>/<path> answered from the fixtures.
  const byUrl = new Map(pins.map((pin) => [`/${pin.upstream}/${pin.commit}/${pin.path}`, pin.name]));
  mirror = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(request) {
      const name = byUrl.get(new URL(request.url).pathname);
      if (name === undefined) return new Response("not found", { status: 404 });
      if (mirrorFails && name === "cryptofeed/KRAKEN.ws.50.0") return new Response("not the capture");
      return new Response(Bun.file(fixturePath(name)));
    },
  });
});

afterAll(() => {
  mirror?.stop(true);
  rmSync(work, { recursive: true, force: true });
});

/** Runs the script (in another process: the mirror answers from this one's event loop). */
async function fetchInto(folder: string) {
  const child = Bun.spawn(["bash", SCRIPT], {
    env: {
      ...process.env,
      ALPHAPULSE_FIXTURES: folder,
      FIXTURES_BASE_URL: `http://127.0.0.1:${mirror.port}`,
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { code, stdout, stderr };
}

test("the script pins exactly the fixtures the tests name", () => {
  expect(pins.length).toBeGreaterThan(0);
  expect(pins.map((pin) => pin.name).sort()).toEqual([...namedFixtures()].sort());
  for (const pin of pins) {
    expect(pin.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(pin.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(["exact", "rebuilt"]).toContain(pin.how);
  }
});

test("the fixtures the tests read are the pinned bytes", () => {
  for (const pin of pins) {
    expect({ name: pin.name, sha256: sha256(readFileSync(fixturePath(pin.name))) }).toEqual({
      name: pin.name,
      sha256: pin.sha256,
    });
  }
});

test("the script fills an empty folder from a mirror, checks every file, and then downloads nothing", async () => {
  const folder = path.join(work, "fetched");
  const first = await fetchInto(folder);
  expect(first.stderr).toBe("");
  expect(first.code).toBe(0);
  expect(first.stdout).toContain(
    `${pins.length} fixtures verified in ${folder}: ${pins.length} downloaded, 0 already present`,
  );
  for (const pin of pins) expect(sha256(readFileSync(path.join(folder, pin.name)))).toBe(pin.sha256);

  const again = await fetchInto(folder);
  expect(again.code).toBe(0);
  expect(again.stdout.trim()).toBe(
    `fetch-fixtures: all ${pins.length} fixtures already present and verified in ${folder}; nothing downloaded`,
  );
});

test("a file that is not the pinned one stops the script with its name, downloaded or already there", async () => {
  const folder = path.join(work, "wrong");
  mirrorFails = true;
  try {
    const bad = await fetchInto(folder);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(
      /cryptofeed\/KRAKEN\.ws\.50\.0: http:\S+ has sha256 [0-9a-f]{64}, pinned b7faccd1/,
    );
    expect(bad.stderr).toContain("FAILED: 1 of");
    // Nothing half-written is left where the tests would read it.
    expect(
      readdirSync(path.join(folder, "cryptofeed")).some((name) => name.startsWith("KRAKEN.ws.50.0")),
    ).toBe(false);
  } finally {
    mirrorFails = false;
  }
  writeFileSync(path.join(folder, "ccxt/kraken.json"), "{}");
  const present = await fetchInto(folder);
  expect(present.code).toBe(1);
  expect(present.stderr).toContain(`ccxt/kraken.json: ${folder}/ccxt/kraken.json has sha256`);
});

test("a missing fixture fails with one line that names the script", () => {
  const saved = process.env.ALPHAPULSE_FIXTURES;
  process.env.ALPHAPULSE_FIXTURES = path.join(work, "empty");
  try {
    let message = "";
    try {
      fixturePath("cryptofeed/KRAKEN.ws.50.0");
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain("scripts/fetch-fixtures.sh");
    expect(message).toContain("cryptofeed/KRAKEN.ws.50.0");
    expect(message.split("\n")).toHaveLength(1);
  } finally {
    if (saved === undefined) delete process.env.ALPHAPULSE_FIXTURES;
    else process.env.ALPHAPULSE_FIXTURES = saved;
  }
});
