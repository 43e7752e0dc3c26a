/**
 * wal-db's concurrency benchmarks, run by bench/run.ts after its single-thread rows. Every
 * record is 256 bytes, every round writes a fresh file, and every row is a ratio to a baseline
 * measured in the same run, in alternating rounds:
 *
 *   commit, N committers      N async callers on one thread, each looping `await wal.commit`,
 *                             vs the hand-rolled writeSync + fdatasyncSync per record, one at a
 *                             time (concurrency cannot help it) (target at 256: ≥ 25× the rate)
 *   appendAndSync, N Workers  N Workers attached to one log (`share` / `attach`), each looping
 *                             `appendAndSync`, vs the same hand-rolled log
 *   ... on segments           the same on a segmented log of 64 MiB segments, vs the same
 *                             Workers on a single-file log (target: within 10%), and vs one
 *                             with `preallocate: 0`, whose barriers grow the file as a segment's do
 *   appendBatch               batches of 4,096 records vs a raw sequential writeSync of the same
 *                             framed bytes in chunks of the same size, no barrier in either
 *                             (target: ≥ 0.7× the bandwidth); then the same with one barrier
 *                             at the end of each side, the durable bandwidth
 *
 * The durable rows also report how many records each barrier covered, from `Wal.stats`.
 */

import { closeSync, fdatasyncSync, openSync, rmSync, writeSync } from "node:fs";
import { Wal } from "../src/index.ts";
import { type Comparison, compare, formatCount, type Side } from "./harness.ts";

/** The sizes of these rows, from bench/run.ts's size table. */
export interface ConcurrencySize {
  /** `[committers, commits per round]`, one commit row each. */
  readonly commits: readonly (readonly [number, number])[];
  /** The numbers of Workers, one shared-log row each. */
  readonly workers: readonly number[];
  /** `appendAndSync` calls per Worker per round. */
  readonly workerSyncs: number;
  /** Records per round of the hand-rolled log, the baseline of every durable row. */
  readonly syncs: number;
  /** `appendBatch` calls per round. */
  readonly batches: number;
  readonly rounds: number;
}

/** What the rows share with bench/run.ts. */
export interface BenchContext {
  /** The 256-byte payload every row writes. */
  readonly payload: Uint8Array;
  /** That payload framed: the 264 bytes wal-db writes for it. */
  readonly frame: Uint8Array;
  /** A path for a new file in the run's temporary directory. */
  freshPath(): string;
  /** The hand-rolled log: `count` framed records, writeSync + fdatasyncSync each. */
  handRolled(count: number): Side;
  /** Records and prints a finished row. */
  report(comparison: Comparison): void;
}

const BATCH_RECORDS = 4096;
/** The segment size of the segmented rows: what an engine runs in production. */
const SEGMENT_SIZE = 64 * 1024 * 1024;
const WORKER_URL = new URL("./concurrency-worker.ts", import.meta.url).href;

/** Records written and barriers issued during a side's timed rounds, from `Wal.stats`. */
interface Tally {
  appends: number;
  barriers: number;
}

/** What a side's name adds for its log's layout. */
const layoutName = ({ segmentSize, preallocate }: Layout) =>
  segmentSize !== undefined ? ", segments" : preallocate === 0 ? ", preallocate 0" : "";

/** `plural(2, "Worker")` → `"2 Workers"`. */
const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;

