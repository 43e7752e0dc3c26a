/**
 * @module
 * The parts of one `Wal`, made once when it opens (after recovery) or attaches: its shared
 * state, its lifecycle, the appender, the commit queue and the reader, all over one store and
 * one boundary index. `Wal` holds them and delegates; no part holds another's state.
 */

import { Appender } from "./appender.ts";
import { RecordBoundaries } from "./boundaries.ts";
import type { Codec } from "./codec.ts";
import { SharedLog } from "./commit.ts";
import { CommitQueue } from "./commit-queue.ts";
import { closed, describeValue, invalidArgument } from "./errors.ts";
import { Lifecycle } from "./lifecycle.ts";
import { DEFAULT_PREALLOCATE, type ResolvedOptions } from "./options.ts";
import { Reader } from "./reader.ts";
import { type RecoveryReport, recover } from "./recovery.ts";
import { FileStore } from "./store/file.ts";
import { type StoreShare, shareOf } from "./store/index.ts";
import { SegmentedStore } from "./store/segmented.ts";
import type { WalStore } from "./store/store.ts";

/** Everything a `Wal` delegates to. */
export interface LogParts<T> {
  readonly recovery: RecoveryReport;
  readonly store: WalStore;
  /** The state every thread of this log shares: offsets, watermarks, barrier token, counters. */
  readonly shared: SharedLog;
  /** This `Wal`'s writer id among the log's threads. */
  readonly writer: number;
  readonly codec: Codec<T> | undefined;
  /** Known record starts, from the head on: one index for every part. */
  readonly index: RecordBoundaries;
  readonly lifecycle: Lifecycle;
  readonly appender: Appender;
  readonly commits: CommitQueue;
  readonly reader: Reader<T>;
  /** What another thread attaches to (see `Wal.share`), or null when none can reach the store. */
  readonly share: StoreShare | null;
  /** Zero-filled bytes kept written past the last record (0: none); see `WalOptions`. */
  readonly preallocate: number;
  readonly maxPendingCommits: number;
}

/** An attached `Wal`'s log: the owner's shared state and recovery report. */
export interface Joining {
  readonly shared: SharedLog;
  readonly recovery: RecoveryReport;
}

/**
 * The parts of a `Wal` over `store`: recovers it first (unless `joining` a log its owner
 * recovered), then builds the shared state and the parts over it.
 */
export function assembleParts<T>(
  store: WalStore,
  options: ResolvedOptions,
  readOnly: boolean,
  joining?: Joining,
): LogParts<T> {
  const codec = options.codec as Codec<T> | undefined;
  const index = new RecordBoundaries(store.head ?? 0);
  const preallocate = preallocationFor(store, options.preallocate);
  const recovery =
    joining?.recovery ??
    recover(
      store,
      {
        maxRecordSize: options.maxRecordSize,
        preallocate,
        policy: options.recovery,
        onCorruption: options.onCorruption,
        readOnly,
        singleFile: !(store instanceof SegmentedStore),
        codec: options.codec,
        replay: options.replay,
      },
      index,
    );
  const shared =
    joining?.shared ?? SharedLog.create(recovery.end, store.size, options.stallTimeout);
  const writer = shared.newId();
  if (joining === undefined) shared.slowSyncThreshold = options.slowSyncThreshold;
  const lifecycle = new Lifecycle(shared, store.description, readOnly, joining !== undefined);
  const appender = new Appender(
    shared,
    writer,
    store,
    index,
    lifecycle,
    options.maxRecordSize,
    preallocate,
  );
  const reader = new Reader<T>(store, index, lifecycle, {
    maxRecordSize: options.maxRecordSize,
    policy: options.recovery,
    onCorrupt: options.onCorrupt,
    codec,
  });
  reader.corruptionsSeen = recovery.damagedRegions + (recovery.bytesDropped > 0 ? 1 : 0);
  const share = shareOf(store);
  const remoteBarrier = store.remoteBarrier?.() ?? null;
  const commits = new CommitQueue({
    shared,
    writer,
    store,
    appender,
    lifecycle,
    remoteBarrier,
    maxPendingCommits: options.maxPendingCommits,
    onSlowSync: options.onSlowSync,
  });
  return {
    recovery,
    store,
    shared,
    writer,
    codec,
    index,
    lifecycle,
    appender,
    commits,
    reader,
    share,
    preallocate,
    maxPendingCommits: options.maxPendingCommits,
  };
}

/** {@link assembleParts}, closing `store` when that throws: for an open that owns the store. */
export function assembleOrClose<T>(
  store: WalStore,
  options: ResolvedOptions,
  readOnly: boolean,
): LogParts<T> {
  try {
    return assembleParts(store, options, readOnly);
  } catch (error) {
    store.close();
    throw error;
  }
}

/**
 * `Wal.close` once the log is known open: drains the pending commits, marks the log closed for
 * this `Wal` (and for every thread, from the owner), and closes the store once no thread's
 * write or barrier is in flight.
 */
export function closeParts<T>(parts: LogParts<T>): void {
  const { lifecycle, shared, commits, store } = parts;
  const reason = shared.isClosed ? closed() : commits.drain(closed());
  // From here the rounds in flight reject with `reason`; each waiting commit then checks
  // whether its record is durable, and resolves if it is (see `CommitQueue.joinRound`).
  lifecycle.closeReason = reason;
  lifecycle.isClosed = true;
  // The owner first waits for every thread's write and barrier in flight: once it closes the
  // descriptor, the number may name another file, and a late write would land there. A writer
  // stuck mid-write past `stallTimeout` (its Worker died) keeps the descriptor open.
  const idle = lifecycle.attached || shared.close();
  commits.stop(reason);
  if (idle) store.close();
}

/**
 * The zero fill a log over `store` keeps (`WalOptions.preallocate`): the option's value, or
 * by default 1 MiB for a single-file log and none for any other store.
 * @throws WalError `INVALID_ARGUMENT` for a non-zero value on a segmented log.
 */
function preallocationFor(store: WalStore, value: number | undefined): number {
  if (store instanceof SegmentedStore) refuseZeroFillOfSegments(value);
  return value ?? (store instanceof FileStore ? DEFAULT_PREALLOCATE : 0);
}

/**
 * A segmented log keeps no zero-filled tail: each segment but the last is synced full when the
 * next is made, so zeros written past a segment's records would be synced there in place of
 * records written into it later.
 */
export function refuseZeroFillOfSegments(value: number | undefined): void {
  if (value !== undefined && value !== 0) {
    throw invalidArgument(
      `preallocate must be 0 for a segmented log (segmentSize), got ${describeValue(value)}`,
    );
  }
}
