/**
 * @module
 * What `Wal.share` hands another thread and `Wal.attach` checks: plain data and the log's
 * `SharedArrayBuffer`, so it survives `postMessage`. The files themselves travel as the store's
 * own token (a `StoreShare`), which only the store layer checks and opens again: this file
 * passes it through.
 */

import { SharedLog } from "./commit.ts";
import { closed, describeValue, invalidArgument } from "./errors.ts";
import { checkRecoveryReport, type RecoveryReport } from "./recovery.ts";
import { checkStoreShare, type StoreShare } from "./store/index.ts";

const HANDLE_KIND = "wal-db/handle";

/**
 * What `Wal.attach` needs to join a log from another thread: plain data and a
 * `SharedArrayBuffer`, so it survives `postMessage`. Made by `Wal.share()`; treat it as
 * opaque and pass it whole.
 */
export interface WalHandle {
  readonly kind: typeof HANDLE_KIND;
  readonly version: 1;
  /** The log's shared state: append offset, watermarks, barrier token, counters. */
  readonly buffer: SharedArrayBuffer;
  /**
   * The store's token: the log file's descriptor in this process and its path, or a segmented
   * log's directory, segment size and segment table.
   */
  readonly store: StoreShare;
  readonly maxRecordSize: number;
  readonly stallTimeout: number;
  readonly maxPendingCommits: number;
  /** The owner's zero fill, so every thread's fills agree (see `WalOptions.preallocate`). */
  readonly preallocate: number;
  /** The owner's recovery report. */
  readonly recovery: RecoveryReport;
}

/** The options of the owner a handle carries, for the attached `Wal`. */
export interface SharedOptions {
  readonly maxRecordSize: number;
  readonly stallTimeout: number;
  readonly maxPendingCommits: number;
  readonly preallocate: number;
}

/** A handle for `store`, shared through `shared`, with the owner's options and report. */
export function makeHandle(
  shared: SharedLog,
  store: StoreShare,
  options: SharedOptions,
  recovery: RecoveryReport,
): WalHandle {
  return { kind: HANDLE_KIND, version: 1, buffer: shared.buffer, store, ...options, recovery };
}

/** What a checked handle gives `Wal.attach`. */
export interface AttachedLog {
  readonly shared: SharedLog;
  readonly store: StoreShare;
  readonly recovery: RecoveryReport;
}

/**
 * The fields of `handle`, once it is known to come from `share()`; its option fields are left
 * for `resolveOptions` to check.
 * @throws WalError `INVALID_ARGUMENT` when it is not a handle.
 */
export function handleFields(handle: unknown): Readonly<Record<string, unknown>> {
  const fields = (typeof handle === "object" && handle !== null ? handle : {}) as Record<
    string,
    unknown
  >;
  if (fields.kind !== HANDLE_KIND || fields.version !== 1) {
    throw invalidArgument(`attach takes a handle from wal.share(), got ${describeValue(handle)}`);
  }
  return fields;
}

/**
 * The log a handle's fields name, joined with `stallTimeout`.
 * @throws WalError `INVALID_ARGUMENT` for a field that is not what `share()` makes; `CLOSED`
 * when the owner closed the log.
 */
export function joinLog(
  fields: Readonly<Record<string, unknown>>,
  stallTimeout: number,
): AttachedLog {
  const shared = SharedLog.attach(fields.buffer, stallTimeout);
  if (shared === null) throw invalidArgument("the handle's buffer is not a wal-db shared state");
  // The token's shape only. Whether a file's descriptor is open on its path is the store's
  // check, after this one's CLOSED: an owner that closed the log closed that descriptor too,
  // and the caller must hear CLOSED, not that the descriptor is wrong.
  const store = checkStoreShare(fields.store, "the handle's store");
  const recovery = checkRecoveryReport(fields.recovery);
  if (shared.isClosed) throw closed();
  return { shared, store, recovery };
}
