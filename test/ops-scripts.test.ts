// The deployment scripts, run for real where that is possible offline: backup.sh and restore.sh
// round-trip real ring files (written by RingWriter in /dev/shm) through a file:// store and the
// restored ring reads back the same book; deploy.sh, rollback.sh and the cluster side of backup
// and restore in DRY_RUN, which renders the real overlay and prints the exact kubectl commands.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { EXCHANGE_NAMES } from "../src/exchanges/registry.ts";
import { BookStatus, RecordFlag, RecordType } from "../src/shm/layout.ts";
import { RingReader } from "../src/shm/ring-reader.ts";
import { RingWriter } from "../src/shm/ring-writer.ts";
import { REPO_ROOT } from "./support/ops-source-settings.ts";

const shm = `/dev/shm/ap-test-ops-backup-${process.pid}`;
const store = mkdtempSync(path.join(tmpdir(), "ap-test-ops-store-"));

afterAll(() => {
  rmSync(shm, { recursive: true, force: true });
  rmSync(store, { recursive: true, force: true });
});

/** The Deployments an overlay holds: the serving one and each registered venue's collectors. */
const DEPLOYMENTS = [
  "alphapulse",
  ...[...EXCHANGE_NAMES].sort().map((venue) => `alphapulse-collector-${venue}`),
];

function script(name: string, args: string[], env: Record<string, string> = {}) {
  const result = Bun.spawnSync(["bash", path.join(REPO_ROOT, "scripts", name), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
  });
  return { exitCode: result.exitCode, output: `${result.stdout.toString()}${result.stderr.toString()}` };
}

describe("backup.sh and restore.sh with real rings", () => {
  test("rings backed up to a file:// store restore to a directory where they read back intact", () => {
    const live = path.join(shm, "live");
    const writer = RingWriter.create({
      dir: live,
      name: "kraken",
      exchange: "kraken",
      capacity: 1024,
      bookDepth: 10,
      symbols: [{ venueSymbol: "BTC/USD", symbol: "BTC-USD", priceDecimals: 1, sizeDecimals: 8 }],
    });
    const bids = { count: 2, prices: [6_500_010, 6_500_000], sizes: [150_000_000, 2_500_000] };
    const asks = { count: 1, prices: [6_500_020], sizes: [10_000_000] };
    writer.setFrameTimes(0, 0, 0, 0);
    const seq = writer.append(RecordType.Trade, RecordFlag.BatchEnd, 0, 6_500_020, 1_000_000, 42);
    writer.writeBook(0, BookStatus.Valid, bids, asks, 7);

    const backup = script("backup.sh", ["local"], { BACKUP_LOCAL_SHM: live, BACKUP_URL: `file://${store}` });
    writer.close();
    expect(backup.exitCode).toBe(0);
    const archives = readdirSync(store).filter((name) => name.startsWith("rings-local-"));
    expect(archives.length).toBe(1);

    const restored = path.join(shm, "restored");
    const restore = script("restore.sh", ["rings", `file://${store}/${archives[0]}`, restored]);
    expect(restore.output).toContain(`restore: rings from file://${store}`);
    expect(restore.exitCode).toBe(0);

    const reader = RingReader.open(path.join(restored, "kraken.ring"), "oldest");
    expect(reader.exchange).toBe("kraken");
    expect(reader.symbols.map((symbol) => symbol.symbol)).toEqual(["BTC-USD"]);
    const book = reader.newBookCopy();
    expect(reader.readBook(0, book)).toBe(true);
    expect(book.status).toBe(BookStatus.Valid);
    expect([...book.bidPrices.subarray(0, book.bidCount)]).toEqual(bids.prices);
    expect([...book.bidSizes.subarray(0, book.bidCount)]).toEqual(bids.sizes);
    expect([...book.askPrices.subarray(0, book.askCount)]).toEqual(asks.prices);
    expect(book.lastSeq).toBe(seq);
    reader.close();
  }, 60_000);

  test("restore.sh refuses a directory that already holds rings", () => {
    const archive = readdirSync(store).find((name) => name.startsWith("rings-local-"));
    const again = script("restore.sh", ["rings", `file://${store}/${archive}`, path.join(shm, "restored")]);
    expect(again.exitCode).toBe(1);
    expect(again.output).toContain("already holds rings");
  }, 60_000);

  test("an unsupported store URL is a clear error", () => {
    mkdirSync(path.join(shm, "empty"), { recursive: true });
    const result = script("backup.sh", ["local"], {
      BACKUP_LOCAL_SHM: path.join(shm, "empty"),
      BACKUP_URL: "ftp://example.invalid/x",
    });
    expect(result.exitCode).toBe(2);
    expect(result.output).toContain("unsupported backup URL 'ftp://example.invalid/x'");
  }, 60_000);
});

