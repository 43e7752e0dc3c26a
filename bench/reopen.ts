/**
 * What a reopen costs now that recovery reads past the page cache (`bun run bench:reopen`).
 *
 * Recovery syncs the log, drops its pages from the page cache (posix_fadvise DONTNEED on
 * Linux) and then scans it, so that a reopen in the same boot never reads back records whose
 * writeback failed (DESIGN rule 6). A warm reopen therefore reads the log from the disk, as a
 * cold one (after a reboot) always did. The rows, each pair in alternating rounds of one run:
 *
 *   warm reopen      Wal.open of a log whose pages are cached, as shipped, vs the same open
 *                    with the drop removed (a platform whose dropCache does nothing): the
 *                    price of reading the disk instead of the cache
 *   cold reopen      the same shipped open vs the open without the drop after the cache was
 *                    dropped by hand: what a reopen after a reboot costs, before and now
 *
 * Sizes: WAL_BENCH_SIZE=full (1,000,000 records of 256 B, a 264 MB log), large (4,000,000: 1.06
 * GB) or tiny.
 */

import { closeSync, mkdtempSync, openSync, readSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStore, type Platform, Wal } from "../src/index.ts";
import { currentPlatform } from "../src/platform/index.ts";
import {
  BENCH_PAYLOAD,
  type Comparison,
  compare,
  formatCount,
  printComparison,
  workDigest,
  writeResults,
} from "./harness.ts";

const SIZES = {
  full: { records: 1_000_000, rounds: 5 },
  large: { records: 4_000_000, rounds: 3 },
  tiny: { records: 2_000, rounds: 2 },
};
const sizeName = (process.env.WAL_BENCH_SIZE ?? "full") as keyof typeof SIZES;
const size = SIZES[sizeName] ?? SIZES.full;

const dir = mkdtempSync(join(tmpdir(), "wal-db-bench-reopen-"));
const path = join(dir, "reopen.wal");
{
  using wal = Wal.open(path);
  for (let i = 0; i < size.records; i++) wal.append(BENCH_PAYLOAD);
  wal.sync();
}

/** The open before this change: the same barrier, no drop of the cached pages. */
const keepCache: Platform = { ...currentPlatform(), dropCache() {} };

/** Reads the whole log once, so that every page of it is in the page cache. */
function warm(): void {
  const fd = openSync(path, "r");
  const chunk = new Uint8Array(1 << 20);
  for (let at = 0; ; at += chunk.length) if (readSync(fd, chunk, 0, chunk.length, at) === 0) break;
  closeSync(fd);
}

/** Drops the log's pages from the page cache, as a reboot would. */
function cool(): void {
  const fd = openSync(path, "r");
  currentPlatform().dropCache(fd, path);
  closeSync(fd);
}

const shipped = (prepareCache: () => void) => ({
  name: "Wal.open (sync, drop, scan)",
  prepare() {
    prepareCache();
    return () => {
      using wal = Wal.open(path);
      return wal.recovery.records;
    };
  },
});
const withoutDrop = (name: string, prepareCache: () => void) => ({
  name,
  prepare() {
    prepareCache();
    return () => {
      using wal = Wal.withStore(FileStore.open(path, { platform: keepCache }));
      return wal.recovery.records;
    };
  },
});

console.log(
  `wal-db reopen benchmark, size ${sizeName}, ${size.records} records of ${BENCH_PAYLOAD.length} B, Bun ${Bun.version}, in ${dir}`,
);
const results: Comparison[] = [];
for (const comparison of [
  await compare(
    "warm reopen: the log's pages cached",
    "record",
    size.records,
    size.rounds,
    shipped(warm),
    withoutDrop("Wal.open without the drop (before)", warm),
  ),
  await compare(
    "cold reopen: the log's pages dropped first (a reboot)",
    "record",
    size.records,
    size.rounds,
    shipped(cool),
    withoutDrop("Wal.open without the drop, cold (before)", cool),
  ),
]) {
  results.push(comparison);
  printComparison(comparison);
  const ms = (ns: number) => `${((ns * size.records) / 1e6).toFixed(0)} ms`;
  console.log(
    `  per open: ${ms(comparison.contender.perOperationNs)} now, ${ms(comparison.baseline.perOperationNs)} before; ` +
      `${formatCount(1e9 / comparison.contender.perOperationNs)} records/s now`,
  );
}
console.log(`work ${workDigest()}`);
writeResults("reopen", sizeName, results);
rmSync(dir, { recursive: true, force: true });
