/**
 * @module
 * Every failure a caller can meet is a {@link WalError} with a stable `code` to branch on.
 * One factory per code keeps the messages consistent: each says what happened and what to do.
 */

import { constants as osConstants } from "node:os";

/** The stable codes of {@link WalError}. Branch on these, never on message text. */
export type WalErrorCode =
  | "INVALID_ARGUMENT"
  | "RECORD_TOO_LARGE"
  | "CORRUPTION"
  | "LOCKED"
  | "CLOSED"
  | "POISONED"
  | "IO"
  | "LOG_FULL"
  | "STALLED"
  | "SEGMENT_SIZE_MISMATCH"
  | "TRUNCATED"
  | "UNSUPPORTED_PLATFORM"
  | "READ_ONLY"
  | "CODEC"
  | "NOT_A_LOG"
  | "NOT_FOUND"
  | "ARCHIVE"
  | "ARCHIVE_MISMATCH";

/** The base class of every error wal-db throws on purpose. */
export class WalError extends Error {
  /** Stable machine-readable code; see {@link WalErrorCode}. */
  readonly code: WalErrorCode;

  /** @param code - what kind of failure. @param message - what happened and what to do. */
  constructor(code: WalErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "WalError";
    this.code = code;
  }
}

/** Bytes at `offset` are not a valid record. Carries where and why. */
export class CorruptionError extends WalError {
  /** Byte offset (LSN) where the invalid record starts. */
  readonly offset: number;
  /** Why the bytes there are not a record, e.g. "checksum mismatch". */
  readonly reason: string;

  /**
   * @param offset - LSN of the damaged record. @param reason - what check failed.
   * @param message - the whole message, when the damage is not a record's (a segment, `head`).
   */
  constructor(offset: number, reason: string, message?: string) {
    super(
      "CORRUPTION",
      message ??
        `no valid record at offset ${offset}: ${reason}. The log is damaged at this point; ` +
          "records before it are intact.",
    );
    this.name = "CorruptionError";
    this.offset = offset;
    this.reason = reason;
  }
}

/** An operating-system call failed. `cause` is the OS error, whose `code` is the errno name. */
export class IoError extends WalError {
  /** The errno name, such as "EIO" or "ENOSPC". */
  readonly errno: string;
  /** The system call that failed, such as "fdatasync". */
  readonly syscall: string;

  /** @param syscall - the failing call. @param target - the path or description it acted on. */
  constructor(syscall: string, target: string, errno: string, cause: unknown) {
    super("IO", `${syscall} failed on ${target}: ${errno}`, { cause });
    this.name = "IoError";
    this.errno = errno;
    this.syscall = syscall;
  }
}

const errnoNames = new Map<number, string>(
  Object.entries(osConstants.errno).map(([name, value]) => [value, name]),
);

/** The errno name of a positive errno number on this platform, or `errno <n>` when unknown. */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

/**
 * Wraps an error thrown by `node:fs` (which carries `code`) as an {@link IoError}.
 * A WalError passes through unchanged so a store can wrap calls without double-wrapping.
 */
export function ioErrorFrom(syscall: string, target: string, cause: unknown): WalError {
  if (cause instanceof WalError) return cause;
  const code = (cause as { code?: unknown } | null)?.code;
  return new IoError(syscall, target, typeof code === "string" ? code : "EUNKNOWN", cause);
}

/**
 * An OS call made through `bun:ffi` returned -1 with `errno` set. `name` is its errno name,
 * by default this OS's (`node:os` constants); a platform table whose numbers are another OS's
 * passes its own (darwin.ts does, so its errnos are named right wherever its logic runs).
 */
export function ioErrorFromErrno(
  syscall: string,
  target: string,
  errno: number,
  name: string = errnoName(errno),
): IoError {
  const cause = Object.assign(new Error(`${syscall}: ${name}`), { code: name, errno, syscall });
  return new IoError(syscall, target, name, cause);
}