describe("cluster scripts in DRY_RUN", () => {
  test("deploy.sh renders the overlay with the tag pinned on every AlphaPulse container, and waits for every workload", () => {
    const result = script("deploy.sh", ["staging", "sha-0123456789ab"], { DRY_RUN: "1" });
    expect(result.exitCode).toBe(0);
    const images: string[] = [...(result.output.match(/image: \S+/g) ?? [])];
    const ours = images.filter((image) => image.includes("alphapulse/alphapulse"));
    // Staging runs the fabric: a relay per venue and the broadcaster, and a collector per venue.
    expect(ours).toEqual(
      Array.from(
        { length: 2 * EXCHANGE_NAMES.length + 1 },
        () => "image: ghcr.io/alphapulse/alphapulse:sha-0123456789ab",
      ),
    );
    expect(images.filter((image) => !ours.includes(image)).sort()).toEqual([
      "image: nats:2.10.29",
      "image: natsio/prometheus-nats-exporter:0.17.3",
    ]);
    expect(result.output).toContain("namespace: alphapulse-staging");
    const waits = [
      ...result.output.matchAll(
        /dry-run: kubectl rollout status (\S+) -n alphapulse-staging --timeout=600s/g,
      ),
    ];
    expect(waits.map((wait) => wait[1]).sort()).toEqual([
      ...DEPLOYMENTS.map((name) => `deployment/${name}`),
      "statefulset/nats",
    ]);
  }, 60_000);

  test("deploy.sh refuses an unknown environment or a malformed tag", () => {
    expect(script("deploy.sh", ["qa", "v1"], { DRY_RUN: "1" }).exitCode).toBe(2);
    expect(script("deploy.sh", ["production", "v1;rm -rf /"], { DRY_RUN: "1" }).exitCode).toBe(2);
  }, 60_000);

  test("rollback.sh undoes every AlphaPulse Deployment, or the named ones to given revisions", () => {
    const all = script("rollback.sh", ["production"], { DRY_RUN: "1" });
    expect(all.exitCode).toBe(0);
    const undone = [...all.output.matchAll(/dry-run: kubectl rollout undo (\S+) -n alphapulse\n/g)];
    expect(undone.map((undo) => undo[1])).toEqual(DEPLOYMENTS.map((name) => `deployment/${name}`));
    const named = script("rollback.sh", ["production", "alphapulse=3", "alphapulse-collector-kraken=7"], {
      DRY_RUN: "1",
    });
    expect(named.exitCode).toBe(0);
    expect(named.output).toContain(
      "dry-run: kubectl rollout undo deployment/alphapulse -n alphapulse --to-revision=3",
    );
    expect(named.output).toContain(
      "dry-run: kubectl rollout undo deployment/alphapulse-collector-kraken -n alphapulse --to-revision=7",
    );
    expect(named.output).not.toContain("alphapulse-collector-binance");
    expect(script("rollback.sh", ["production", "alphapulse=three"], { DRY_RUN: "1" }).exitCode).toBe(2);
  }, 60_000);

  test("backup.sh reads a pod's rings through a restricted ephemeral container", () => {
    const result = script("backup.sh", ["production"], { DRY_RUN: "1", KUBECONFIG: "/nonexistent" });
    expect(result.exitCode).toBe(0);
    expect(result.output).toMatch(
      /kubectl debug -n alphapulse POD .*--target=broadcaster --profile=restricted/,
    );
    expect(result.output).toContain("tar -C /proc/1/root/dev/shm/alphapulse -czf - .");
  }, 60_000);

  test("restore.sh config applies the saved objects in the environment's namespace", () => {
    const saved = path.join(store, "config-production.json");
    writeFileSync(saved, '{"apiVersion":"v1","kind":"List","items":[]}\n');
    const result = script("restore.sh", ["config", "production", `file://${saved}`], { DRY_RUN: "1" });
    expect(result.exitCode).toBe(0);
    expect(result.output).toMatch(/dry-run: kubectl apply -n alphapulse -f \S+config\.json/);
    expect(existsSync(saved)).toBe(true);
  }, 60_000);
});

