/**
 * wal-db's segmented-log benchmarks, run by bench/run.ts after its concurrency rows, or alone
 * with `bun bench/segments.ts` (same WAL_BENCH_SIZE; results then go to
 * bench/results/segments-<size>.json). Every record is 256 bytes, as in bench/run.ts, and every
 * row is a ratio to a single-file log of the same records, measured in the same run, in
 * alternating rounds:
 *
 *   segmented recovery        Wal.open(dir, { segmentSize }) of a 1 GiB log in 64 MiB segments
 *                             (the scan that checks every CRC) vs the same open of the same
 *                             records in one file. Each open runs alone in a child process
 *                             (bench/segments-recover.ts), which reports its peak RSS: the scan
 *                             reads 1 MiB at a time, so the peak stays bounded by the runtime's
 *                             own size plus a few MiB, whatever the log's size
 *   segmented append, rolls   Wal.append into 64 KiB segments, so the log rolls every ~248
 *                             records (fdatasync the full segment, create the next, fsync the
 *                             directory), vs the same appends to one file: the cost of a roll
 *   segmented append, steady  the same with 64 MiB segments: the steady-state overhead; then
 *                             the same with one barrier at the end of each side, so both write
 *                             the same bytes back to the disk (a roll makes its segment
 *                             durable, which the page-cache-only single file never does)
 *
 * Logs go to the run's temporary directory (os.tmpdir()); the recovery row needs two logs at
 * once and checks the free space first.
 */

import { readdirSync, rmSync, statfsSync } from "node:fs";
import { dirname, join } from "node:path";
import { Wal } from "../src/index.ts";
import { HEADER_SIZE } from "../src/record.ts";
import type { BenchContext } from "./concurrency.ts";
import {
  BENCH_PAYLOAD,
  type Comparison,
  compare,
  formatCount,
  median,
  runAlone,
  type Side,
} from "./harness.ts";

/** The sizes of these rows, by WAL_BENCH_SIZE. */
export const SEGMENT_SIZES = {
  full: {
    /** The recovery row's log: this many bytes of records (as many as fit), in segments of... */
    recoveryBytes: 1 << 30,
    recoverySegment: 64 << 20,
    recoveryRounds: 3,
    /** Appends per round of the roll row, into segments of... */
    rollRecords: 200_000,
    rollSegment: 64 << 10,
    /** Appends per round of the steady-state rows, into segments of... */
    steadyRecords: 1_000_000,
    steadySegment: 64 << 20,
    rounds: 5,
  },
  tiny: {
    recoveryBytes: 8 << 20,
    recoverySegment: 1 << 20,
    recoveryRounds: 2,
    rollRecords: 2_000,
    rollSegment: 64 << 10,
    steadyRecords: 8_000,
    steadySegment: 1 << 20,
    rounds: 2,
  },
} as const;

export type SegmentsSizeName = keyof typeof SEGMENT_SIZES;

/** What the rows share with bench/run.ts. */
export type SegmentsContext = Pick<BenchContext, "payload" | "freshPath" | "report">;

const RECOVER_SCRIPT = join(import.meta.dir, "segments-recover.ts");
const BATCH_RECORDS = 4096;

/** What bench/segments-recover.ts prints after its open. */
interface RecoverResult {
  readonly records: number;
  /** The open alone, timed in the child. */
  readonly ms: number;
  readonly peakRssBytes: number;
  readonly rssBeforeBytes: number;
}

