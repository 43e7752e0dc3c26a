/**
 * Benchmark plumbing: every comparison runs its contender and its baseline in alternating
 * rounds of the same run (this machine is shared and noisy), reports the median of each, and
 * folds a value from the work into a hash that is printed, so the work cannot be optimised away.
 */

/** One side of a comparison: a setup outside the timer, then the timed work. */
export interface Side {
  readonly name: string;
  /** Prepares a round (fresh files and so on); not timed. Returns the timed work. */
  prepare(): () => number;
  /** Releases what `prepare` made; not timed. */
  cleanup?(): void;
}

/** The medians of one comparison. */
export interface Comparison {
  readonly title: string;
  readonly unit: string;
  readonly operations: number;
  readonly contender: { name: string; perOperationNs: number };
  readonly baseline: { name: string; perOperationNs: number };
  /** contender time / baseline time: below 1 means the contender is faster. */
  readonly timeRatio: number;
}

let workHash = 0;

/** Folds a number produced by benchmarked work into the run's hash. */
export function consume(value: number): void {
  workHash = (Math.imul(workHash ^ value, 0x9e3779b1) + 0x7f4a7c15) | 0;
}

/** The hash of everything consumed so far, as hex. */
export function workDigest(): string {
  return (workHash >>> 0).toString(16).padStart(8, "0");
}

/** Times `contender` and `baseline` over `rounds` alternating rounds of `operations` each. */
export function compare(
  title: string,
  unit: string,
  operations: number,
  rounds: number,
  contender: Side,
  baseline: Side,
): Comparison {
  const times = { contender: [] as number[], baseline: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    // Alternate which side goes first, so neither always runs on a warmer cache.
    const order =
      round % 2 === 0 ? (["contender", "baseline"] as const) : (["baseline", "contender"] as const);
    for (const which of order) {
      const side = which === "contender" ? contender : baseline;
      const work = side.prepare();
      const start = Bun.nanoseconds();
      consume(work());
      times[which].push((Bun.nanoseconds() - start) / operations);
      side.cleanup?.();
    }
  }
  const contenderNs = median(times.contender);
  const baselineNs = median(times.baseline);
  return {
    title,
    unit,
    operations,
    contender: { name: contender.name, perOperationNs: contenderNs },
    baseline: { name: baseline.name, perOperationNs: baselineNs },
    timeRatio: contenderNs / baselineNs,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** `1234567.8` → `"1,234,568"`. */
export function formatCount(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}