describe("deploy.sh rolls back a failed rollout", () => {
  // No API server can run here, so a stand-in kubectl plays the cluster: it keeps the Deployment's
  // revision in a file, bumps it on apply when the tag changes, and fails `rollout status` while
  // the new revision is live; `kustomize` goes to the real kubectl. Every call is logged.
  const cluster = mkdtempSync(path.join(tmpdir(), "ap-test-ops-cluster-"));
  const realKubectl = Bun.which("kubectl") ?? "kubectl";
  writeFileSync(
    path.join(cluster, "kubectl"),
    `#!/usr/bin/env bash
echo "$*" >> "${cluster}/calls"
state="${cluster}/revision"
case "$1 $2" in
  "kustomize "*) exec "${realKubectl}" "$@" ;;
  "apply -f") input=$(cat); tag=$(grep -o 'alphapulse:[^ ]*' <<<"$input" | head -1)
    if [[ $tag != "$(cat "${cluster}/tag")" ]]; then echo $(( $(cat "$state") + 1 )) > "$state"; echo "$tag" > "${cluster}/tag"; fi ;;
  "get deployment") cat "$state" ;;
  "rollout status") [[ $(cat "$state") == 4 ]] ;;
  "rollout undo") echo 4 > "$state" ;;
esac
`,
    { mode: 0o755 },
  );
  afterAll(() => rmSync(cluster, { recursive: true, force: true }));

  function deploy(tag: string) {
    writeFileSync(path.join(cluster, "calls"), "");
    const result = script("deploy.sh", ["production", tag], { PATH: `${cluster}:${process.env.PATH}` });
    return { ...result, calls: Bun.file(path.join(cluster, "calls")).text() };
  }

  test("a rollout that fails after the apply goes back to the revision that was serving", async () => {
    writeFileSync(path.join(cluster, "revision"), "4\n");
    writeFileSync(path.join(cluster, "tag"), "alphapulse:sha-old\n");
    const result = deploy("sha-new");
    expect(result.exitCode).not.toBe(0);
    // Every Deployment the apply changed goes back to the revision it had.
    expect(result.output).toContain(
      `deploy: failed; rolling back to ${DEPLOYMENTS.map((name) => `${name}=4`).join(" ")}`,
    );
    expect(await result.calls).toContain("rollout undo deployment/alphapulse -n alphapulse --to-revision=4");
  }, 60_000);

  test("a failure that changed nothing rolls nothing back", async () => {
    writeFileSync(path.join(cluster, "revision"), "5\n");
    writeFileSync(path.join(cluster, "tag"), "alphapulse:sha-same\n");
    const result = deploy("sha-same");
    expect(result.exitCode).not.toBe(0);
    expect(await result.calls).not.toContain("rollout undo");
  }, 60_000);
});
