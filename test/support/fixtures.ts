// Where the tests find the captured exchange frames, which belong to other projects and stay out
// of the repository (scripts/fetch-fixtures.sh pins and fetches them): ALPHAPULSE_FIXTURES when
// set, else ../shared/fixtures beside the clone when it holds the file, else the script's cache
// .fixtures/. A missing fixture fails the test with one line naming the script; never a skip.
import { existsSync } from "node:fs";
import path from "node:path";

const REPO_ROOT = path.resolve(import.meta.dir, "../..");
const SHARED = path.resolve(REPO_ROOT, "../shared/fixtures");
const CACHE = path.join(REPO_ROOT, ".fixtures");

/** The folders a fixture is looked up in, in order. */
function fixtureFolders(): string[] {
  const chosen = process.env.ALPHAPULSE_FIXTURES;
  return chosen ? [path.resolve(chosen)] : [SHARED, CACHE];
}

/** The path of a fixture named by its place in the fixtures folder, e.g. "cryptofeed/KRAKEN.ws.50.0". */
export function fixturePath(relative: string): string {
  const folders = fixtureFolders();
  for (const folder of folders) {
    const candidate = path.join(folder, relative);
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(
    `fixture ${relative} not found in ${folders.join(" or ")}: run scripts/fetch-fixtures.sh (or set ALPHAPULSE_FIXTURES to a folder that holds it)`,
  );
}

export async function fixtureText(relative: string): Promise<string> {
  return Bun.file(fixturePath(relative)).text();
}
