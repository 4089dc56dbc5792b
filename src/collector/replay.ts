// Placeholder until its issue lands: the mode is registered in src/main.ts.
import type { Env } from "../config.ts";

export async function run(_args: string[], _env: Env): Promise<void> {
  throw new Error("this mode is not built yet");
}
