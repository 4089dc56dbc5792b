// Kraken's own worked example of its v2 book checksum: a BTC/USD snapshot, 10 levels a side,
// whose checksum is 3310070434 (https://docs.kraken.com/api/docs/guides/spot-ws-book-v2).
// The venue's documentation, not a capture: the frame is written out here in Kraken's v2 shape,
// prices and quantities as JSON numbers with the trailing zeros the venue sends.

const BIDS = [
  ["45283.5", "0.10000000"],
  ["45283.4", "1.54582015"],
  ["45282.1", "0.10000000"],
  ["45281.0", "0.10000000"],
  ["45280.3", "1.54592586"],
  ["45279.0", "0.07990000"],
  ["45277.6", "0.03310103"],
  ["45277.5", "0.30000000"],
  ["45277.3", "1.54602737"],
  ["45276.6", "0.15445238"],
];
const ASKS = [
  ["45285.2", "0.00100000"],
  ["45286.4", "1.54571953"],
  ["45286.6", "1.54571109"],
  ["45289.6", "1.54560911"],
  ["45290.2", "0.15890660"],
  ["45291.8", "1.54553491"],
  ["45294.7", "0.04454749"],
  ["45296.1", "0.35380000"],
  ["45297.5", "0.09945542"],
  ["45299.5", "0.18772827"],
];

export const KRAKEN_EXAMPLE_CHECKSUM = 3310070434;

const levels = (side: string[][]) => side.map(([price, qty]) => `{"price":${price},"qty":${qty}}`).join(",");

/** The documented snapshot as one Kraken v2 text frame. */
export const KRAKEN_EXAMPLE_SNAPSHOT = `{"channel":"book","type":"snapshot","data":[{"symbol":"BTC/USD","bids":[${levels(BIDS)}],"asks":[${levels(ASKS)}],"checksum":${KRAKEN_EXAMPLE_CHECKSUM},"timestamp":"2023-10-06T17:35:55.440295Z"}]}`;
