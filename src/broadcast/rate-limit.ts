// How many requests a client may send: a token bucket per client (opsPerSecond sustained, twice
// that as a burst). A request past it is refused; a client that keeps sending into a refusing
// bucket is closed (4029).
import type { ClientState } from "./subscriptions.ts";

/** Refusals in a row (the bucket never refilled meanwhile) before the client is closed. */
export const MAX_STRIKES = 20;

type Admission = "allowed" | "refused" | "close";

/** Takes one request's token at `now` (milliseconds, performance.now). */
export function admitRequest(
  state: Pick<ClientState, "tokens" | "refilledAt" | "strikes">,
  now: number,
  opsPerSecond: number,
): Admission {
  const burst = opsPerSecond * 2;
  state.tokens = Math.min(burst, state.tokens + ((now - state.refilledAt) / 1000) * opsPerSecond);
  state.refilledAt = now;
  if (state.tokens >= 1) {
    state.tokens -= 1;
    if (state.tokens >= burst - 1) state.strikes = 0;
    return "allowed";
  }
  state.strikes++;
  return state.strikes > MAX_STRIKES ? "close" : "refused";
}
