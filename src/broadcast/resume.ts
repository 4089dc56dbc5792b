// What a client gets first on a topic it subscribes. Asked to resume from a seq the topic's
// history covers: the messages it missed, and nothing else. Otherwise (after a gap notice when it
// asked to resume) the topic's starting text. Then, while the ring behind the topic is stopped,
// the notice that says so. A resume from a seq this broadcaster has not read yet (the client came
// from one a little ahead) is held until this one gets there; past a second, the gap notice.
import { encodeNotice } from "../protocol/encode.ts";
import type { StartingTexts } from "./starting-texts.ts";
import type { ClientConnection, Subscriptions, TopicRegistry } from "./subscriptions.ts";
import type { Topic } from "./topic.ts";

/** How long a resume from a seq this broadcaster has not reached yet waits for it. */
export const RESUME_AHEAD_WAIT_MS = 1000;
/** How often held resumes look at their topic. */
const HELD_CHECK_MS = 2;

/**
 * How a subscription starts: "ahead" (held until this broadcaster reaches the client's seq),
 * the messages the client missed (resumed), or null (a fresh start).
 */
type ResumePlan = "ahead" | string[] | null;

interface HeldResume {
  readonly client: ClientConnection;
  readonly topic: Topic;
  readonly last: number;
  readonly until: number;
}

export class Resumes {
  private readonly held: HeldResume[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly startingTexts: StartingTexts,
    private readonly subscriptions: Subscriptions,
    private readonly registry: TopicRegistry,
  ) {}

  /** How a client that last saw `last` on `topic` starts (undefined: it did not say; null: not a seq). */
  plan(topic: Topic, last: number | null | undefined): ResumePlan {
    if (last === undefined || last === null) return null;
    if (last > topic.position && topic.position >= 0) return "ahead";
    return this.missed(topic, last);
  }

  /** Subscribes the client as planned: what it gets first goes out before any live message. */
  start(client: ClientConnection, topic: Topic, last: number | null | undefined, plan: ResumePlan): void {
    if (plan === "ahead") {
      this.subscriptions.add(client, topic, false);
      this.held.push({ client, topic, last: last!, until: Date.now() + RESUME_AHEAD_WAIT_MS });
      this.timer ??= setInterval(() => this.settle(), HELD_CHECK_MS);
      return;
    }
    this.sendStart(client, topic, plan, last !== undefined);
    this.subscriptions.add(client, topic);
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.held.length = 0;
  }

  /** What a client that last saw `last` missed on `topic`; null if it cannot be told exactly. */
  private missed(topic: Topic, last: number): string[] | null {
    if (topic.channel === "bbo") {
      // A latest-value stream: the current value is all that was missed.
      if (last === topic.position) return [];
      const current = this.startingTexts.of(topic);
      return current === null ? null : [current];
    }
    return topic.since(last);
  }

  private sendStart(client: ClientConnection, topic: Topic, missed: string[] | null, askedToResume: boolean) {
    if (missed !== null) {
      for (const text of missed) client.send(text);
    } else {
      if (askedToResume) client.send(encodeNotice(topic.name, topic.position, "gap", "resume_unavailable"));
      const text = this.startingTexts.of(topic);
      if (text) client.send(text);
    }
    const stale = topic.staleNotice();
    if (stale !== null) client.send(stale);
  }

  /**
   * Held resumes whose topic reached the client's seq get what came after it and join the
   * topic; past the wait, a gap notice and a fresh start. A client that left (its topics are
   * cleared on close) or unsubscribed meanwhile is dropped.
   */
  private settle(): void {
    const now = Date.now();
    const held = this.held;
    for (let i = held.length - 1; i >= 0; i--) {
      const { client, last, until, topic: asked } = held[i]!;
      // The stream served under the name now: another ring's, if the topic moved meanwhile.
      const topic = this.registry.topics.get(asked.name) ?? asked;
      const waiting = client.data.topics.has(topic.name);
      if (waiting && topic.position < last && now < until) continue;
      held.splice(i, 1);
      if (!waiting) continue;
      this.sendStart(client, topic, topic.position >= last ? this.missed(topic, last) : null, true);
      this.subscriptions.join(client, topic);
    }
    if (held.length === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}
