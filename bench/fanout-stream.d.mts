// Types of bench/fanout-stream.mjs for the TypeScript side.
export function runStream(
  symbols: readonly string[],
  rate: number,
  seconds: number,
  nowMicros: () => number,
  send: (topic: string, text: string, dueMicros: number) => void,
  stamp?: "publish" | "due",
): void;
