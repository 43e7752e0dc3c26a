/**
 * wal-db's benchmarks (`bun run bench`). Each row compares wal-db with the baseline a Bun user
 * would otherwise write, measured in the same run, and prints the ratio:
 *
 *   append           Wal.append of 256-byte records vs a raw positioned writeSync of the same
 *                    264 framed bytes (target: ≤ 1.5× the raw write's time)
 *   appendAndSync    vs a hand-rolled writeSync + fdatasyncSync per record
 *   recovery         Wal.open of 1,000,000 records of 256 bytes (the scan that checks every CRC)
 *                    and a full Wal.iter replay, vs reading the same file raw in 1 MiB chunks
 *                    (target: ≥ 2,000,000 records/s)
 *   crc32c           the TypeScript CRC-32C vs Bun.hash.crc32 (native zlib CRC-32, another
 *                    polynomial, same work) (target: ≥ 1.5 GB/s)
 *   concurrency      async commits, Workers sharing one log, appendBatch: see bench/concurrency.ts
 *   segments         recovery of a 1 GiB segmented log (speed and peak RSS), the cost of rolling
 *                    to a new segment, steady-state appends: see bench/segments.ts
 *   archive          commits with wal.archive running vs without, the archive's lag, and
 *                    Wal.restore vs a raw download of the same objects: see bench/archive.ts
 *
 * Sizes: WAL_BENCH_SIZE=full (default) or tiny (a smoke run the test suite uses so this file
 * cannot rot). Results also go to bench/results/latest-<size>.json.
 */

import { closeSync, mkdtempSync, openSync, readSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32c } from "../src/crc32c.ts";
import { Wal } from "../src/index.ts";
import { HEADER_SIZE, sealFrame } from "../src/record.ts";
import { runArchive } from "./archive.ts";
import { runConcurrency } from "./concurrency.ts";
import {
  appendSide,
  BENCH_PAYLOAD,
  type Comparison,
  compare,
  consume,
  formatCount,
  printComparison as print,
  workDigest,
  writeResults,
  writeSide,
} from "./harness.ts";
import { runSegments } from "./segments.ts";

const SIZES = {
  full: {
    appends: 200_000,
    syncs: 2_000,
    records: 1_000_000,
    crcBytes: 64 << 20,
    rounds: 5,
    recoveryRounds: 3,
    commits: [
      [1, 2_000],
      [16, 20_000],
      [256, 100_000],
    ],
    workers: [1, 2, 4],
    workerSyncs: 1_000,
    batches: 64,
  },
  tiny: {
    appends: 2_000,
    syncs: 20,
    records: 5_000,
    crcBytes: 1 << 20,
    rounds: 2,
    recoveryRounds: 2,
    commits: [
      [1, 20],
      [16, 320],
      [256, 2_560],
    ],
    workers: [1, 2, 4],
    workerSyncs: 10,
    batches: 4,
  },
} as const;

const sizeName = (process.env.WAL_BENCH_SIZE ?? "full") as keyof typeof SIZES;
const size = SIZES[sizeName];
if (size === undefined)
  throw new Error(`WAL_BENCH_SIZE must be one of ${Object.keys(SIZES).join(", ")}`);

const FRAME_SIZE = BENCH_PAYLOAD.length + HEADER_SIZE;
const dir = mkdtempSync(join(tmpdir(), "wal-db-bench-"));
let fileCounter = 0;
const freshPath = () => join(dir, `f${++fileCounter}`);

const payload = BENCH_PAYLOAD;
const frame = new Uint8Array(FRAME_SIZE);
frame.set(payload, 8);
sealFrame(frame, payload.length);

/** A side that appends `count` records to a fresh Wal per round. */
const walSide = (name: string, count: number, durable: boolean) =>
  appendSide({ name, count, durable, pool: [payload], freshPath, open: (path) => Wal.open(path) });

/** A side that writes `count` pre-framed records with writeSync, and fdatasync if durable. */
const rawSide = (name: string, count: number, durable: boolean) =>
  writeSide({ name, count, durable, frames: frame, frameSize: FRAME_SIZE, freshPath });

function recoveryLog(): string {
  const path = freshPath();
  using wal = Wal.open(path);
  for (let i = 0; i < size.records; i++) wal.append(payload);
  wal.sync();
  return path;
}

