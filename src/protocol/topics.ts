// Topic names on the wire: "book.kraken.BTC-USD", "status.kraken", and patterns with `*` for the
// exchange or the symbol. Parsing, building and matching them.

export const CHANNELS = ["book", "trades", "bbo", "status"] as const;
export type Channel = (typeof CHANNELS)[number];

/** "book.kraken.BTC-USD" split into its parts; `*` may stand for the exchange or the symbol. */
export interface TopicParts {
  readonly channel: Channel;
  readonly exchange: string;
  /** Empty for `status.<exchange>`, which carries the venue's connection state. */
  readonly symbol: string;
}

const NAME = /^(\*|[a-z0-9_-]{1,32})$/;
const SYMBOL = /^(\*|[A-Z0-9]{1,16}-[A-Z0-9]{1,16})$/;

/** Parses a topic (or a wildcard pattern); null when it is not one. */
export function parseTopic(topic: string): TopicParts | null {
  const parts = topic.split(".");
  const [channel, exchange, symbol] = parts;
  if (!(CHANNELS as readonly string[]).includes(channel ?? "") || exchange === undefined) return null;
  if (!NAME.test(exchange)) return null;
  if (channel === "status") return parts.length === 2 ? { channel, exchange, symbol: "" } : null;
  if (parts.length !== 3 || symbol === undefined || !SYMBOL.test(symbol)) return null;
  return { channel: channel as Channel, exchange, symbol };
}

export function topicName(channel: Channel, exchange: string, symbol: string): string {
  return channel === "status" ? `status.${exchange}` : `${channel}.${exchange}.${symbol}`;
}

export function isPattern(topic: string): boolean {
  return topic.includes("*");
}

/** True when the concrete `topic` matches `pattern` (which may hold `*` parts). */
export function topicMatches(pattern: TopicParts, topic: TopicParts): boolean {
  return (
    pattern.channel === topic.channel &&
    (pattern.exchange === "*" || pattern.exchange === topic.exchange) &&
    (pattern.symbol === "*" || pattern.symbol === topic.symbol)
  );
}

/** Whether two parsed topics or patterns are the same one. */
export function sameTopic(a: TopicParts, b: TopicParts): boolean {
  return a.channel === b.channel && a.exchange === b.exchange && a.symbol === b.symbol;
}