/** A caller passed something that is not what the API takes. Nothing was written. */
export function invalidArgument(message: string): WalError {
  return new WalError("INVALID_ARGUMENT", message);
}

/** A record is larger than `maxRecordSize`. Nothing was written. */
export function recordTooLarge(size: number, maxRecordSize: number): WalError {
  return new WalError(
    "RECORD_TOO_LARGE",
    `record of ${size} bytes exceeds maxRecordSize (${maxRecordSize} bytes); ` +
      "nothing was written. Split the record or open the log with a larger maxRecordSize.",
  );
}

/** Open found a whole, valid record above `maxRecordSize`; nothing was cut. */
export function oversizeRecordInLog(lsn: number, size: number, maxRecordSize: number): WalError {
  return new WalError(
    "RECORD_TOO_LARGE",
    `the record at LSN ${lsn} holds ${size} bytes, above maxRecordSize (${maxRecordSize} bytes); ` +
      `the log was written with a larger limit. Nothing was cut: open it with maxRecordSize >= ${size}.`,
  );
}

/** A write, sync or truncation was asked of a log opened with `Wal.openReadOnly`. */
export function readOnlyLog(call: string, path: string): WalError {
  return new WalError(
    "READ_ONLY",
    `${path} was opened read-only (Wal.openReadOnly), so it cannot ${call}; open it with Wal.open to write`,
  );
}

/** `follow` on a read-only log, which would wait for barriers that can never come. */
export function readOnlyFollow(path: string): WalError {
  return new WalError(
    "READ_ONLY",
    `${path} was opened read-only (Wal.openReadOnly): it holds what the files held at open and ` +
      "sees no later append, so follow would wait forever; iterate it, or follow another " +
      "process's appends with 'wal-db tail --follow'",
  );
}

/** Another open `Wal`, in this process or another, holds the log's exclusive lock. */
export function locked(path: string): WalError {
  return new WalError(
    "LOCKED",
    `${path} is locked by another open Wal (in this process or another); ` +
      "close that one, or wait for its process to exit, then open again.",
  );
}

/** The `Wal` was closed. */
export function closed(): WalError {
  return new WalError("CLOSED", "the Wal is closed; open it again to use the log.");
}

/**
 * An earlier write or barrier failed, so what is on stable storage is no longer known.
 * Retrying a failed fdatasync can report success after the kernel dropped the dirty pages,
 * so the log refuses all further writes; reopening reads back only what reached the disk (on
 * Linux, past the page cache: see README, "The durability contract").
 */
export function poisoned(cause: unknown): WalError {
  return new WalError(
    "POISONED",
    "the Wal stopped accepting writes after an earlier write or sync failed " +
      `(${messageOf(cause)}); records since the last successful sync may be lost. ` +
      "Close it and open the log again: recovery reads the disk and keeps every record that reached it.",
    { cause },
  );
}

/** The next record would carry the log past 2^53 bytes, where LSNs lose precision. */
export function logFull(lsn: number, frameSize: number): WalError {
  return new WalError(
    "LOG_FULL",
    `appending ${frameSize} bytes at LSN ${lsn} would pass 2^53 - 1 bytes, ` +
      "beyond which LSNs are not exact JavaScript numbers; nothing was written.",
  );
}

/**
 * A sync waited `stallTimeout` ms for another thread that made no progress: a writer that
 * reserved the bytes at `lsn` never wrote them (its Worker died), or a barrier never returned.
 */
export function stalled(lsn: number, stallTimeout: number): WalError {
  return new WalError(
    "STALLED",
    `no progress for ${stallTimeout} ms: the bytes at LSN ${lsn} were reserved by a writer that ` +
      "never finished (a Worker that died mid-append?) or a barrier never returned. Nothing from " +
      "there on can be made durable; the log is poisoned. Close it and open it again to recover " +
      "what is on disk; while a writer is still stuck mid-write, close keeps the file locked, " +
      "and only a new process can open it.",
  );
}

