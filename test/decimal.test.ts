// Exact decimals: parse and format round-trip for any value a ring can hold, and every text that
// cannot be held exactly is refused, never rounded.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  DecimalParseError,
  decimalsOfIncrement,
  formatScaled,
  formatScaledTrimmed,
  parseScaled,
} from "../src/market/decimal.ts";

const decimals = fc.integer({ min: 0, max: 12 });
const scaled = fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER });

describe("parseScaled / formatScaled", () => {
  test("round-trips every safe integer at every scale", () => {
    fc.assert(
      fc.property(scaled, decimals, (value, d) => {
        expect(parseScaled(formatScaled(value, d), d)).toBe(value);
        expect(parseScaled(formatScaledTrimmed(value, d), d)).toBe(value);
      }),
      { numRuns: 5000 },
    );
  });

  test("the trimmed form is the full form without its trailing zeros, up to 2^53 at every scale", () => {
    const trimmed = (text: string) =>
      text.includes(".") ? text.replace(/0+$/, "").replace(/\.$/, "") : text;
    const edges = [0, 1, -1, 10, 999, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 52 + 1];
    for (let d = 0; d <= 18; d++) {
      for (const value of [...edges, ...edges.map((v) => Math.trunc(v / 10) * 10)]) {
        expect(formatScaledTrimmed(value, d)).toBe(trimmed(formatScaled(value, d)));
      }
    }
    fc.assert(
      fc.property(scaled, decimals, (value, d) => {
        expect(formatScaledTrimmed(value, d)).toBe(trimmed(formatScaled(value, d)));
      }),
      { numRuns: 5000 },
    );
  });

  test("agrees with BigInt arithmetic on arbitrary digit strings", () => {
    const digits = fc.stringMatching(/^[0-9]{1,10}$/);
    fc.assert(
      fc.property(digits, digits, fc.integer({ min: 0, max: 8 }), (whole, frac, d) => {
        const text = `${whole}.${frac}`;
        const fracKept = frac.slice(0, d).padEnd(d, "0");
        const dropped = frac.slice(d);
        const expected = BigInt(whole) * 10n ** BigInt(d) + BigInt(fracKept === "" ? "0" : fracKept);
        if (/[1-9]/.test(dropped)) {
          expect(() => parseScaled(text, d)).toThrow(DecimalParseError);
        } else if (expected > BigInt(Number.MAX_SAFE_INTEGER)) {
          expect(() => parseScaled(text, d)).toThrow(/range/);
        } else {
          expect(BigInt(parseScaled(text, d))).toBe(expected);
        }
      }),
      { numRuns: 5000 },
    );
  });

  test("known values, as the venues send them", () => {
    expect(parseScaled("45283.5", 1)).toBe(452835);
    expect(parseScaled("0.10000000", 8)).toBe(10_000_000);
    expect(parseScaled("0.001", 8)).toBe(100_000);
    expect(parseScaled("100", 2)).toBe(10_000);
    expect(parseScaled("-1.5", 1)).toBe(-15);
    expect(parseScaled("+2", 0)).toBe(2);
    expect(parseScaled("1e-5", 8)).toBe(1000);
    expect(parseScaled("1.5E3", 0)).toBe(1500);
    expect(parseScaled("0.00000000", 8)).toBe(0);
    expect(parseScaled(".5", 1)).toBe(5);
    expect(formatScaled(452835, 1)).toBe("45283.5");
    expect(formatScaled(5, 8)).toBe("0.00000005");
    expect(formatScaled(-5, 2)).toBe("-0.05");
    expect(formatScaled(12, 0)).toBe("12");
    expect(formatScaledTrimmed(10_000_000, 8)).toBe("0.1");
    expect(formatScaledTrimmed(4_528_350_000_000, 8)).toBe("45283.5");
    expect(formatScaledTrimmed(300, 2)).toBe("3");
  });

  test("refuses what it cannot hold exactly, saying why", () => {
    const reason = (text: string, d: number) => {
      try {
        parseScaled(text, d);
        return "accepted";
      } catch (error) {
        return (error as DecimalParseError).reason;
      }
    };
    expect(reason("0.123", 2)).toBe("precision");
    expect(reason("1e-9", 8)).toBe("precision");
    expect(reason("99999999999999999", 0)).toBe("range");
    expect(reason("1e20", 0)).toBe("range");
    expect(reason("", 2)).toBe("syntax");
    expect(reason("-", 2)).toBe("syntax");
    expect(reason("1.2.3", 2)).toBe("syntax");
    expect(reason("12a", 2)).toBe("syntax");
    expect(reason("NaN", 2)).toBe("syntax");
    expect(reason("e5", 2)).toBe("syntax");
    expect(reason("1e", 2)).toBe("syntax");
  });

  test("never throws anything but DecimalParseError on arbitrary text", () => {
    fc.assert(
      fc.property(fc.string(), decimals, (text, d) => {
        try {
          const value = parseScaled(text, d);
          expect(Number.isSafeInteger(value)).toBe(true);
        } catch (error) {
          expect(error).toBeInstanceOf(DecimalParseError);
        }
      }),
      { numRuns: 5000 },
    );
  });
});

test("decimalsOfIncrement reads tick and step sizes", () => {
  expect(decimalsOfIncrement("0.01000000")).toBe(2);
  expect(decimalsOfIncrement("0.00001")).toBe(5);
  expect(decimalsOfIncrement("1.00000000")).toBe(0);
  expect(decimalsOfIncrement("10")).toBe(0);
});
