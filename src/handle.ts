/**
 * @module
 * What `Wal.share` hands another thread and `Wal.attach` checks: plain data and the log's
 * `SharedArrayBuffer`, so it survives `postMessage`. The file itself travels as the store's
 * own token (`FileStore.shareable`), which only the store opens again.
 */

import { SharedLog } from "./commit.ts";
import { closed, describeValue, invalidArgument } from "./errors.ts";
import { checkInteger } from "./options.ts";
import { checkRecoveryReport, type RecoveryReport } from "./recovery.ts";

const HANDLE_KIND = "wal-db/handle";

/** A log file another thread of this process can reach: its descriptor here, and its path. */
export interface FileShare {
  readonly fd: number;
  readonly path: string;
}

/**
 * What `Wal.attach` needs to join a log from another thread: plain data and a
 * `SharedArrayBuffer`, so it survives `postMessage`. Made by {@link Wal.share}; treat it as
 * opaque and pass it whole.
 */
export interface WalHandle {
  readonly kind: typeof HANDLE_KIND;
  readonly version: 1;
  /** The log's shared state: append offset, watermarks, barrier token, counters. */
  readonly buffer: SharedArrayBuffer;
  /** The log file's descriptor in this process, and its path. */
  readonly fd: number;
  readonly path: string;
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

/** A handle for `file`, shared through `shared`, with the owner's options and report. */
export function makeHandle(
  shared: SharedLog,
  file: FileShare,
  options: SharedOptions,
  recovery: RecoveryReport,
): WalHandle {
  return {
    kind: HANDLE_KIND,
    version: 1,
    buffer: shared.buffer,
    fd: file.fd,
    path: file.path,
    ...options,
    recovery,
  };
}

/** What a checked handle gives `Wal.attach`. */
export interface AttachedLog {
  readonly shared: SharedLog;
  readonly file: FileShare;
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
  const fd = checkInteger("the handle's fd", fields.fd, 0, 2 ** 31 - 1);
  if (typeof fields.path !== "string") throw invalidArgument("the handle's path is missing");
  const recovery = checkRecoveryReport(fields.recovery);
  if (shared.isClosed) throw closed();
  return { shared, file: { fd, path: fields.path }, recovery };
}
