// The Dockerfile agrees with the binary: it sets only settings src/ reads, exposes exactly the
// modes' default ports (as their source states them), and its HEALTHCHECK and ENTRYPOINT are the
// binary's own. The image itself is built and run by scripts/ci/image-build-check.sh and proven
// distroless-ready by test/ops-distroless.test.ts.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import path from "node:path";
import { MODES } from "../src/main.ts";
import { portDefault, REPO_ROOT, scanSettings } from "./support/ops-source-settings.ts";

const dockerfile = readFileSync(path.join(REPO_ROOT, "Dockerfile"), "utf8").replace(/\\\n\s*/g, " ");
const runtimeStage = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));
const settings = scanSettings();

function instructions(name: string): string[] {
  return [...runtimeStage.matchAll(new RegExp(`^${name} (.+)$`, "gm"))].map((match) => match[1]!.trim());
}

describe("Dockerfile", () => {
  test("every ENV it sets is a setting the binary reads", () => {
    const names = instructions("ENV").flatMap((line) => [...line.matchAll(/([A-Z_]+)=/g)].map((m) => m[1]!));
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((name) => !settings.has(name))).toEqual([]);
  });

  test("it exposes the collector's and the broadcaster's default ports", () => {
    const exposed = instructions("EXPOSE")
      .flatMap((line) => line.split(/\s+/))
      .map(Number)
      .sort();
    const defaults = [
      portDefault(settings, "METRICS_PORT", "collector"),
      portDefault(settings, "WEBSOCKET_PORT", "broadcast"),
      portDefault(settings, "METRICS_PORT", "broadcast"),
    ];
    expect(defaults.every((port) => port !== undefined)).toBe(true);
    expect(exposed).toEqual((defaults as number[]).sort());
  });

  test("it runs the binary as non-root, with its own healthcheck", () => {
    expect(instructions("ENTRYPOINT")).toEqual(['["/app/alphapulse"]']);
    expect(instructions("USER")).toEqual(["65532:65532"]);
    const healthcheck = instructions("HEALTHCHECK").join(" ");
    expect(healthcheck).toContain('CMD ["/app/alphapulse", "healthcheck"]');
    expect(MODES.healthcheck).toBeDefined();
  });

  test("the runtime image is distroless with glibc", () => {
    expect(dockerfile).toContain("ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot");
    expect(runtimeStage).toMatch(/^FROM \$\{RUNTIME_IMAGE\} AS runtime$/m);
  });
});