function rawRead(path: string) {
  return {
    name: "raw read in 1 MiB chunks",
    prepare: () => () => {
      const fd = openSync(path, "r");
      const chunk = new Uint8Array(1 << 20);
      let total = 0;
      for (;;) {
        const read = readSync(fd, chunk, 0, chunk.length, total);
        if (read === 0) break;
        consume(chunk[0]!);
        total += read;
      }
      closeSync(fd);
      return total;
    },
  };
}

const results: Comparison[] = [];
const run = (comparison: Comparison) => {
  results.push(comparison);
  print(comparison);
};

console.log(
  `wal-db benchmarks, size ${sizeName}, Bun ${Bun.version}, ${process.platform}/${process.arch}, in ${dir}`,
);

run(
  await compare(
    "append 256 B",
    "record",
    size.appends,
    size.rounds,
    walSide("Wal.append", size.appends, false),
    rawSide("writeSync 264 B", size.appends, false),
  ),
);
run(
  await compare(
    "appendAndSync 256 B",
    "record",
    size.syncs,
    size.rounds,
    walSide("Wal.appendAndSync", size.syncs, true),
    rawSide("writeSync+fdatasync", size.syncs, true),
  ),
);

const log = recoveryLog();
/** A recovery row: `work` reopens the log each round; the baseline reads it raw. */
const recoveryRow = async (title: string, name: string, work: (wal: Wal) => number) =>
  run(
    await compare(
      title,
      "record",
      size.records,
      size.recoveryRounds,
      {
        name,
        prepare: () => () => {
          using wal = Wal.open(log);
          return work(wal);
        },
      },
      rawRead(log),
    ),
  );
await recoveryRow("recovery: open (scan + CRC)", "Wal.open", (wal) => wal.recovery.records);
await recoveryRow("recovery: open + iter replay", "Wal.iter", (wal) => {
  let bytes = 0;
  for (const record of wal.iter()) bytes += record.data.length;
  return bytes;
});
rmSync(log, { force: true });

const crcInput = new Uint8Array(size.crcBytes).map((_, i) => (i * 2654435761) >>> 24);
run(
  await compare(
    "crc32c over 1 MiB blocks",
    "MiB",
    size.crcBytes >> 20,
    size.rounds,
    {
      name: "crc32c (TypeScript)",
      prepare: () => () => {
        let c = 0;
        for (let o = 0; o < crcInput.length; o += 1 << 20) c ^= crc32c(crcInput, o, o + (1 << 20));
        return c;
      },
    },
    {
      name: "Bun.hash.crc32 (native)",
      prepare: () => () => {
        let c = 0;
        for (let o = 0; o < crcInput.length; o += 1 << 20)
          c ^= Bun.hash.crc32(crcInput.subarray(o, o + (1 << 20)));
        return c;
      },
    },
  ),
);

const concurrency = await runConcurrency(size, {
  payload,
  frame,
  freshPath,
  handRolled: (count) => rawSide("writeSync+fdatasync", count, true),
  report: run,
});
const segments = await runSegments(sizeName, { payload, freshPath, report: run });
const archive = await runArchive(sizeName, { freshPath, report: run });

const crc = results[4]!;
const recovery = results[2]!;
const append = results[0]!;
console.log("");
console.log(`append vs raw write:    ${append.timeRatio.toFixed(2)}× the time (target ≤ 1.5×)`);
console.log(
  `appendAndSync vs hand-rolled: ${(results[1]!.baseline.perOperationNs / results[1]!.contender.perOperationNs).toFixed(2)}× the rate`,
);
console.log(
  `recovery scan:          ${formatCount(1e9 / recovery.contender.perOperationNs)} records/s (target ≥ 2,000,000)`,
);
console.log(
  `iter replay:            ${formatCount(1e9 / results[3]!.contender.perOperationNs)} records/s`,
);
console.log(
  `crc32c:                 ${((1 << 20) / crc.contender.perOperationNs).toFixed(2)} GB/s (target ≥ 1.5); native CRC-32 ${((1 << 20) / crc.baseline.perOperationNs).toFixed(2)} GB/s`,
);
for (const line of concurrency) console.log(line);
for (const line of segments) console.log(line);
for (const line of archive) console.log(line);
console.log(`work hash ${workDigest()}`);

writeResults(`latest-${sizeName}`, sizeName, results);
rmSync(dir, { recursive: true, force: true });
