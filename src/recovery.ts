/**
 * @module
 * Recovery: what open does to a log before anything is appended. It makes the log durable and
 * reads it past the page cache, scans it from its head, classifies what it finds (a clean end,
 * a torn tail, damage that valid records follow, a file that is not a log), cuts what a crash
 * left, and reports it all (`RecoveryReport`). The policies come from the options
 * (`recovery`, `onCorruption`); docs/ON_DISK_FORMAT.md is the format it reads.
 */

import type { RecordBoundaries } from "./boundaries.ts";
import { type Codec, decodeWith } from "./codec.ts";
import {
  CorruptionError,
  damagedLayout,
  invalidArgument,
  notALog,
  oversizeRecordInLog,
} from "./errors.ts";
import { checkInteger, type ResolvedOptions } from "./options.ts";
import type { BarrierStrength } from "./platform/platform.ts";
import { HEADER_SIZE, LENGTH_OFFSET, LSN_LIMIT, readU32 } from "./record.ts";
import { findRecordSpanning } from "./resync.ts";
import { RecordScanner, recordsToEnd, Scan } from "./scan.ts";
import type { WalStore } from "./store/store.ts";
import { zeroTailStart } from "./zero-tail.ts";

/** What recovery found and did when the log was opened. */
export interface RecoveryReport {
  /** The first LSN of the log: 0 unless `truncateBefore` dropped a prefix of a segmented log. */
  readonly head: number;
  /** Whole, checksum-valid records found. */
  readonly records: number;
  /** Bytes the store held before recovery, the zero-filled tail included. */
  readonly storeSize: number;
  /** Where the valid log ends: the LSN of the next append. */
  readonly end: number;
  /**
   * Bytes cut from the tail because they were not valid records: `storeSize - end`, or 0 when
   * everything after `end` is zero-filled space (see `WalOptions.preallocate`), which is kept.
   */
  readonly bytesDropped: number;
  /** Why the first damaged bytes were not a record, or null when there were none. */
  readonly reason: string | null;
  /**
   * Whole, checksum-valid records found after the first damage and cut with it. Non-zero only
   * when the default open (`onCorruption: "truncate"`, `recovery: "stop"`) cut damage that
   * valid records follow: then `end` is where the damage starts and these records are gone.
   * 0 for a clean log, for a torn tail (no valid record after the damage), and under
   * `recovery: "skip"`, which keeps such records.
   */
  readonly recordsDropped: number;
  /**
   * Damaged regions kept in the log because valid records follow them (only with
   * `recovery: "skip"`; iteration skips them and reports each to `onCorrupt`).
   */
  readonly damagedRegions: number;
  /**
   * The barrier open made the log durable with, before the scan (directory syncs included):
   * - `"full"`: the platform's real barrier (`fdatasync`, `F_FULLFSYNC`, `FlushFileBuffers`),
   *   or a store's only one (a `MemoryStore`'s, which does nothing);
   * - `"fsync"`: the file system refused the full barrier and plain `fsync` ran instead (macOS:
   *   `F_FULLFSYNC` answered ENOTSUP or EINVAL, as SMB mounts and some FUSE and exFAT file
   *   systems do). Records reach the drive but may sit in its volatile cache across a power
   *   loss, and every later barrier of this log will be the same: each is counted in
   *   `stats().weakBarriers`;
   * - `null`: no barrier, for a log opened with `Wal.openReadOnly`.
   */
  readonly barrier: BarrierStrength | null;
}

/** What recovery needs to know of the log it recovers, from its options and its store. */
export interface RecoveryOptions {
  readonly maxRecordSize: number;
  /** The zero fill the log keeps: with it, an all-zero tail is kept, not cut. */
  readonly preallocate: number;
  readonly policy: ResolvedOptions["recovery"];
  readonly onCorruption: ResolvedOptions["onCorruption"];
  /** A read-only open reports what it would cut, syncs nothing and cuts nothing. */
  readonly readOnly: boolean;
  /**
   * A single file or a memory store, not a segmented log: one with no valid record whose
   * first frame no torn write could leave is refused as not a log.
   */
  readonly singleFile: boolean;
  readonly codec: Codec<unknown> | undefined;
  readonly replay: ResolvedOptions["replay"];
}