/**
 * A segment file's length contradicts the `segmentSize` the log was opened with: the log was
 * written with another size, and reading it with this one would misplace every byte.
 * `written` is the size the segments show, when they show one.
 */
export function segmentSizeMismatch(
  path: string,
  length: number,
  segmentSize: number,
  written?: number,
): WalError {
  const todo =
    written === undefined
      ? "Open the log with the size it was written with"
      : `Its segments say it was written with segmentSize ${written}: open it with that size, ` +
        "or without segmentSize to use the size its files show";
  return new WalError(
    "SEGMENT_SIZE_MISMATCH",
    `segment ${path} holds ${length} bytes, which contradicts segmentSize ${segmentSize}: ` +
      `every segment but the last holds exactly segmentSize bytes. ${todo}; nothing was changed.`,
  );
}

/**
 * A segmented log's `head` lies past its newest segment, which does not end right there: read
 * with `segmentSize`, the head falls in a later segment than the files hold, which only a
 * wrong size explains (a head moved to the end of the log keeps the newest segment full and
 * ends exactly at it).
 */
export function headPastSegments(
  newest: string,
  head: number,
  end: number,
  segmentSize: number,
): WalError {
  return new WalError(
    "SEGMENT_SIZE_MISMATCH",
    `the head file says the log starts at ${head}, but with segmentSize ${segmentSize} its ` +
      `newest segment ${newest} ends at ${end}: the log was most likely written with another ` +
      "segmentSize. Open it with the size it was written with; nothing was changed.",
  );
}

/**
 * The files of a segmented log do not form one log: a segment is missing, or the `head` file is
 * damaged or contradicts the segments. Opening refuses rather than guess, because a wrong guess
 * would cut or misread records; nothing was changed.
 */
export function damagedLayout(offset: number, reason: string): CorruptionError {
  return new CorruptionError(
    offset,
    reason,
    `the segmented log cannot be opened: ${reason}. Nothing was changed; restore the missing ` +
      "or damaged file, or move the directory aside.",
  );
}

/**
 * The record a durable call waited for was removed by `truncateAfter` (from another thread, or
 * an earlier call of this one) before it became durable: it is not in the log.
 */
export function truncated(lsn: number, cut: number): WalError {
  return new WalError(
    "TRUNCATED",
    `the bytes up to LSN ${lsn} were removed by truncateAfter (the log was cut to ${cut}) ` +
      "before they became durable; the record is not in the log.",
  );
}

/** `iterAsync` found, between two of its chunks, that the range it reads was cut or dropped. */
export function iterationCut(cut: number, head: number, position: number): WalError {
  const what =
    head > position
      ? `truncateBefore dropped the records below ${head}`
      : `truncateAfter cut the log to ${cut}`;
  return new WalError(
    "TRUNCATED",
    `${what} while iterAsync was reading at ${position}; iterate again from a record the ` +
      "log still holds.",
  );
}

/** `truncateAfter` cut the log below records a `follow` loop already yielded. */
export function followerCut(end: number, yielded: number): WalError {
  return new WalError(
    "TRUNCATED",
    `truncateAfter cut the log to ${end}, below records up to ${yielded} that follow ` +
      "already yielded; follow again from a record at or below the new end.",
  );
}

/**
 * The path holds something this format could not have written, or a file that belongs to a
 * segmented log: opening it as a log could destroy it, so nothing was read past the check and
 * nothing was changed.
 */
export function notALog(path: string, why: string, todo: string): WalError {
  return new WalError(
    "NOT_A_LOG",
    `${path} is not a wal-db log: ${why}. Nothing was changed; ${todo}.`,
  );
}

/** `path` is not a regular file (a FIFO, a device, a socket, a directory): never read it. */
export function notARegularFile(path: string, type: string): WalError {
  return notALog(
    path,
    `it is ${type}, not a regular file`,
    "a log and every file of a segmented log must be regular files",
  );
}

