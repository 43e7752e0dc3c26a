/**
 * Benchmark plumbing: every comparison runs its contender and its baseline in alternating
 * rounds of the same run (this machine is shared and noisy), reports the median of each, and
 * folds a value from the work into a hash that is printed, so the work cannot be optimised away.
 */

import {
  closeSync,
  fdatasyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
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
 * Times `sides` over `rounds` rounds, each side once a round, the order rotating by one side a
 * round so no side always runs first or right after the same neighbour. Returns, for each side,
 * its time per operation in each round, in nanoseconds. Synchronous work is called and timed
 * without any `await`, so only sides whose work is async pay for the promise plumbing.
 */
export async function timeRotating(
  sides: readonly Side[],
  operations: number,
  rounds: number,
): Promise<number[][]> {
  const times = sides.map((): number[] => []);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < sides.length; k++) {
      const index = (round + k) % sides.length;
      const side = sides[index]!;
      const work = await side.prepare();
      const start = Bun.nanoseconds();
      const value = work();
      consume(typeof value === "number" ? value : await value);
      times[index]!.push((Bun.nanoseconds() - start) / (side.operations ?? operations));
      await side.cleanup?.();
    }
  }
  return times;
}

/**
 * Times `contender` and `baseline` over `rounds` alternating rounds of `operations` each (or
 * each side's own `operations`), as {@link timeRotating} does, and keeps the medians.
 */
export async function compare(
  title: string,
  unit: string,
  operations: number,
  rounds: number,
  contender: Side,
  baseline: Side,
): Promise<Comparison> {
  const [contenderTimes, baselineTimes] = await timeRotating(
    [contender, baseline],
    operations,
    rounds,
  );
  const contenderNs = median(contenderTimes!);
  const baselineNs = median(baselineTimes!);
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

/**
 * The median of `numerators[i] / denominators[i]`: the ratio of two sides measured in the same
 * rounds, each round's pair measured next to each other. On a shared machine whose speed
 * drifts from round to round, the ratio within a round varies far less than either side, so
 * this is steadier than the ratio of the two medians.
 */
export function pairedRatio(numerators: readonly number[], denominators: readonly number[]) {
  if (numerators.length !== denominators.length || numerators.length === 0) {
    throw new Error("pairedRatio: both sides need the same, non-zero number of rounds");
  }
  return median(numerators.map((value, i) => value / denominators[i]!));
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

/** Bytes in every benchmark payload. */
export const PAYLOAD_SIZE = 256;

/**
 * Payloads in the pool bench/compare.ts draws every record from: 65,536 distinct payloads of
 * 256 bytes, 16 MiB. Record i of a run is `pool[i & (pool.length - 1)]`. A constant payload
 * kept its bytes and the few CRC table lines they index in L1, which flattered every figure
 * that checksums or copies. 16 MiB is 16 times this machine's 1 MiB of L2 per core, so a
 * payload has left L2 long before it comes round again and the CRC tables compete with the
 * payloads' bytes as they would under real data; and it is half the 32 MiB L3, so the rows
 * measure the logs rather than DRAM. A power of two, so the index is a mask, not a division.
 */
export const POOL_PAYLOADS = 65_536;
/** The seed every child's pool starts from, so every contender commits identical bytes. */
export const POOL_SEED = 0x2545f491;

/**
 * `payloads` distinct pseudo-random payloads of `size` bytes, from `seed`: the same bytes in
 * every process given the same arguments (xorshift32 over one buffer, which the payloads are
 * views of, in order; `poolBytes` gives it back). `payloads` must be a power of two.
 */
export function payloadPool(
  payloads = POOL_PAYLOADS,
  seed = POOL_SEED,
  size = PAYLOAD_SIZE,
): Uint8Array[] {
  if (payloads < 1 || (payloads & (payloads - 1)) !== 0 || size % 4 !== 0 || seed === 0) {
    throw new Error("payloadPool: payloads must be a power of two, size a multiple of 4, seed ≠ 0");
  }
  const words = new Uint32Array((payloads * size) / 4);
  // Kept an int32 throughout (a uint32 above 2^31 would be a double to the JIT).
  let state = seed | 0;
  for (let i = 0; i < words.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    words[i] = state;
  }
  const pool: Uint8Array[] = [];
  for (let k = 0; k < payloads; k++) pool.push(new Uint8Array(words.buffer, k * size, size));
  return pool;
}

/** The buffer behind a pool from {@link payloadPool}: every payload, in order. */
export function poolBytes(pool: readonly Uint8Array[]): Uint8Array {
  const first = pool[0]!;
  return new Uint8Array(first.buffer, first.byteOffset, pool.length * first.length);
}

/** Records `first .. first + count` of the endless sequence `pool[i & (pool.length - 1)]`. */
export function poolSlice(pool: readonly Uint8Array[], first: number, count: number): Uint8Array[] {
  const start = first & (pool.length - 1);
  if (start + count <= pool.length) return pool.slice(start, start + count);
  const records: Uint8Array[] = [];
  for (let i = 0; i < count; i++) records.push(pool[(start + i) & (pool.length - 1)]!);
  return records;
}

/**
 * Every payload of `pool` framed as a log would write it, one after another in one buffer
 * (payload k's frame at `k * (headerSize + payload size)`); `seal(buffer, length, at)` fills
 * the header of the frame at `at` (wal-db's `sealFrame`, for a raw write of wal-db's bytes).
 */
export function framePool(
  pool: readonly Uint8Array[],
  headerSize: number,
  seal: (buffer: Uint8Array, length: number, at: number) => void,
): Uint8Array {
  const frameSize = headerSize + pool[0]!.length;
  const frames = new Uint8Array(pool.length * frameSize);
  pool.forEach((payload, k) => {
    frames.set(payload, k * frameSize + headerSize);
    seal(frames, payload.length, k * frameSize);
  });
  return frames;
}

/** What an append side drives: a `Wal`, opened by the caller's function (harness imports no src/). */
export interface AppendLog {
  append(payload: Uint8Array): number;
  appendAndSync(payload: Uint8Array): number;
  close(): void;
}

/**
 * A side that opens a fresh log with `open` each round and appends `count` records from `pool`
 * (record i is `pool[i & (pool.length - 1)]`), each with `appendAndSync` when `durable`.
 */
export function appendSide(options: {
  readonly name: string;
  readonly count: number;
  readonly durable: boolean;
  readonly pool: readonly Uint8Array[];
  readonly freshPath: () => string;
  readonly open: (path: string) => AppendLog;
}): Side {
  const { count, durable, pool, freshPath, open } = options;
  const mask = pool.length - 1;
  let log: AppendLog | undefined;
  let path = "";
  return {
    name: options.name,
    prepare() {
      path = freshPath();
      const opened = open(path);
      log = opened;
      return () => {
        let sum = 0;
        if (durable) for (let i = 0; i < count; i++) sum += opened.appendAndSync(pool[i & mask]!);
        else for (let i = 0; i < count; i++) sum += opened.append(pool[i & mask]!);
        return sum;
      };
    },
    cleanup() {
      log?.close();
      rmSync(path, { force: true });
    },
  };
}

/**
 * A side that writes `count` pre-framed records to a fresh file each round, one positioned
 * `writeSync` per record (and an `fdatasyncSync` after each when `durable`): record i is frame
 * `i & (frames / frameSize - 1)` of `frames` (see {@link framePool}), so the bytes are those
 * the log under test writes, without its framing or bookkeeping.
 */
export function writeSide(options: {
  readonly name: string;
  readonly count: number;
  readonly durable: boolean;
  readonly frames: Uint8Array;
  readonly frameSize: number;
  readonly freshPath: () => string;
}): Side {
  const { count, durable, frames, frameSize, freshPath } = options;
  const mask = frames.length / frameSize - 1;
  let fd = -1;
  let path = "";
  return {
    name: options.name,
    prepare() {
      path = freshPath();
      const opened = openSync(path, "w+");
      fd = opened;
      return () => {
        let position = 0;
        for (let i = 0; i < count; i++) {
          writeSync(opened, frames, (i & mask) * frameSize, frameSize, position);
          if (durable) fdatasyncSync(opened);
          position += frameSize;
        }
        return position;
      };
    },
    cleanup() {
      closeSync(fd);
      rmSync(path, { force: true });
    },
  };
}

/** Where results go: `WAL_BENCH_RESULTS`, or bench/results (a test points it at a temp dir). */
export function resultsDir(): string {
  return process.env.WAL_BENCH_RESULTS ?? join(import.meta.dir, "results");
}

/** Writes a run's comparisons to `bench/results/<name>.json` (not committed). */
export function writeResults(name: string, size: string, results: readonly Comparison[]): void {
  const dir = resultsDir();
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, `${name}.json`),
    JSON.stringify({ size, bun: Bun.version, results }, null, 2),
  );
}