/** Runs the concurrency rows, reporting each; returns the lines of their summary. */
export async function runConcurrency(size: ConcurrencySize, bench: BenchContext) {
  const summary: string[] = [];

  /** One durable row: wal-db's side against the hand-rolled log, with barriers tallied. */
  const durableRow = async (
    title: string,
    unit: string,
    side: (tally: Tally) => Side,
    label: string,
    target = "",
  ) => {
    const tally: Tally = { appends: 0, barriers: 0 };
    const comparison = await compare(
      title,
      unit,
      size.syncs,
      size.rounds,
      side(tally),
      bench.handRolled(size.syncs),
    );
    bench.report(comparison);
    summary.push(durableLine(label, comparison, tally, target));
  };

  for (const [committers, commits] of size.commits) {
    await durableRow(
      `commit 256 B, ${plural(committers, "committer")}`,
      "commit",
      (tally) => commitSide(bench, committers, commits, tally),
      `commit ×${committers}:`,
      committers === 256 ? " (target ≥ 25×)" : "",
    );
  }
  for (const workers of size.workers) {
    await durableRow(
      `appendAndSync 256 B, ${plural(workers, "Worker")}`,
      "record",
      (tally) => workerSide(bench, workers, size.workerSyncs, tally),
      `appendAndSync, ${plural(workers, "Worker")}:`,
    );
  }
  // Against the single-file log twice: as it runs by default, with a zero-filled tail (which a
  // segmented log does not keep), and without one, where its barriers grow the file as a
  // segment's do. The second shows what the segment table itself costs.
  for (const preallocate of [undefined, 0]) {
    for (const workers of size.workers) {
      const file = preallocate === undefined ? "one file" : "one file, preallocate 0";
      const segments = await compare(
        `appendAndSync 256 B, ${plural(workers, "Worker")}, 64 MiB segments vs ${file}`,
        "record",
        workers * size.workerSyncs,
        size.rounds,
        workerSide(
          bench,
          workers,
          size.workerSyncs,
          { appends: 0, barriers: 0 },
          { segmentSize: SEGMENT_SIZE },
        ),
        workerSide(bench, workers, size.workerSyncs, { appends: 0, barriers: 0 }, { preallocate }),
      );
      bench.report(segments);
      summary.push(
        `${`segments, ${plural(workers, "Worker")}:`.padEnd(28)} ` +
          `${formatCount(1e9 / segments.contender.perOperationNs).padStart(9)}/s vs ${file} ` +
          `${formatCount(1e9 / segments.baseline.perOperationNs)}/s: ` +
          `${segments.timeRatio.toFixed(2)}× the time${preallocate === undefined ? " (target ≤ 1.10×)" : ""}`,
      );
    }
  }
  const megabytesPerSecond = (ns: number) => ((bench.frame.length / ns) * 1e3).toFixed(0);
  // Twice: into the page cache only, and made durable by one barrier at the end (what a log
  // is for; the disk's write speed then counts, as it does for every durable append).
  for (const durable of [false, true]) {
    const batch = await compare(
      `appendBatch ${formatCount(BATCH_RECORDS)} × 256 B${durable ? ", then one barrier" : ""}`,
      "record",
      size.batches * BATCH_RECORDS,
      size.rounds,
      batchSide(bench, size.batches, durable),
      chunkSide(bench, size.batches, durable),
    );
    bench.report(batch);
    const label = durable ? "appendBatch + sync vs raw:" : "appendBatch vs raw write:";
    summary.push(
      `${label.padEnd(28)} ${megabytesPerSecond(batch.contender.perOperationNs)} MB/s vs ` +
        `${megabytesPerSecond(batch.baseline.perOperationNs)} MB/s: ` +
        `${(batch.baseline.perOperationNs / batch.contender.perOperationNs).toFixed(2)}× the bandwidth (target ≥ 0.7×)`,
    );
  }
  return summary;
}

/** One summary line of a durable row: both rates, their ratio, and records per barrier. */
function durableLine(label: string, c: Comparison, tally: Tally, target = ""): string {
  const perBarrier = tally.barriers === 0 ? "no" : (tally.appends / tally.barriers).toFixed(1);
  return (
    `${label.padEnd(28)} ${formatCount(1e9 / c.contender.perOperationNs).padStart(9)}/s vs hand-rolled ` +
    `${formatCount(1e9 / c.baseline.perOperationNs)}/s: ` +
    `${(c.baseline.perOperationNs / c.contender.perOperationNs).toFixed(2)}× the rate${target}; ` +
    `${perBarrier} records per barrier`
  );
}

/** How the log of a round opens: `Wal.open`'s options that shape the file(s). */
interface Layout {
  readonly segmentSize?: number;
  readonly preallocate?: number | undefined;
}

/**
 * A side writing to a fresh `Wal` per round (opened with `layout`), which adds its timed
 * rounds' counters to `tally`.
 */
function walRound(bench: BenchContext, tally: Tally, layout: Layout = {}) {
  let wal: Wal | undefined;
  let path = "";
  let before: Tally = { appends: 0, barriers: 0 };
  return {
    open(): Wal {
      path = bench.freshPath();
      const { segmentSize, preallocate } = layout;
      wal = Wal.open(path, {
        ...(segmentSize === undefined ? {} : { segmentSize }),
        ...(preallocate === undefined ? {} : { preallocate }),
      });
      return wal;
    },
    /** Call once the round's untimed setup is done. */
    startCounting(): void {
      before = wal!.stats();
    },
    close(): void {
      const { appends, barriers } = wal!.stats();
      tally.appends += appends - before.appends;
      tally.barriers += barriers - before.barriers;
      wal!.close();
      rmSync(path, { force: true, recursive: true });
    },
  };
}

