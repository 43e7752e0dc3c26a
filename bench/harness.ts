/**
 * Benchmark plumbing: every comparison runs its contender and its baseline in alternating
 * rounds of the same run (this machine is shared and noisy), reports the median of each, and
 * folds a value from the work into a hash that is printed, so the work cannot be optimised away.
 */

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The timed work of one round. It returns a value to consume; async work (concurrent commits,
 * Workers) returns a promise of it, and the timer stops when that settles.
 */
export type Work = () => number | Promise<number>;

/** One side of a comparison: a setup outside the timer, then the timed work. */
export interface Side {
  readonly name: string;
  /** Operations in one round of this side, when they differ from the comparison's. */
  readonly operations?: number;
  /** Prepares a round (fresh files, started Workers and so on); not timed. Returns the work. */
  prepare(): Work | Promise<Work>;
  /** Releases what `prepare` made; not timed. */
  cleanup?(): void | Promise<void>;
}

/** The medians of one comparison. */
export interface Comparison {
  readonly title: string;
  readonly unit: string;
  readonly operations: number;
  readonly contender: { name: string; operations: number; perOperationNs: number };
  readonly baseline: { name: string; operations: number; perOperationNs: number };
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

/**
 * Times `contender` and `baseline` over `rounds` alternating rounds of `operations` each (or
 * each side's own `operations`). Synchronous work is called and timed without any `await`, so
 * only sides whose work is async pay for the promise plumbing.
 */
export async function compare(
  title: string,
  unit: string,
  operations: number,
  rounds: number,
  contender: Side,
  baseline: Side,
): Promise<Comparison> {
  const times = { contender: [] as number[], baseline: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    // Alternate which side goes first, so neither always runs on a warmer cache.
    const order =
      round % 2 === 0 ? (["contender", "baseline"] as const) : (["baseline", "contender"] as const);
    for (const which of order) {
      const side = which === "contender" ? contender : baseline;
      const work = await side.prepare();
      const start = Bun.nanoseconds();
      const value = work();
      consume(typeof value === "number" ? value : await value);
      times[which].push((Bun.nanoseconds() - start) / (side.operations ?? operations));
      await side.cleanup?.();
    }
  }
  const contenderNs = median(times.contender);
  const baselineNs = median(times.baseline);
  return {
    title,
    unit,
    operations,
    contender: {
      name: contender.name,
      operations: contender.operations ?? operations,
      perOperationNs: contenderNs,
    },
    baseline: {
      name: baseline.name,
      operations: baseline.operations ?? operations,
      perOperationNs: baselineNs,
    },
    timeRatio: contenderNs / baselineNs,
  };
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** `1234567.8` → `"1,234,568"`. */
export function formatCount(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

/** Prints one comparison as a row: both sides per operation and per second, and the ratio. */
export function printComparison(c: Comparison): void {
  const perSecond = (ns: number) => formatCount(1e9 / ns);
  console.log(
    `${c.title.padEnd(34)} ${c.contender.name}: ${c.contender.perOperationNs.toFixed(0).padStart(6)} ns/${c.unit} (${perSecond(c.contender.perOperationNs)}/s)` +
      `   ${c.baseline.name}: ${c.baseline.perOperationNs.toFixed(0).padStart(6)} ns/${c.unit} (${perSecond(c.baseline.perOperationNs)}/s)` +
      `   time ratio ${c.timeRatio.toFixed(2)}×`,
  );
}

/** The payload every 256-byte row appends: fixed bytes, so runs compare like with like. */
export const BENCH_PAYLOAD = new Uint8Array(256).map((_, i) => i * 31);

/** Writes a run's comparisons to `bench/results/<name>.json` (not committed). */
/** Where results go: `WAL_BENCH_RESULTS`, or bench/results (a test points it at a temp dir). */
export function resultsDir(): string {
  return process.env.WAL_BENCH_RESULTS ?? join(import.meta.dir, "results");
}

export function writeResults(name: string, size: string, results: readonly Comparison[]): void {
  const dir = resultsDir();
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, `${name}.json`),
    JSON.stringify({ size, bun: Bun.version, results }, null, 2),
  );
}