/**
 * Makes the log durable and drops it from the page cache, then scans it from its head and
 * cuts it after the last valid record. The barrier and the drop come first because the page
 * cache is not the disk: after a failed writeback Linux marks the lost pages clean and keeps
 * serving them, and a descriptor opened after another saw the error is not told of it, so a
 * reopen in the same boot would otherwise read never-written records back and append after
 * them (DESIGN rule 6). A read-only open does neither: it reads what the files show now.
 *
 * The outcomes, classified:
 * - a clean end: nothing to cut;
 * - a torn tail from a crash mid-append, with no valid record after it: cut in every mode
 *   (it was never acknowledged by a sync);
 * - a single file with no valid record whose first header claims a length above
 *   `maxRecordSize`: no torn write of this format leaves that (a torn header is shorter than
 *   8 bytes, and a torn length only loses bytes), so it is not a log, or not one this open can
 *   read: refused (`NOT_A_LOG`), nothing changed, in every mode;
 * - damage that valid records follow: cut there, the records after it counted in
 *   `recordsDropped` (`onCorruption: "truncate"`, as the Rust crate does), kept and counted
 *   in `damagedRegions` (`recovery: "skip"`: iteration steps over it), or refused with
 *   nothing changed (`onCorruption: "fail"`);
 * - a valid record longer than `maxRecordSize`: refused, nothing cut (the log was written
 *   with a larger limit); one that lies past damage the default open cuts is counted as
 *   dropped instead.
 * A clean log is read once, to its end. Damage costs more: every mode looks past it, so that
 * a torn tail is told from damage in the middle, and the default open counts the valid
 * records it cuts (`recordsDropped`), so that no record is dropped without saying so.
 */
export function recover(
  store: WalStore,
  options: RecoveryOptions,
  boundaries: RecordBoundaries,
): RecoveryReport {
  const { maxRecordSize, preallocate, policy, readOnly, codec, replay } = options;
  let barrier: BarrierStrength | null = null;
  if (!readOnly) {
    // Records a crashed writer left in the page cache become durable here, or open fails.
    barrier = store.sync() ?? "full";
    store.dropCache?.();
  }
  const storeSize = store.size;
  const head = store.head ?? 0;
  const scanner = new RecordScanner(store, head, storeSize, maxRecordSize);
  scanner.zerosFrom = zeroTailStart(store, head, storeSize);
  let records = 0;
  let end = head;
  let reason: string | null = null;
  let damagedRegions = 0;
  let recordsDropped = 0;
  /** Bytes of zeros after the last record, kept for the next appends. */
  let zeroTail = 0;
  for (;;) {
    const found = scanner.next();
    if (found === Scan.Record) {
      boundaries.observe(scanner.lsn, scanner.offset);
      records++;
      end = scanner.offset;
      if (replay !== undefined) {
        const from = scanner.payloadOffset;
        const view = scanner.buffer.subarray(from, from + scanner.payloadLength);
        // A codec's value may keep the bytes it was decoded from: it gets a copy.
        const data = codec === undefined ? view : decodeWith(codec, view.slice(), scanner.lsn);
        (replay as (data: unknown, lsn: number) => void)(data, scanner.lsn);
      }
      continue;
    }
    if (found === Scan.End) break;
    // Zeros to the last byte: the space a writer filled ahead of its records, kept for the
    // next appends. A log that keeps no zero fill cuts them like any torn tail.
    if (preallocate > 0 && scanner.lsn >= scanner.zerosFrom) {
      zeroTail = storeSize - scanner.lsn;
      break;
    }
    reason ??= scanner.reason;
    const next = classifyDamage(scanner, store, options, head, records);
    // No valid record after the damage: a torn tail, cut in every mode and dropping nothing.
    if (next >= storeSize) break;
    if (policy === "stop") {
      // The default cuts here, as the Rust crate does; the records it cuts are counted so
      // that the report says what was lost, not only how many bytes.
      recordsDropped = recordsToEnd(scanner).records;
      break;
    }
    damagedRegions++;
  }
  const kept = end + zeroTail;
  // A read-only open reports the cut without making it: a reader never changes the log.
  if (!readOnly && kept < storeSize) store.truncate(end);
  return {
    head,
    records,
    storeSize,
    end,
    bytesDropped: kept < storeSize ? storeSize - end : 0,
    reason,
    recordsDropped,
    damagedRegions,
    barrier,
  };
}

/**
 * What the damage `scanner` stands on (at `scanner.lsn`, after `records` valid records from
 * `head`) means, for the outcomes that refuse the open: each throws, with nothing changed.
 * Otherwise moves the scanner to the next valid record and returns where it starts, or the
 * end of the store when none follows (a torn tail).
 */