/**
 * Runs one file's rows alone (`bun bench/<name>.ts`, same WAL_BENCH_SIZE): in a temp dir it
 * removes, each row printed as bench/run.ts prints it, then the summary lines and the work
 * hash, and the results written to `<name>-<size>.json`.
 */
export async function runAlone<Size extends string>(
  name: string,
  sizes: Readonly<Record<Size, unknown>>,
  run: (
    sizeName: Size,
    bench: { freshPath(): string; report(c: Comparison): void },
  ) => Promise<readonly string[]>,
): Promise<void> {
  const sizeName = (process.env.WAL_BENCH_SIZE ?? "full") as Size;
  if (!Object.hasOwn(sizes, sizeName)) {
    throw new Error(`WAL_BENCH_SIZE must be one of ${Object.keys(sizes).join(", ")}`);
  }
  const dir = mkdtempSync(join(tmpdir(), "wal-db-bench-"));
  let fileCounter = 0;
  const results: Comparison[] = [];
  console.log(
    `wal-db ${name} benchmarks, size ${sizeName}, Bun ${Bun.version}, ${process.platform}/${process.arch}, in ${dir}`,
  );
  try {
    const summary = await run(sizeName, {
      freshPath: () => join(dir, `f${++fileCounter}`),
      report(c) {
        results.push(c);
        printComparison(c);
      },
    });
    console.log("");
    for (const line of summary) console.log(line);
    console.log(`work hash ${workDigest()}`);
    writeResults(`${name}-${sizeName}`, sizeName, results);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
