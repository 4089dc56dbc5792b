// The exact book and its top-N view diff, checked against a plain Map model with random
// operations: the book always equals the model, and the published view plus every emitted
// diff always reproduces the model's top N.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { OrderBook } from "../src/book/order-book.ts";
import { TopView } from "../src/book/top-view.ts";

const opArb = fc.record({
  isAsk: fc.boolean(),
  price: fc.integer({ min: 1, max: 60 }),
  size: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1000 })),
});

function modelTop(model: Map<number, number>, isAsk: boolean, n: number): [number, number][] {
  return [...model.entries()].sort((a, b) => (isAsk ? a[0] - b[0] : b[0] - a[0])).slice(0, n);
}

describe("order book", () => {
  test("matches a Map model under random absolute updates, deletes and truncation", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 300 }), fc.integer({ min: 1, max: 40 }), (ops, maxLevels) => {
        const book = new OrderBook(maxLevels);
        const models = { bid: new Map<number, number>(), ask: new Map<number, number>() };
        for (const op of ops) {
          book.side(op.isAsk).set(op.price, op.size);
          const model = op.isAsk ? models.ask : models.bid;
          if (op.size === 0) model.delete(op.price);
          else model.set(op.price, op.size);
          // The book keeps maxLevels: the model drops its worst levels too.
          const kept = modelTop(model, op.isAsk, maxLevels);
          model.clear();
          for (const [p, s] of kept) model.set(p, s);
        }
        for (const isAsk of [false, true]) {
          const side = book.side(isAsk);
          const expected = modelTop(isAsk ? models.ask : models.bid, isAsk, maxLevels);
          const actual = Array.from({ length: side.count }, (_, i): [number, number] => [
            side.priceAt(i),
            side.sizeAt(i),
          ]);
          expect(actual).toEqual(expected);
          for (const [p, s] of expected) expect(side.sizeOf(p)).toBe(s);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("top-N view diff", () => {
  test("published view + emitted diffs reproduce the book's top N after every frame", () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(opArb, { maxLength: 8 }), { maxLength: 60 }),
        fc.integer({ min: 1, max: 12 }),
        fc.option(fc.integer({ min: 1, max: 30 })),
        (frames, depth, truncateTo) => {
          // With truncateTo the book is cut after each frame, as Kraken's is.
          const book = new OrderBook(1000);
          const view = new TopView(depth);
          // The reader's copy, rebuilt only from emitted levels.
          const reader = { bid: new Map<number, number>(), ask: new Map<number, number>() };
          const sink = {
            level(isAsk: boolean, price: number, size: number) {
              const side = isAsk ? reader.ask : reader.bid;
              if (size === 0) {
                expect(side.has(price)).toBe(true); // a delete names a level the reader holds
                side.delete(price);
              } else side.set(price, size);
            },
          };
          view.emitAll(book, sink);
          for (const frame of frames) {
            for (const op of frame) book.side(op.isAsk).set(op.price, op.size);
            if (truncateTo !== null) book.truncate(truncateTo);
            view.emitDiff(book, sink);
            for (const isAsk of [false, true]) {
              const side = book.side(isAsk);
              const expected = Array.from(
                { length: Math.min(depth, side.count) },
                (_, i): [number, number] => [side.priceAt(i), side.sizeAt(i)],
              );
              expect(modelTop(isAsk ? reader.ask : reader.bid, isAsk, 1e9)).toEqual(expected);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  test("a change below the view emits nothing", () => {
    const book = new OrderBook(100);
    const view = new TopView(2);
    for (let p = 1; p <= 5; p++) book.bids.set(p, 1);
    const emitted: number[] = [];
    view.emitAll(book, { level: (_a, price) => void emitted.push(price) });
    expect(emitted).toEqual([5, 4]);
    emitted.length = 0;
    book.bids.set(1, 7);
    view.emitDiff(book, { level: (_a, price) => void emitted.push(price) });
    expect(emitted).toEqual([]);
  });
});
