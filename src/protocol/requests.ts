// What a client sends: the request types the SDK builds, and the validation the broadcaster runs
// on every frame before acting on it (shape, topic names, resume map), with the error each
// refusal gets. Whether a topic exists is the broadcaster's to say, not the wire's.
import type { ErrorCode } from "./messages.ts";
import { isPattern, parseTopic, type TopicParts } from "./topics.ts";

/** Echoed in the answer (ack, pong or error). */
export type RequestId = string | number;

export interface SubscribeRequest {
  readonly op: "subscribe";
  readonly topics: readonly string[];
  /** Last seq seen per concrete topic: the server sends what was missed, or a gap status + snapshot. */
  readonly resume?: Readonly<Record<string, number>>;
  readonly id?: RequestId;
}

export interface UnsubscribeRequest {
  readonly op: "unsubscribe";
  readonly topics: readonly string[];
  readonly id?: RequestId;
}

export interface PingRequest {
  readonly op: "ping";
  readonly id?: RequestId;
}

export type ClientRequest = SubscribeRequest | UnsubscribeRequest | PingRequest;

/** Concrete topics or patterns one subscribe or unsubscribe may name. */
export const MAX_TOPICS_PER_REQUEST = 1000;

/** A topic or pattern a request names, parsed. */
interface RequestedTopic {
  readonly name: string;
  readonly parts: TopicParts;
  readonly pattern: boolean;
}

export interface ValidSubscribe {
  readonly op: "subscribe";
  readonly id: RequestId | undefined;
  readonly topics: readonly RequestedTopic[];
  /** The resume map: a whole-number seq, or null when the client named one that is not (a gap). */
  readonly resume: ReadonlyMap<string, number | null>;
}

export interface ValidUnsubscribe {
  readonly op: "unsubscribe";
  readonly id: RequestId | undefined;
  readonly topics: readonly RequestedTopic[];
}

interface ValidPing {
  readonly op: "ping";
  readonly id: RequestId | undefined;
}

/** A frame the broadcaster answers with an error (the connection stays open). */
interface RefusedRequest {
  readonly op: "refused";
  readonly id: RequestId | undefined;
  readonly code: ErrorCode;
  readonly message: string;
}

type DecodedRequest = ValidSubscribe | ValidUnsubscribe | ValidPing | RefusedRequest;

function refuse(code: ErrorCode, message: string, id?: RequestId): RefusedRequest {
  return { op: "refused", id, code, message };
}

/** Validates one client frame: a request to act on, or what is wrong with it. */
export function decodeRequest(frame: string | Uint8Array, maxFrameBytes: number): DecodedRequest {
  if (typeof frame !== "string") return refuse("bad_request", "send JSON text frames, not binary");
  if (frame.length > maxFrameBytes) {
    return refuse("frame_too_large", `frames are limited to ${maxFrameBytes} bytes`);
  }
  let request: unknown;
  try {
    request = JSON.parse(frame);
  } catch {
    return refuse("bad_json", "frame is not valid JSON");
  }
  if (typeof request !== "object" || request === null || Array.isArray(request)) {
    return refuse("bad_request", 'expected an object such as {"op":"subscribe","topics":[...]}');
  }
  const fields = request as Record<string, unknown>;
  const id = typeof fields.id === "string" || typeof fields.id === "number" ? fields.id : undefined;
  switch (fields.op) {
    case "subscribe":
      return decodeSubscribe(fields, id);
    case "unsubscribe": {
      if (!isTopicList(fields.topics)) return topicListRefusal(id);
      const topics = requestedTopics(fields.topics, id);
      return Array.isArray(topics) ? { op: "unsubscribe", id, topics } : topics;
    }
    case "ping":
      return { op: "ping", id };
    default:
      return refuse(
        "unknown_op",
        `unknown op ${JSON.stringify(fields.op)}: subscribe, unsubscribe or ping`,
        id,
      );
  }
}

function decodeSubscribe(fields: Record<string, unknown>, id: RequestId | undefined): DecodedRequest {
  if (!isTopicList(fields.topics)) return topicListRefusal(id);
  const resume = fields.resume ?? {};
  if (typeof resume !== "object" || resume === null || Array.isArray(resume)) {
    return refuse("bad_request", 'resume must be an object {"<topic>": <last seq>}', id);
  }
  const topics = requestedTopics(fields.topics, id);
  if (!Array.isArray(topics)) return topics;
  const seqs = new Map<string, number | null>();
  for (const [topic, last] of Object.entries(resume)) {
    seqs.set(topic, typeof last === "number" && Number.isSafeInteger(last) ? last : null);
  }
  return { op: "subscribe", id, topics, resume: seqs };
}

function isTopicList(topics: unknown): topics is unknown[] {
  return Array.isArray(topics) && topics.length > 0 && topics.length <= MAX_TOPICS_PER_REQUEST;
}

function topicListRefusal(id: RequestId | undefined): RefusedRequest {
  return refuse("bad_request", `topics must be a list of 1 to ${MAX_TOPICS_PER_REQUEST} topic names`, id);
}

/** The request's topics parsed, or the refusal for the first that is not a topic or pattern. */
function requestedTopics(topics: unknown[], id: RequestId | undefined): RequestedTopic[] | RefusedRequest {
  const parsed: RequestedTopic[] = [];
  for (const name of topics) {
    const parts = typeof name === "string" ? parseTopic(name) : null;
    if (parts === null) {
      return refuse("bad_topic", `not a topic: ${JSON.stringify(name)} (channel.exchange.BASE-QUOTE)`, id);
    }
    parsed.push({ name: name as string, parts, pattern: isPattern(name as string) });
  }
  return parsed;
}
