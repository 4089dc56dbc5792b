// `alphapulse healthcheck [URL]`: the container HEALTHCHECK for a distroless image, which has no
// curl. Exits 0 when the URL (default: this host's /health on METRICS_PORT) answers 200.
import { type Env, Settings } from "../config.ts";

export async function run(args: string[], env: Env): Promise<void> {
  const settings = new Settings(env);
  // The image's HEALTHCHECK runs with the container's environment: default to its mode's port.
  const defaultPort = env.ALPHAPULSE_MODE === "broadcast" ? 8766 : 8080;
  const url = args[0] ?? `http://127.0.0.1:${settings.port("METRICS_PORT", defaultPort)}/health`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    if (response.status === 200) return;
    console.error(`healthcheck: ${url} answered ${response.status}`);
  } catch (error) {
    console.error(`healthcheck: ${url}: ${(error as Error).message}`);
  }
  process.exit(1);
}
