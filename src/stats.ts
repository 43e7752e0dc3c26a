/**
 * @module
 * What `Wal.stats()` reports: the counters of the whole log, which every thread adds to in the
 * shared state (commit.ts), and those only one `Wal` keeps.
 */

import type { SharedStats } from "./commit.ts";

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
}

/** The counters one `Wal` keeps, and its store's segment counts. */
export interface LocalCounts {
  readonly segmentsCreated: number;
  readonly segmentsDeleted: number;
  readonly truncations: number;
  readonly corruptionsSeen: number;
}

/** The stats of a log whose shared counters are `shared`, seen from one `Wal`. */
export function walStats(shared: SharedStats, local: LocalCounts): WalStats {
  return {
    ...shared,
    recordsPerBarrier: shared.barriers === 0 ? 0 : shared.appends / shared.barriers,
    ...local,
  };
}
