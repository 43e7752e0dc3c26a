/**
 * Helpers for the segmented-log tests: the segment files of a log directory, a snapshot of a
 * directory to prove "nothing changed on disk", and seeded logs to start from.
 */

import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Wal } from "../../src/index.ts";
import { mulberry32, randomBytes } from "./random.ts";

/** The segment files in `path` (20 digits, `.wal`), in log order. */
export const segmentFiles = (path: string): string[] =>
  readdirSync(path)
    .filter((name) => /^\d{20}\.wal$/.test(name))
    .sort();

/** Every entry in `path` with its bytes (directories as "dir"): "nothing changed" compares it. */
export function snapshot(path: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of readdirSync(path).sort()) {
    const full = join(path, entry);
    files[entry] = statSync(full).isDirectory()
      ? "dir"
      : Buffer.from(readFileSync(full)).toString("hex");
  }
  return files;
}

/**
 * Writes `count` records drawn from `seed` into a new segmented log at `path`, syncs and closes
 * it; returns their LSNs and payloads and the log's end. Payloads are 0 to 100 × segmentSize / 32
 * bytes (12,800 for 4 KiB segments): a record spans up to four segments, and most segments hold
 * the end of one record and the start of the next.
 */
export function writeSegmented(path: string, segmentSize: number, count: number, seed: number) {
  const next = mulberry32(seed);
  const most = Math.floor((100 * segmentSize) / 32);
  const payloads = Array.from({ length: count }, () => randomBytes(next, next() % (most + 1)));
  using wal = Wal.open(path, { segmentSize });
  const lsns = payloads.map((payload) => wal.append(payload));
  wal.sync();
  return { lsns, payloads, end: wal.len };
}