/**
 * No log at `path`, and this open may not create one (`create: false`, `Wal.openReadOnly`),
 * or cannot (its directory is missing). Nothing was created.
 */
function notFound(path: string, why: string, todo: string, cause?: unknown): WalError {
  return new WalError("NOT_FOUND", `${path} ${why}; nothing was created. ${todo}.`, { cause });
}

/**
 * The `notFound` for a path whose open failed with ENOENT (`cause`, the OS error), by what
 * the open may do: create it, open an existing log only, or read.
 */
export function missingLog(
  path: string,
  directory: string,
  open: "create" | "existing" | "read",
  cause?: unknown,
): WalError {
  switch (open) {
    case "create":
      return notFound(
        path,
        `cannot be created: its directory ${directory} does not exist`,
        "Create the directory first, or check the path",
        cause,
      );
    case "existing":
      return notFound(
        path,
        "does not exist, and the log was opened with create: false",
        "Check the path, or open without create: false to start a new log",
        cause,
      );
    case "read":
      return notFound(
        path,
        "does not exist, and a read-only open never creates a log",
        "Check the path",
        cause,
      );
  }
}

/**
 * `follow(start)` was given an LSN past the end, and the record now read at `lsn`, ending at
 * `next`, shows that no record starts there.
 */
export function notFollowable(start: number, lsn: number, next: number): WalError {
  const why =
    lsn < start
      ? `the record at ${lsn} runs over it to ${next}`
      : `damaged bytes run over it to the record at ${lsn}`;
  return invalidArgument(
    `follow(${start}): no record starts at ${start}, which was past the end when follow was ` +
      `called: ${why}. Follow from a record's LSN, or from len`,
  );
}

/** No durability barrier is known for this operating system. */
export function unsupportedPlatform(platform: string): WalError {
  return new WalError(
    "UNSUPPORTED_PLATFORM",
    `wal-db has no durability barrier for platform "${platform}" (supported: linux, darwin, win32); ` +
      "use Wal.withStore with a MemoryStore, or a WalStore of your own.",
  );
}

/**
 * This runtime gives wal-db no file handle it can trust for its barrier and lock (Windows: a
 * Bun without `uv_get_osfhandle`, or whose descriptors map to other files). Thrown at open.
 */
export function unsupportedRuntime(reason: string): WalError {
  return new WalError(
    "UNSUPPORTED_PLATFORM",
    `wal-db cannot make this runtime's files durable: ${reason}. ` +
      "It needs a Bun whose file descriptors map to Windows handles through uv_get_osfhandle (Bun 1.4.4 does).",
  );
}

/**
 * A short description of a value for error messages, in words that complete "got ...": never
 * its whole contents (a function's source, a long string, an array's elements).
 * @example describeValue(undefined) // "undefined"
 * @example describeValue("12") // 'the string "12"'
 * @example describeValue(new Map()) // "a Map"
 */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case "undefined":
    case "boolean":
    case "number":
      return String(value);
    case "bigint":
      return `the bigint ${value}n`;
    case "string":
      return `the string "${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
    case "symbol":
      return `the symbol ${String(value)}`;
    case "function":
      return value.name === "" ? "a function" : `the function ${value.name}`;
  }
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array of ${counted(value.length, "element")}`;
  const name = (value as object).constructor?.name;
  if (typeof name !== "string" || name === "" || name === "Object") return "an object";
  const named = `${/^[AEIO]/i.test(name) ? "an" : "a"} ${name}`;
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const view = value as unknown as { length: number; BYTES_PER_ELEMENT: number };
    return `${named} of ${counted(view.length, view.BYTES_PER_ELEMENT === 1 ? "byte" : "element")}`;
  }
  return named;
}

/** "1 element", "3 elements". */
function counted(count: number, unit: string): string {
  return `${count} ${unit}${count === 1 ? "" : "s"}`;
}

/** The message of a thrown value, which need not be an `Error`. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