function classifyDamage(
  scanner: RecordScanner,
  store: WalStore,
  options: RecoveryOptions,
  head: number,
  records: number,
): number {
  const { maxRecordSize, policy, onCorruption } = options;
  const damaged = scanner.lsn;
  const damage = scanner.reason;
  if (scanner.isOversizeRecord()) {
    // A whole, valid record that is merely larger than this open allows: the log was
    // written with a larger maxRecordSize. Cutting here would destroy good records.
    throw oversizeRecordInLog(damaged, scanner.oversizeLength, maxRecordSize);
  }
  // The head file names a record boundary; damage there with records after it means the
  // head, or its record, is damaged, and cutting there would drop the whole log: refuse,
  // unless "skip" keeps the region like any other.
  const atHead = damaged === head && head > 0 && policy !== "skip";
  if (damaged === head && head > 0) {
    // A torn append right at the head is normal (a head moved to the end, then a crash),
    // and so is bit rot in the head's record; a valid record spanning the head is not: the
    // bytes are read at the wrong offsets, in every mode.
    const spanning = findRecordSpanning(store, head, scanner.end, maxRecordSize);
    if (spanning >= 0) {
      throw damagedLayout(
        head,
        `the head file says the log starts at ${head}, but a valid record spans it from ` +
          `${spanning}: the log was most likely written with another segmentSize; ` +
          `nothing was changed`,
      );
    }
  }
  const next = scanner.resync();
  if (next >= scanner.end) {
    // No valid record anywhere: a first write torn by a crash, unless no torn write could
    // look like this. Cutting would destroy a file that was never a log.
    if (records === 0 && options.singleFile) refuseImpossibleFirstFrame(store, maxRecordSize);
    return next;
  }
  if (atHead) {
    throw damagedLayout(
      head,
      `the head file says the log starts at ${head}, but no valid record starts there ` +
        `(${damage}) and valid records follow at ${next}`,
    );
  }
  if (onCorruption === "fail") {
    throw new CorruptionError(
      damaged,
      damage,
      `the log is damaged at offset ${damaged} (${damage}) and valid records follow at ` +
        `${next}; nothing was changed. Open it with onCorruption: "truncate" to cut the log ` +
        `at ${damaged}, or with recovery: "skip" to keep the records after the damage.`,
    );
  }
  return next;
}

/** The recovery report carried by a handle, checked field by field. */
export function checkRecoveryReport(value: unknown): RecoveryReport {
  const report = (typeof value === "object" && value !== null ? value : {}) as Record<
    string,
    unknown
  >;
  const count = (name: string) =>
    checkInteger(`the handle's recovery.${name}`, report[name], 0, LSN_LIMIT);
  const reason = report.reason;
  if (reason !== null && typeof reason !== "string") {
    throw invalidArgument("the handle's recovery.reason must be a string or null");
  }
  const barrier = report.barrier;
  if (barrier !== "full" && barrier !== "fsync" && barrier !== null) {
    throw invalidArgument('the handle\'s recovery.barrier must be "full", "fsync" or null');
  }
  return {
    head: count("head"),
    records: count("records"),
    storeSize: count("storeSize"),
    end: count("end"),
    bytesDropped: count("bytesDropped"),
    reason,
    recordsDropped: count("recordsDropped"),
    damagedRegions: count("damagedRegions"),
    barrier,
  };
}

/**
 * Throws `NOT_A_LOG` when the store's first 8 bytes are a header no torn write of this format
 * leaves: not all zeros (the space a zero fill or a lost sector leaves), with a length above
 * `maxRecordSize`. A torn write only loses bytes (they read as zeros, or the file is shorter),
 * so a torn first header is either short, or claims at most the length that was written,
 * which `append` had checked. Text (JSON, `/etc/passwd`) always fails this: its fourth byte
 * makes the length at least 512 MiB.
 */
function refuseImpossibleFirstFrame(store: WalStore, maxRecordSize: number): void {
  const header = new Uint8Array(HEADER_SIZE);
  if (store.read(header, 0) < HEADER_SIZE || header.every((byte) => byte === 0)) return;
  const length = readU32(header, LENGTH_OFFSET);
  if (length <= maxRecordSize) return;
  throw notALog(
    store.description,
    `it holds no valid record, and its first 8 bytes claim a record of ${length} bytes, above ` +
      `maxRecordSize (${maxRecordSize}), which no torn write of a wal-db log can leave`,
    "check the path; if it is a log written with a larger maxRecordSize, open it with that size",
  );
}
