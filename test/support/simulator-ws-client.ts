// Test helper for the simulator tests: a real WebSocket client that records every frame with its
// arrival time, and a wait for a quiet moment in what it receives.
import { waitFor } from "./wait.ts";

export interface Received {
  readonly text: string;
  readonly atMs: number;
}

export class RecordingClient {
  readonly frames: Received[] = [];
  closed = false;
  closeCode: number | undefined;
  readonly ws: WebSocket;
  private readonly listeners = new Set<(frame: Received) => void>();

  private constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.onmessage = (event) => {
      const frame = { text: String(event.data), atMs: performance.now() };
      this.frames.push(frame);
      for (const listener of this.listeners) listener(frame);
    };
    this.ws.onclose = (event) => {
      this.closed = true;
      this.closeCode = event.code;
    };
  }

  static async connect(url: string, timeoutMs = 10_000): Promise<RecordingClient> {
    const client = new RecordingClient(url);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no connection to ${url}`)), timeoutMs);
      client.ws.onopen = () => {
        clearTimeout(timer);
        resolve();
      };
      client.ws.onerror = () => {
        clearTimeout(timer);
        reject(new Error(`cannot connect to ${url}`));
      };
    });
    return client;
  }

  /** Calls `listener` for every frame from now on (frames are also kept in `frames`). */
  onFrame(listener: (frame: Received) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  send(value: unknown): void {
    this.ws.send(typeof value === "string" ? value : JSON.stringify(value));
  }

  /** Frames parsed as JSON objects; frames that are not JSON are skipped. */
  json(): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const frame of this.frames) {
      try {
        out.push(JSON.parse(frame.text) as Record<string, unknown>);
      } catch {
        // garbage frames are checked by the tests that inject them
      }
    }
    return out;
  }

  close(): void {
    if (!this.closed) this.ws.close();
  }
}

/** Waits until `client` has received nothing for `quietMs` (a stalled feed has drained). */
export async function waitForQuiet(
  client: RecordingClient,
  quietMs = 300,
  timeoutMs = 10_000,
): Promise<void> {
  await waitFor(
    `${quietMs} ms without frames`,
    () => {
      const last = client.frames[client.frames.length - 1];
      return last === undefined || performance.now() - last.atMs >= quietMs;
    },
    { timeoutMs },
  );
}
