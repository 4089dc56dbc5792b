// A broadcaster client without a socket, for the broadcaster's parts tested alone: it keeps what
// the server sends it, the topics it joined on the pub/sub side, how it was closed, and reports
// whatever unsent backlog a test gives it.
import type { ClientConnection, ClientState } from "../../src/broadcast/subscriptions.ts";

export class RecordingClient implements ClientConnection {
  readonly sent: string[] = [];
  /** Topics joined on the pub/sub side (what uWS would deliver). */
  readonly joined = new Set<string>();
  closed: { code: number | undefined; reason: string | undefined } | null = null;
  /** What getBufferedAmount reports. */
  buffered = 0;

  constructor(readonly data: ClientState) {}

  send(text: string): void {
    this.sent.push(text);
  }

  subscribe(topic: string): void {
    this.joined.add(topic);
  }

  unsubscribe(topic: string): void {
    this.joined.delete(topic);
  }

  close(code?: number, reason?: string): void {
    this.closed = { code, reason };
  }

  getBufferedAmount(): number {
    return this.buffered;
  }

  /** What was sent, parsed, from the `from`-th message on. */
  messages(from = 0): Array<Record<string, unknown>> {
    return this.sent.slice(from).map((text) => JSON.parse(text));
  }
}