/** `committers` async callers on this thread sharing `commits` commits, one await at a time. */
function commitSide(bench: BenchContext, committers: number, commits: number, tally: Tally): Side {
  const { payload } = bench;
  const round = walRound(bench, tally);
  return {
    name: `Wal.commit ×${committers}`,
    operations: commits,
    async prepare() {
      const wal = round.open();
      // A first commit outside the timer starts the log's sync Worker, as a server's would be.
      await wal.commit(payload);
      round.startCounting();
      const committer = async (count: number) => {
        let sum = 0;
        for (let i = 0; i < count; i++) sum += await wal.commit(payload);
        return sum;
      };
      return async () => {
        // Committer k makes floor((commits + k) / committers): the shares add up to `commits`.
        const sums = await Promise.all(
          Array.from({ length: committers }, (_, k) =>
            committer(Math.floor((commits + k) / committers)),
          ),
        );
        return sums.reduce((a, b) => a + b, 0);
      };
    },
    cleanup: () => round.close(),
  };
}

/**
 * `workers` Workers attached to one log (opened with `layout`), each making `perWorker`
 * appendAndSync calls.
 */
function workerSide(
  bench: BenchContext,
  workers: number,
  perWorker: number,
  tally: Tally,
  layout: Layout = {},
): Side {
  const round = walRound(bench, tally, layout);
  let started: Worker[] = [];
  return {
    name: `appendAndSync in ${plural(workers, "Worker")}${layoutName(layout)}`,
    operations: workers * perWorker,
    async prepare() {
      const handle = round.open().share();
      started = Array.from({ length: workers }, () => new Worker(WORKER_URL));
      // Each Worker says "loaded" once it can hear, then attaches, warms up with one
      // appendAndSync and says "ready": all of it outside the timer.
      await Promise.all(started.map(nextMessage));
      await Promise.all(
        started.map((worker) => {
          const ready = nextMessage(worker);
          worker.postMessage({ handle, payload: bench.payload, operations: perWorker });
          return ready;
        }),
      );
      round.startCounting();
      return async () => {
        const done = started.map(nextMessage);
        for (const worker of started) worker.postMessage("go");
        const sums = await Promise.all(done);
        return sums.reduce((a: number, b) => a + Number(b), 0);
      };
    },
    cleanup() {
      for (const worker of started) worker.terminate();
      round.close();
    },
  };
}

/**
 * `batches` appendBatch calls of BATCH_RECORDS records to a fresh `Wal` per round, then one
 * `sync` when `durable`.
 */
function batchSide(bench: BenchContext, batches: number, durable: boolean): Side {
  const records: Uint8Array[] = new Array(BATCH_RECORDS).fill(bench.payload);
  const round = walRound(bench, { appends: 0, barriers: 0 });
  return {
    name: "Wal.appendBatch",
    prepare() {
      const wal = round.open();
      return () => {
        let sum = 0;
        for (let i = 0; i < batches; i++) sum += wal.appendBatch(records).at(-1)!;
        if (durable) wal.sync();
        return sum;
      };
    },
    cleanup: () => round.close(),
  };
}

/**
 * The same framed bytes as `batchSide`, written raw with one writeSync per batch, then one
 * fdatasync when `durable`.
 */
function chunkSide(bench: BenchContext, batches: number, durable: boolean): Side {
  const { frame } = bench;
  const chunk = new Uint8Array(BATCH_RECORDS * frame.length);
  for (let i = 0; i < BATCH_RECORDS; i++) chunk.set(frame, i * frame.length);
  let fd = -1;
  let path = "";
  return {
    name: `writeSync ${formatCount(chunk.length)} B`,
    prepare() {
      path = bench.freshPath();
      const opened = openSync(path, "w+");
      fd = opened;
      return () => {
        let position = 0;
        for (let i = 0; i < batches; i++) {
          position += writeSync(opened, chunk, 0, chunk.length, position);
        }
        if (durable) fdatasyncSync(opened);
        return position;
      };
    },
    cleanup() {
      closeSync(fd);
      rmSync(path, { force: true });
    },
  };
}

/** The next message `worker` posts; rejects when the Worker reports an error. */
function nextMessage(worker: Worker): Promise<unknown> {
  return new Promise((resolve, reject) => {
    worker.onmessage = (event) => resolve(event.data);
    worker.onerror = (event) => reject(event.error ?? new Error(event.message));
  });
}
