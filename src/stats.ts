/**
 * @module
 * What `Wal.stats()` reports: the counters of the whole log, which every thread adds to in the
 * shared state (commit.ts), and those only one `Wal` keeps.
 */

import type { SharedStats } from "./commit.ts";
import { type Crc32cImplementation, crc32cImplementation } from "./crc32c.ts";
import type { LogParts } from "./parts.ts";
import { SegmentedStore } from "./store/segmented.ts";

/**
 * What `Wal.stats()` reports: the log's counters, summed over every thread, and this `Wal`'s.
 */
export interface WalStats extends SharedStats {
  /** `appends / barriers`: how many records each barrier made durable on average (0 with none). */
  readonly recordsPerBarrier: number;
  /** Segment files created since the log was opened (0 for a single-file log). */
  readonly segmentsCreated: number;
  /** Segment files `truncateBefore` deleted since the log was opened. */
  readonly segmentsDeleted: number;
  /** `truncateBefore` and `truncateAfter` calls that changed the log, by this `Wal`. */
  readonly truncations: number;
  /**
   * Damaged regions this `Wal` met: at open (the cut tail, torn or not, and each region
   * `recovery: "skip"` kept), then each one an iteration threw at or stepped over.
   */
  readonly corruptionsSeen: number;
  /**
   * Which CRC-32C this process computes frames' checksums with: `"native"` (the CPU's
   * instruction, through `bun:ffi`) or `"typescript"` (where the CPU or Bun allow no native one,
   * or `WAL_DB_CRC=ts`). Both give the same bytes.
   */
  readonly crc32c: Crc32cImplementation;
}

/** The stats of the log `parts` belong to, seen from their `Wal`, which made `truncations`. */
export function walStats(parts: LogParts<unknown>, truncations: number): WalStats {
  const shared = parts.shared.stats();
  const segments = parts.store instanceof SegmentedStore ? parts.store : undefined;
  return {
    ...shared,
    recordsPerBarrier: shared.barriers === 0 ? 0 : shared.appends / shared.barriers,
    segmentsCreated: segments?.segmentsCreated ?? 0,
    segmentsDeleted: segments?.segmentsDeleted ?? 0,
    truncations,
    corruptionsSeen: parts.reader.corruptionsSeen,
    crc32c: crc32cImplementation,
  };
}
