// Kraken v2 sends prices and sizes as JSON numbers, which JSON.parse would round through
// doubles. This reads the raw number text of named fields straight from the frame, in order,
// and scales it exactly (docs/exchanges/kraken.md, without rewriting the frame).
import { parseScaledAt } from "../../market/decimal.ts";

export class NumericFieldReader {
  private text = "";
  private at = 0;

  reset(text: string, from = 0): void {
    this.text = text;
    this.at = from;
  }

  /** Moves to the first occurrence of `needle` after the cursor; false if none. */
  seek(needle: string): boolean {
    const found = this.text.indexOf(needle, this.at);
    if (found < 0) return false;
    this.at = found + needle.length;
    return true;
  }

  /** Position of `needle` after the cursor, or -1, without moving. */
  peek(needle: string): number {
    return this.text.indexOf(needle, this.at);
  }

  /** Reads the next `"key": <number>` after the cursor, scaled to `decimals`; throws if absent or inexact. */
  next(quotedKey: string, decimals: number): number {
    const text = this.text;
    const found = text.indexOf(quotedKey, this.at);
    if (found < 0) throw new SyntaxError(`missing ${quotedKey}`);
    let i = found + quotedKey.length;
    let c = text.charCodeAt(i);
    // Skip the colon, blanks and an opening quote (a venue may quote the number).
    while (c === 32 || c === 58 || c === 9 || c === 10 || c === 13 || c === 34) c = text.charCodeAt(++i);
    const start = i;
    while ((c >= 48 && c <= 57) || c === 46 || c === 45 || c === 43 || c === 101 || c === 69) {
      c = text.charCodeAt(++i);
    }
    if (i === start) throw new SyntaxError(`${quotedKey} is not a number`);
    this.at = i;
    return parseScaledAt(text, start, i, decimals);
  }
}
