// The synthetic stream both comparison servers of `bun bench fanout` send (bare Bun.serve and
// Node + ws): per symbol, book deltas at `rate` per second, bbo at a fifth and trades at half of
// it, shaped and sized like the broadcaster's own messages. Plain JS so Node 20 runs it as is.

/** One message, stamped with its publish time `pt` (epoch microseconds, CLOCK_REALTIME). */
function message(topic, seq, pt) {
  if (topic.startsWith("book.")) {
    return `{"type":"delta","topic":"${topic}","seq":${seq},"ts":${pt},"pt":${pt},"bids":[["45000.1","0.51234567"]],"asks":[]}`;
  }
  if (topic.startsWith("bbo.")) {
    return `{"type":"bbo","topic":"${topic}","seq":${seq},"ts":${pt},"pt":${pt},"bid":["45000.1","0.51234567"],"ask":["45000.2","1.2"]}`;
  }
  return `{"type":"trade","topic":"${topic}","seq":${seq},"ts":${pt},"pt":${pt},"price":"45000.1","size":"0.01","side":"buy","id":"${seq}"}`;
}

/**
 * Sends the stream for `seconds` on a 1 ms timer: send(topic, text, dueMicros) for each message
 * due, with the moment it fell due (epoch microseconds). Each
 * message is stamped when the timer sends it (`stamp` "publish"), or with the moment it fell due
 * ("due"): a server whose event loop is busy sends late, and only the due stamp counts that wait,
 * as a broadcaster's figure counts the wait from the writer's commit in another process.
 */
export function runStream(symbols, rate, seconds, nowMicros, send, stamp = "publish") {
  const streams = symbols.flatMap((symbol) => [
    { topic: `book.${symbol}`, rate, sent: 0 },
    { topic: `bbo.${symbol}`, rate: rate / 5, sent: 0 },
    { topic: `trades.${symbol}`, rate: rate / 2, sent: 0 },
  ]);
  const started = performance.now();
  const startedMicros = nowMicros();
  const timer = setInterval(() => {
    const elapsed = Math.min((performance.now() - started) / 1000, seconds);
    if (elapsed >= seconds) clearInterval(timer);
    const pt = nowMicros();
    for (const stream of streams) {
      const due = Math.floor(elapsed * stream.rate);
      while (stream.sent < due) {
        stream.sent++;
        const due = Math.round(startedMicros + (stream.sent / stream.rate) * 1e6);
        send(stream.topic, message(stream.topic, stream.sent, stamp === "due" ? due : pt), due);
      }
    }
  }, 1);
}
