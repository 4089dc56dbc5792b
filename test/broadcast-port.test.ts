// A broadcaster never shares its WebSocket port: a second broadcaster process started on a port
// one already serves stops at once, naming the port, with a non-zero exit; the first keeps
// serving. (Bun.serve with development off binds with SO_REUSEPORT unless told not to.)
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, rmSync } from "node:fs";
import type { Broadcaster } from "../src/broadcast/main.ts";
import { startTestBroadcaster } from "./support/broadcaster.ts";

const DIR = `/dev/shm/ap-test-broadcast-port-${process.pid}`;
let first: Broadcaster;

beforeAll(() => {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  first = startTestBroadcaster(DIR);
});

afterAll(async () => {
  await first?.stop();
  rmSync(DIR, { recursive: true, force: true });
});

test("a second broadcaster process on a busy WebSocket port exits non-zero, naming the port", async () => {
  const port = first.server.port;
  const second = Bun.spawn(["bun", `${import.meta.dir}/../src/main.ts`, "broadcast"], {
    env: {
      ...process.env,
      SHARED_MEMORY_PATH: DIR,
      WEBSOCKET_PORT: String(port),
      METRICS_PORT: "0",
      BROADCAST_HOST: "127.0.0.1",
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  const exited = await Promise.race([second.exited, Bun.sleep(20_000).then(() => null)]);
  if (exited === null) second.kill("SIGKILL");
  const output = (await new Response(second.stdout).text()) + (await new Response(second.stderr).text());
  expect(exited).not.toBeNull();
  expect(exited).not.toBe(0);
  expect(output).toContain(`WEBSOCKET_PORT ${port} is already in use`);

  expect((await fetch(`http://127.0.0.1:${port}/api/v1/symbols`)).status).toBe(200);
}, 60_000);
