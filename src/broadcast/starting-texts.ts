// The text a new subscriber starts a topic from (book snapshot, latest bbo, venue status), built
// once per hub poll round and shared. A reconnect storm subscribes thousands of clients between
// two polls: they share one snapshot string instead of each building its own (a 20-level book is
// about a hundred short-lived strings and arrays, which is what used to set the broadcaster's
// peak memory). Ring state changes only inside a round, so a text stays true while it is kept.
import type { TopicRegistry } from "./subscriptions.ts";
import type { Topic } from "./topic.ts";

export class StartingTexts {
  private readonly texts = new Map<Topic, string | null>();
  private round = -1;

  constructor(private readonly registry: TopicRegistry) {}

  /** The topic's starting text as of now; null if it has none. */
  of(topic: Topic): string | null {
    if (this.round !== this.registry.round) {
      this.texts.clear();
      this.round = this.registry.round;
    }
    let text = this.texts.get(topic);
    if (text === undefined) {
      text = topic.initial?.() ?? null;
      this.texts.set(topic, text);
    }
    return text;
  }
}
