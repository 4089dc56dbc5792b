// Dead code fails lint: knip (configured in knip.jsonc) finds exports, types, files and
// dependencies that nothing uses. Findings already known are listed, one a line, in
// scripts/ci/dead-code-baseline.txt; anything else fails, and so does a listed line that knip no
// longer finds, so the list only ever shrinks: remove the line with the export.
//
// usage: bun scripts/ci/dead-code.ts
import { readFileSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dir, "../..");
const BASELINE = path.join(import.meta.dir, "dead-code-baseline.txt");

interface KnipIssue {
  readonly file: string;
  readonly [issueType: string]: unknown;
}

/** One line per finding: "<issue type> <file>: <name>", the form the baseline lists them in. */
function findings(issues: readonly KnipIssue[]): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    for (const [type, entries] of Object.entries(issue)) {
      if (!Array.isArray(entries)) continue;
      for (const entry of entries as Array<{ name: string }>)
        lines.push(`${type} ${issue.file}: ${entry.name}`);
    }
  }
  return lines.sort();
}

const knip = Bun.spawnSync(
  [path.join(root, "node_modules/.bin/knip"), "--reporter", "json", "--no-progress", "--no-config-hints"],
  {
    cwd: root,
  },
);
const output = knip.stdout.toString();
let report: { issues: KnipIssue[] };
try {
  report = JSON.parse(output);
} catch {
  console.error(
    `dead-code: knip gave no report (exit ${knip.exitCode}):\n${output}${knip.stderr.toString()}`,
  );
  process.exit(1);
}
const found = findings(report.issues);
const known = readFileSync(BASELINE, "utf8")
  .split("\n")
  .map((line) => line.trim())
  .filter((line) => line !== "" && !line.startsWith("#"));
const fresh = found.filter((line) => !known.includes(line));
const gone = known.filter((line) => !found.includes(line));
for (const line of fresh) console.error(`dead-code: unused ${line}`);
for (const line of gone) console.error(`dead-code: no longer found, remove it from the baseline: ${line}`);
console.log(
  `dead-code: ${found.length} finding(s), ${known.length} known, ${fresh.length} new, ${gone.length} stale`,
);
process.exit(fresh.length === 0 && gone.length === 0 ? 0 : 1);
