// Ports for the few cases where a test must name a port before the process that binds it
// starts (a client's list of broadcaster URLs, the demo's simulator address, a script that
// polls a port it was given). Everything else listens on port 0 and reports what it got.
//
// Other agents' tests run on this machine at the same time. A leased port comes from below the
// kernel's ephemeral range (32768-60999 here), so no outgoing connection can be holding it, and
// the lease keeps it bound until the test hands it over; a clash is still possible in the moment
// between `release()` and the process binding it, hence `onFreePorts`' retry.
import type { TCPSocketListener } from "bun";

const LOWEST = 20_000;
const HIGHEST = 32_767;

export interface PortLease {
  readonly ports: readonly number[];
  /** Frees the ports for the process that is about to bind them (again: nothing). */
  release(): void;
}

/** `count` consecutive free loopback ports, held (bound here) until `release()`. */
export function leasePorts(count = 1): PortLease {
  for (let attempt = 0; attempt < 200; attempt++) {
    const first = LOWEST + Math.floor(Math.random() * (HIGHEST - LOWEST - count));
    const held: TCPSocketListener[] = [];
    try {
      for (let port = first; port < first + count; port++) {
        held.push(Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }));
      }
    } catch {
      for (const listener of held) listener.stop(true);
      continue;
    }
    return {
      ports: held.map((listener) => listener.port),
      release: () => {
        for (const listener of held.splice(0)) listener.stop(true);
      },
    };
  }
  throw new Error(`no ${count} consecutive free ports between ${LOWEST} and ${HIGHEST}`);
}

/** `count` consecutive loopback ports nothing listens on right now (the lease released at once). */
export function freePorts(count = 1): readonly number[] {
  const lease = leasePorts(count);
  lease.release();
  return lease.ports;
}

/** What a process that lost a port to someone else prints (Bun.serve, Node, Prometheus). */
export const PORT_IN_USE = /EADDRINUSE|Is port \d+ in use\?|address already in use/i;

/**
 * Runs `attempt` with `count` consecutive ports, released just before it starts; when it fails
 * because another process took one of them first (it throws an error whose message matches
 * PORT_IN_USE), runs it again on fresh ports, up to `tries` times.
 */
export async function onFreePorts<T>(
  count: number,
  attempt: (ports: readonly number[]) => T | Promise<T>,
  tries = 3,
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(freePorts(count));
    } catch (error) {
      if (n >= tries || !PORT_IN_USE.test(String(error))) throw error;
    }
  }
}
