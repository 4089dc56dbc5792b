// An SDK client that keeps every data message it is sent, with when it arrived, for the tests
// that check what a client is told about its topics (stale rings, ring switches, restarts).
import { AlphaPulseClient } from "../../src/client/client.ts";
import type { DataMessage, StatusMessage } from "../../src/protocol/messages.ts";
import { waitFor } from "./wait.ts";

export interface Received {
  readonly message: DataMessage;
  /** Date.now() when it arrived. */
  readonly at: number;
}

export class RecordingSdkClient {
  readonly sdk: AlphaPulseClient;
  readonly received: Received[] = [];
  /** Each topic's position as the subscribe's ack gave it. */
  ackSeqs: Record<string, number> = {};

  constructor(url: string) {
    this.sdk = new AlphaPulseClient({ urls: [url], reconnect: false });
    this.sdk.on("message", (message) => this.received.push({ message, at: Date.now() }));
  }

  /** Connects, subscribes `topics` and waits for the book topics' first snapshot. */
  async start(topics: readonly string[]): Promise<this> {
    await this.sdk.connect();
    this.ackSeqs = (await this.sdk.subscribe(topics)).seqs ?? {};
    for (const topic of topics.filter((t) => t.startsWith("book."))) {
      await waitFor(`${topic} snapshot`, () => this.sdk.book(topic)?.hasSnapshot === true);
    }
    return this;
  }

  /** The messages of one topic, in the order they came, from the `from`th received on. */
  of(topic: string, from = 0): Received[] {
    return this.received.slice(from).filter((r) => r.message.topic === topic);
  }

  /** Where `topic` stood just before the `index`th message received: its last message's seq, or the ack's. */
  seqBefore(topic: string, index: number): number | undefined {
    return (
      this.of(topic, 0)
        .filter((r) => this.received.indexOf(r) < index)
        .at(-1)?.message.seq ?? this.ackSeqs[topic]
    );
  }

  /** The first status `status` on `topic` from the `from`th message received on, if any. */
  status(topic: string, status: string, from = 0): (Received & { message: StatusMessage }) | undefined {
    return this.of(topic, from).find(
      (r): r is Received & { message: StatusMessage } =>
        r.message.type === "status" && r.message.status === status,
    );
  }

  close(): void {
    this.sdk.close();
  }
}
