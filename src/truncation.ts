/**
 * @module
 * Cutting the log at either end, under the log's exclusive hold (no other thread writes or
 * syncs meanwhile, commit.ts rule 8): `truncateBefore` drops a checkpointed prefix (whole
 * segments of a segmented log, after the new head is durable), `truncateAfter` drops a suffix
 * a Raft conflict invalidated, durably, and tells every thread's shared state of the cut.
 * Both first prove their LSN is a record boundary, on every store, so a call a segmented log
 * refuses never passes on a single file.
 */

import type { RecordBoundaries } from "./boundaries.ts";
import type { SharedLog } from "./commit.ts";
import { CorruptionError, invalidArgument } from "./errors.ts";
import type { Lifecycle } from "./lifecycle.ts";
import { checkNotDropped } from "./lsn.ts";
import type { Reader } from "./reader.ts";
import { Scan } from "./scan.ts";
import type { WalStore } from "./store/store.ts";

/** What a truncation reads, cuts and tells. */
export interface TruncationTarget {
  readonly shared: SharedLog;
  /** The owner's writer id, for the exclusive hold. */
  readonly writer: number;
  readonly store: WalStore;
  readonly index: RecordBoundaries;
  readonly reader: Pick<Reader<unknown>, "seek">;
  readonly lifecycle: Lifecycle;
}

/** What a truncation did: the head after it, and whether it changed the log. */
export interface Truncated {
  readonly head: number;
  readonly changed: boolean;
}

/** Drops the records before `lsn` where the store can (see `Wal.truncateBefore`). */
export function truncateBefore(log: TruncationTarget, lsn: number): Truncated {
  const { shared, store, lifecycle } = log;
  return shared.exclusive(log.writer, () => {
    const end = shared.reservedWhileExclusive();
    const head = store.head ?? 0;
    if (lsn > end) {
      throw invalidArgument(`truncateBefore(${lsn}) is past the end of the log (${end})`);
    }
    if (lsn < head) return { head, changed: false };
    if (lsn < end) log.reader.seek(lsn, end);
    const dropPrefix = store.truncateBefore?.bind(store);
    if (dropPrefix === undefined) return { head, changed: false };
    if (lsn === head) {
      // Nothing moves, so nothing needs a barrier: the store only deletes what an
      // interrupted compaction left below the head.
      lifecycle.failStop(() => dropPrefix(lsn));
      return { head: lsn, changed: false };
    }
    lifecycle.failStop(() => {
      // Everything written becomes durable first, so no barrier ever needs a deleted segment.
      if (shared.durable < end) {
        shared.barrierThenDurable(
          shared.durable,
          end,
          (from, to) => store.sync(from, to) ?? "full",
        );
      }
      dropPrefix(lsn);
    });
    log.index.restart(lsn);
    return { head: lsn, changed: true };
  });
}

/**
 * Keeps the record at `lsn` and everything before it (see `Wal.truncateAfter`); whether that
 * changed the log. `guard` sees the cut first, and may refuse it by throwing (an archiver that
 * has uploaded records past it).
 */
export function truncateAfter(
  log: TruncationTarget,
  lsn: number,
  guard?: (cut: number) => void,
): boolean {
  const { shared, store } = log;
  return shared.exclusive(log.writer, () => {
    const end = shared.reservedWhileExclusive();
    const cut = cutAfter(log, lsn, end);
    if (cut === end) return false;
    guard?.(cut);
    log.lifecycle.failStop(() => store.truncate(cut));
    shared.cut(cut);
    log.index.cut(cut);
    return true;
  });
}

/**
 * Where `truncateAfter(lsn)` cuts a log whose records end at `end`: the end of the record at
 * `lsn`. Outside the exclusive hold, `end` may be no more than the durable LSN, below which no
 * thread writes.
 * @throws WalError `INVALID_ARGUMENT` unless a record of the log starts at `lsn`; `CORRUPTION`.
 */
export function cutAfter(
  log: Pick<TruncationTarget, "store" | "reader">,
  lsn: number,
  end: number,
): number {
  checkNotDropped(lsn, log.store.head ?? 0, "truncateAfter");
  if (lsn >= end) {
    throw invalidArgument(
      `truncateAfter(${lsn}) needs the LSN of a record in the log, which ends at ${end}`,
    );
  }
  const scanner = log.reader.seek(lsn, end);
  if (scanner.next() !== Scan.Record) throw new CorruptionError(lsn, scanner.reason);
  return scanner.offset;
}
