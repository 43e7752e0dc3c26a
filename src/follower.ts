/**
 * @module
 * `Wal.follow`: a live tail of the log that yields each record once it is durable. It sleeps on
 * the log's shared state until a barrier raises the durable watermark (never reads in a loop),
 * reads only the new records, and tells a cut it must survive (records it has not yielded yet)
 * from one it cannot (records it already yielded: `TRUNCATED`).
 */

import type { SharedLog } from "./commit.ts";
import { followerCut, notFollowable } from "./errors.ts";
import type { Lifecycle } from "./lifecycle.ts";
import type { Reader, WalRecord } from "./reader.ts";
import type { WalStore } from "./store/store.ts";

/** How often a follower with nothing new re-checks the log's state, in milliseconds. */
const FOLLOW_RECHECK_MS = 50;

/** What a follower reads and waits on. */
export interface FollowSource<T> {
  readonly shared: SharedLog;
  readonly reader: Reader<T>;
  readonly lifecycle: Lifecycle;
  /** Where the first LSN the log still holds is read again after a cut. */
  readonly store: Pick<WalStore, "head">;
}

/**
 * Yields every durable record from `start` on, then waits for new ones. `start` was checked:
 * at or above the head, and a record boundary when it is below `end`, the end when follow was
 * called; past `end`, it must turn out to be one.
 */
export async function* follow<T>(
  source: FollowSource<T>,
  start: number,
  end: number,
): AsyncGenerator<WalRecord<T>, void, undefined> {
  const { shared, reader, lifecycle } = source;
  /**
   * Where the next record read starts: always a record boundary, and below `start` only until
   * the records before it are read (skipped, never yielded).
   */
  let position = Math.min(start, end);
  let yielded = false;
  let cuts = shared.cuts;
  for (;;) {
    if (shared.cuts !== cuts) {
      // Only the owner cuts, and it is this thread: nothing changes between these loads.
      const cut = shared.lowestCutSince(cuts);
      cuts = shared.cuts;
      if (cut < position) {
        if (yielded) throw followerCut(cut, position);
        // Nothing the caller saw is gone: read on from the cut, below `start` again.
        position = Math.max(cut, source.store.head ?? 0);
      }
    }
    const durable = shared.durable;
    if (durable > position) {
      const scanner = reader.scannerAt(position, durable);
      // A cut made while a record was yielded ends the pass: the bytes ahead may be gone.
      while (!lifecycle.isClosed && shared.cuts === cuts && reader.advance(scanner, true)) {
        reader.note(scanner);
        if (position < start) {
          if (scanner.offset > start) throw notFollowable(start, scanner.lsn, scanner.offset);
          position = scanner.offset;
          continue;
        }
        position = scanner.offset;
        yielded = true;
        yield reader.recordAt(scanner);
      }
    }
    if (lifecycle.isClosed || shared.isClosed) return;
    shared.throwIfStopped();
    if (shared.cuts === cuts) await shared.durableBeyond(position, cuts, FOLLOW_RECHECK_MS);
  }
}