/** `64 << 20` → `"64 MiB"`. */
function formatBytes(bytes: number): string {
  if (bytes >= (1 << 30) * 0.99)
    return `${(bytes / (1 << 30)).toFixed(bytes % (1 << 30) ? 1 : 0)} GiB`;
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(bytes % (1 << 20) ? 1 : 0)} MiB`;
  return `${(bytes / 1024).toFixed(bytes % 1024 ? 1 : 0)} KiB`;
}

/** Runs the segmented-log rows, reporting each; returns the lines of their summary. */
export async function runSegments(sizeName: SegmentsSizeName, bench: SegmentsContext) {
  const size = SEGMENT_SIZES[sizeName];
  const frameSize = bench.payload.length + HEADER_SIZE;
  const summary: string[] = [];

  // 1. Recovery: two logs of the same records, one segmented and one a single file.
  const records = Math.floor(size.recoveryBytes / frameSize);
  const segmented = bench.freshPath();
  const single = bench.freshPath();
  checkFreeSpace(dirname(segmented), 2 * records * frameSize);
  try {
    buildLog(bench.payload, segmented, size.recoverySegment, records);
    buildLog(bench.payload, single, undefined, records);
    const results = { contender: [] as RecoverResult[], baseline: [] as RecoverResult[] };
    const recovery = await compare(
      "segmented recovery: open",
      "record",
      records,
      size.recoveryRounds,
      recoverSide(
        `Wal.open, ${formatBytes(size.recoverySegment)} segments`,
        segmented,
        size.recoverySegment,
        records,
        results.contender,
      ),
      recoverSide("Wal.open, one file", single, undefined, records, results.baseline),
    );
    const peak = (side: RecoverResult[]) => Math.max(...side.map((r) => r.peakRssBytes));
    const before = (side: RecoverResult[]) => Math.min(...side.map((r) => r.rssBeforeBytes));
    const openRate = (side: RecoverResult[]) => records / (median(side.map((r) => r.ms)) / 1e3);
    bench.report({
      ...recovery,
      logBytes: records * frameSize,
      segmentSize: size.recoverySegment,
      peakRssBytes: { contender: peak(results.contender), baseline: peak(results.baseline) },
      rssBeforeOpenBytes: {
        contender: before(results.contender),
        baseline: before(results.baseline),
      },
      openOnlyRecordsPerSecond: {
        contender: openRate(results.contender),
        baseline: openRate(results.baseline),
      },
    } as Comparison);
    const mib = (bytes: number) => `${(bytes / (1 << 20)).toFixed(1)} MiB`;
    summary.push(
      `${"segmented recovery:".padEnd(28)} ${formatCount(1e9 / recovery.contender.perOperationNs)} records/s vs one file ` +
        `${formatCount(1e9 / recovery.baseline.perOperationNs)} records/s: ${recovery.timeRatio.toFixed(2)}× the time ` +
        `(${formatBytes(records * frameSize)}, ${formatCount(records)} records, ${formatBytes(size.recoverySegment)} segments); ` +
        `peak RSS ${mib(peak(results.contender))} vs ${mib(peak(results.baseline))} ` +
        `(${mib(before(results.contender))} before the open)`,
    );
  } finally {
    rmSync(segmented, { recursive: true, force: true });
    rmSync(single, { force: true });
  }

  // 2. The cost of a roll: many small segments vs one file.
  const rolls: number[] = [];
  const roll = await compare(
    "segmented append: rolls",
    "record",
    size.rollRecords,
    size.rounds,
    appendSide(bench, `Wal.append, ${formatBytes(size.rollSegment)} segments`, size.rollRecords, {
      segmentSize: size.rollSegment,
      durable: false,
      rolls,
    }),
    appendSide(bench, "Wal.append, one file", size.rollRecords, { durable: false }),
  );
  const rollsPerRound = Math.max(...rolls);
  const perRollNs =
    ((roll.contender.perOperationNs - roll.baseline.perOperationNs) * size.rollRecords) /
    rollsPerRound;
  bench.report({ ...roll, rollsPerRound, perRollNs } as Comparison);
  summary.push(
    `${`segment roll (${formatBytes(size.rollSegment)}):`.padEnd(28)} ${(perRollNs / 1e3).toFixed(0)} µs per roll ` +
      `(${formatCount(rollsPerRound)} rolls per round of ${formatCount(size.rollRecords)} appends): ` +
      `${roll.timeRatio.toFixed(2)}× the time of one file`,
  );

  // 3. The steady state: large segments vs one file, page cache only and then durable.
  const steady: Comparison[] = [];
  for (const durable of [false, true]) {
    const steadyRolls: number[] = [];
    const comparison = await compare(
      `segmented append: steady${durable ? ", then one barrier" : ""}`,
      "record",
      size.steadyRecords,
      size.rounds,
      appendSide(
        bench,
        `Wal.append, ${formatBytes(size.steadySegment)} segments`,
        size.steadyRecords,
        { segmentSize: size.steadySegment, durable, rolls: steadyRolls },
      ),
      appendSide(bench, "Wal.append, one file", size.steadyRecords, { durable }),
    );
    bench.report({ ...comparison, rollsPerRound: Math.max(...steadyRolls) } as Comparison);
    steady.push(comparison);
  }
  summary.push(
    `${`segments, steady (${formatBytes(size.steadySegment)}):`.padEnd(28)} ${steady[0]!.timeRatio.toFixed(2)}× the time of one file ` +
      `(${formatCount(size.steadyRecords)} appends, ${formatBytes(size.steadyRecords * frameSize)}); ` +
      `${steady[1]!.timeRatio.toFixed(2)}× with one barrier at the end of each side`,
  );
  return summary;
}

/** Fails early, and clearly, when `directory`'s file system cannot hold `bytes` more. */
function checkFreeSpace(directory: string, bytes: number): void {
  const { bavail, bsize } = statfsSync(directory);
  const free = bavail * bsize;
  // Headroom for the other rows' files and for the file system's own metadata.
  const needed = bytes * 1.1 + (256 << 20);
  if (free < needed) {
    throw new Error(
      `the segmented recovery row needs ${formatBytes(Math.ceil(needed / (1 << 20)) << 20)} free in ${directory}, ` +
        `which has ${formatBytes(Math.floor(free / (1 << 20)) << 20)}; set TMPDIR to a larger file system`,
    );
  }
}

/** Writes `records` copies of `payload` with appendBatch and makes them durable. */
function buildLog(
  payload: Uint8Array,
  path: string,
  segmentSize: number | undefined,
  records: number,
): void {
  using wal = Wal.open(path, segmentSize === undefined ? {} : { segmentSize });
  const batch: Uint8Array[] = new Array(BATCH_RECORDS).fill(payload);
  for (let written = 0; written < records; written += BATCH_RECORDS) {
    wal.appendBatch(records - written < BATCH_RECORDS ? batch.slice(0, records - written) : batch);
  }
  // Durable now, so no round's open pays for writing it back (recovery ends with a barrier).
  wal.sync();
}

/**
 * A side that opens the log at `path` in a fresh child process per round. The child loads
 * before the timer starts and waits; the timed work is telling it to go and reading its
 * answer, which adds one pipe round trip to the open (and its close).
 */
function recoverSide(
  name: string,
  path: string,
  segmentSize: number | undefined,
  records: number,
  results: RecoverResult[],
): Side {
  let child: Bun.Subprocess<"pipe", "pipe", "inherit"> | undefined;
  let lines: AsyncGenerator<string> | undefined;
  return {
    name,
    async prepare() {
      const args = [process.execPath, RECOVER_SCRIPT, path];
      if (segmentSize !== undefined) args.push(String(segmentSize));
      const started = Bun.spawn(args, { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
      child = started;
      const output = readLines(started.stdout);
      lines = output;
      const ready = await output.next();
      if (ready.value !== "ready") throw new Error(`${RECOVER_SCRIPT} did not start`);
      return async () => {
        started.stdin.write("go\n");
        await started.stdin.flush();
        const answer = await output.next();
        if (answer.done) throw new Error(`${RECOVER_SCRIPT} exited without an answer`);
        const result = JSON.parse(answer.value) as RecoverResult;
        if (result.records !== records) {
          throw new Error(`${name} recovered ${result.records} records, not ${records}`);
        }
        results.push(result);
        return result.records;
      };
    },
    async cleanup() {
      await child!.stdin.end();
      const code = await child!.exited;
      await lines!.return(undefined);
      if (code !== 0) throw new Error(`${RECOVER_SCRIPT} exited with ${code}`);
    },
  };
}

/** The lines of `stream`, without their newlines. */
async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    for (let end = pending.indexOf("\n"); end >= 0; end = pending.indexOf("\n")) {
      yield pending.slice(0, end);
      pending = pending.slice(end + 1);
    }
  }
  if (pending.length > 0) yield pending;
}

/**
 * A side that appends `count` records to a fresh log per round (segmented when `segmentSize`
 * is given), then syncs once when `durable`. One record is appended before the timer, so a
 * segmented log's first segment exists and every segment created in the round is a roll;
 * `rolls` gets each round's count of them.
 */
function appendSide(
  bench: SegmentsContext,
  name: string,
  count: number,
  options: { segmentSize?: number; durable: boolean; rolls?: number[] },
): Side {
  const { payload } = bench;
  const { segmentSize, durable, rolls } = options;
  let wal: Wal | undefined;
  let path = "";
  return {
    name,
    prepare() {
      path = bench.freshPath();
      const opened = Wal.open(path, segmentSize === undefined ? {} : { segmentSize });
      wal = opened;
      opened.append(payload);
      return () => {
        let sum = 0;
        for (let i = 0; i < count; i++) sum += opened.append(payload);
        if (durable) opened.sync();
        return sum;
      };
    },
    cleanup() {
      wal!.close();
      if (segmentSize !== undefined) {
        rolls?.push(readdirSync(path).filter((name) => name.endsWith(".wal")).length - 1);
      }
      rmSync(path, { recursive: true, force: true });
    },
  };
}

// Alone: `bun bench/segments.ts`, with bench/run.ts's payload and row format.
if (import.meta.main) {
  await runAlone("segments", SEGMENT_SIZES, (sizeName, bench) =>
    runSegments(sizeName, { payload: BENCH_PAYLOAD, ...bench }),
  );
}
