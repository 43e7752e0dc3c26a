/**
 * @module
 * `Wal`: open (with recovery), append, sync, iterate, truncate either end, close. The durability contract lives in
 * README.md and docs/ON_DISK_FORMAT.md; in short, `append` returns once the bytes are in the OS
 * page cache, and `sync` returns once everything appended before it is on stable storage.
 */

import { type Codec, encodeWith } from "./codec.ts";
import { closed, describeValue, invalidArgument, readOnlyFollow, readOnlyLog } from "./errors.ts";
import { follow } from "./follower.ts";
import { handleFields, joinLog, makeHandle, type WalHandle } from "./handle.ts";
import { resolveOptions, type WalOptions } from "./options.ts";
import { assembleParts, type LogParts, refuseZeroFillOfSegments } from "./parts.ts";
import type { Reader, WalRecord } from "./reader.ts";
import type { RecoveryReport } from "./recovery.ts";
import { type WalStats, walStats } from "./stats.ts";
import { FileStore } from "./store/file.ts";
import { openStore } from "./store/index.ts";
import { SegmentedStore } from "./store/segmented.ts";
import type { WalStore } from "./store/store.ts";
import { type TruncationTarget, truncateAfter, truncateBefore } from "./truncation.ts";

export type { WalHandle } from "./handle.ts";
export type { WalRecord } from "./reader.ts";
export type { WalStats } from "./stats.ts";

/**
 * What `append`, `commit` and `appendBatch` take for a record of type `T`: the value, or for
 * plain byte records (no codec) bytes or a string, stored as UTF-8.
 */
export type WalInput<T> = [T] extends [Uint8Array] ? Uint8Array | string : T;

/**
 * A write-ahead log: records appended at increasing LSNs, made durable by `sync`, read back
 * with `iter`. One `Wal` owns its log exclusively until `close`.
 *
 * @example
 * using wal = Wal.open("app.wal");
 * const lsn = wal.append("a state change");
 * wal.sync(); // now on stable storage
 * for (const { lsn, data } of wal.iter()) apply(lsn, data);
 */
export class Wal<T = Uint8Array> {
  /**
   * What recovery found when this log was opened (for an attached `Wal`, the owner's). For a
   * log opened with {@link Wal.openReadOnly}, what `Wal.open` would find and cut: nothing was.
   */
  readonly recovery: RecoveryReport;
  /** True for a log opened with {@link Wal.openReadOnly}: it reads, and never changes a byte. */
  readonly readOnly: boolean;

  /** What this `Wal` delegates to (parts.ts). */
  private readonly parts: LogParts<T>;
  /** `truncateBefore` and `truncateAfter` calls of this `Wal` that changed the log. */
  private truncations = 0;

  private constructor(parts: LogParts<T>, readOnly: boolean) {
    this.parts = parts;
    this.recovery = parts.recovery;
    this.readOnly = readOnly;
  }

  /**
   * Opens the log at `path`, creating it if needed, takes its exclusive lock and recovers it:
   * the log is scanned, the torn tail a crash left (and, by default, everything from the first
   * invalid record on; see `onCorruption`) is cut, and the cut and the surviving records are
   * made durable before `open` returns.
   *
   * With `segmentSize`, `path` is a directory of segment files (created if missing) rather
   * than one file.
   *
   * @param path - the log file, or the segments' directory; its parent directory must exist.
   * @param options - see {@link WalOptions}.
   * @throws WalError `LOCKED` while another `Wal` (any process) has the log open;
   * `INVALID_ARGUMENT` for bad options, or a directory opened without `segmentSize`;
   * `NOT_A_LOG` for a path that is not a regular file, a file of a segmented log, or a file
   * this format could not have written (nothing is changed); `NOT_FOUND` when the path is
   * missing with `create: false`, or its directory is missing; `SEGMENT_SIZE_MISMATCH`;
   * `CORRUPTION` when a segmented log's files do not form one log, or with
   * `onCorruption: "fail"` when valid records follow damage; `IO` when the OS refuses;
   * `UNSUPPORTED_PLATFORM` on an OS with no known barrier (anything but Linux, macOS and
   * Windows), before any file or directory is created.
   * @example const wal = Wal.open("app.wal", { maxRecordSize: 1 << 20 });
   * @example const wal = Wal.open("wal-dir", { segmentSize: 64 * 1024 * 1024 });
   */
  static open<T = Uint8Array>(path: string, options?: WalOptions<T>): Wal<T> {
    const resolved = resolveOptions(options);
    // Checked before the store is opened: a segmented open may create its directory.
    if (resolved.segmentSize !== undefined) refuseZeroFillOfSegments(resolved.preallocate);
    const store = openStore(path, { segmentSize: resolved.segmentSize, create: resolved.create });
    try {
      return new Wal<T>(assembleParts(store, resolved, false), false);
    } catch (error) {
      store.close();
      throw error;
    }
  }

  /**
   * Opens the log at `path` for reading only, as a second process (an inspector, a replica, a
   * backup) reads a log that a writer may hold open: it takes no lock, opens every file with a
   * descriptor that cannot write, and never cuts, syncs or creates anything. It reads what the
   * files hold when it is called; records appended later are not seen until it is opened again.
   *
   * Recovery scans as {@link Wal.open} does, and `recovery` reports what an open would cut
   * (`bytesDropped`, `recordsDropped`, `reason`, `end`) without cutting it: `iter` and
   * `iterFrom` read up to `recovery.end`. Every write, sync, truncation and `share` throws
   * `READ_ONLY`.
   *
   * @param path - the log file, or the segments' directory (with `segmentSize`); must exist.
   * @param options - the options of {@link Wal.open} that shape reading: `segmentSize`,
   * `maxRecordSize`, `recovery`, `onCorrupt`, `onCorruption`, `replay`; the others are ignored.
   * @throws WalError `NOT_FOUND` when the log does not exist; `NOT_A_LOG`, `INVALID_ARGUMENT`,
   * `SEGMENT_SIZE_MISMATCH`, `CORRUPTION`, `UNSUPPORTED_PLATFORM` as {@link Wal.open} would,
   * with nothing changed.
   * @example
   * using reader = Wal.openReadOnly("app.wal");
   * for (const { lsn, data } of reader.iter()) console.log(lsn, data.length);
   */
  static openReadOnly<T = Uint8Array>(path: string, options?: WalOptions<T>): Wal<T> {
    const resolved = resolveOptions(options);
    const store = openStore(path, { segmentSize: resolved.segmentSize, readOnly: true });
    try {
      return new Wal<T>(assembleParts(store, resolved, true), true);
    } catch (error) {
      store.close();
      throw error;
    }
  }

  /**
   * Opens a log over any {@link WalStore}, such as a `MemoryStore` or a fault-injecting test
   * store, recovering it as {@link Wal.open} does. The `Wal` owns the store from here and
   * closes it on `close`.
   * @example const wal = Wal.withStore(new MemoryStore());
   */
  static withStore<T = Uint8Array>(store: WalStore, options?: WalOptions<T>): Wal<T> {
    const resolved = resolveOptions(options);
    for (const method of ["read", "write", "truncate", "sync", "close"] as const) {
      if (typeof (store as Partial<WalStore> | null)?.[method] !== "function") {
        throw invalidArgument(`store must implement WalStore; ${method}() is missing`);
      }
    }
    return new Wal<T>(assembleParts(store, resolved, false), false);
  }

  /**
   * Joins, from another thread, a log shared with {@link Wal.share}: same file, same LSN
   * space, appends in parallel with every other thread, barriers shared with them. The
   * attached `Wal` writes (`append`, `appendBatch`, `sync`, `appendAndSync`, `commit`,
   * `syncAsync`, `stats`) but does not read: iterate from the owner. Its `close` detaches it;
   * the owner's `close` ends the log for every thread.
   *
   * @param handle - a handle from `share()`, received through `postMessage`.
   * @throws WalError `INVALID_ARGUMENT` when `handle` is not one; `CLOSED` when its owner has
   * closed the log.
   * @example
   * // in a Worker:
   * self.onmessage = ({ data }) => {
   *   const wal = Wal.attach(data);
   *   wal.appendAndSync("from a worker");
   *   wal.close();
   * };
   */
  static attach<T = Uint8Array>(handle: WalHandle, options?: { codec?: Codec<T> }): Wal<T> {
    const fields = handleFields(handle);
    const resolved = resolveOptions({
      maxRecordSize: fields.maxRecordSize,
      stallTimeout: fields.stallTimeout,
      maxPendingCommits: fields.maxPendingCommits,
      preallocate: fields.preallocate,
      codec: options?.codec,
    });
    const { shared, file, recovery } = joinLog(fields, resolved.stallTimeout);
    const store = FileStore.attach(file);
    return new Wal<T>(assembleParts(store, resolved, false, { shared, recovery }), false);
  }

  /**
   * A handle another thread passes to {@link Wal.attach} to append to this log in parallel.
   * It is plain data (structured-cloneable); send it with `postMessage`.
   * @throws WalError `INVALID_ARGUMENT` unless the log is a single file opened with `Wal.open`
   * (a store in this thread's memory cannot be reached from another thread).
   * @example
   * const worker = new Worker("./writer.ts");
   * worker.postMessage(wal.share());
   */
  share(): WalHandle {
    this.parts.lifecycle.checkOpen();
    if (this.readOnly) throw readOnlyLog("share", this.parts.store.description);
    if (this.parts.file === null) {
      throw invalidArgument(
        "share() needs a single-file log opened with Wal.open: other threads reach the log " +
          "through its file descriptor (a segmented log, or a store in this thread's memory, " +
          "cannot be shared yet)",
      );
    }
    const options = {
      maxRecordSize: this.parts.appender.maxRecordSize,
      stallTimeout: this.parts.shared.stallTimeout,
      maxPendingCommits: this.parts.maxPendingCommits,
      preallocate: this.parts.preallocate,
    };
    return makeHandle(this.parts.shared, this.parts.file, options, this.recovery);
  }

  /**
   * Logical size in bytes: every record below it is whole. With no append in flight in
   * another thread, it is the LSN the next `append` will return.
   */
  get len(): number {
    this.checkOpen();
    return this.parts.shared.written();
  }

  /** True when the log holds no records. */
  get isEmpty(): boolean {
    return this.len === 0;
  }

  /**
   * Appends one record and returns its LSN. Returns once the bytes are in the OS page cache
   * (a positioned write has returned): a process crash after that keeps the record, a power
   * loss may not. Call {@link Wal.sync} to make it durable.
   *
   * @param value - the payload: bytes, or a string stored as UTF-8, and may be empty; with a
   * `codec`, the value it encodes.
   * @returns the record's LSN, the byte offset where its frame starts.
   * @throws WalError `RECORD_TOO_LARGE` or `INVALID_ARGUMENT` with nothing written; `IO` when
   * the write fails, which also poisons the log; `POISONED`, `CLOSED`, `LOG_FULL`.
   */
  append(value: WalInput<T>): number {
    this.checkWritable("append");
    return this.parts.appender.append(this.encoded(value, "append"));
  }

  /**
   * The durability barrier: returns once every record appended before the call is on stable
   * storage, through the platform's real barrier (`fdatasync` on Linux, `F_FULLFSYNC` on
   * macOS, `FlushFileBuffers` on Windows). Returns at once when nothing was appended since the
   * last barrier. Where a macOS file system refuses `F_FULLFSYNC` (ENOTSUP or EINVAL: SMB, some
   * FUSE and exFAT mounts) the barrier is plain `fsync`, which the drive may still cache, and
   * is counted in `stats().weakBarriers`; it never weakens without being counted.
   *
   * @throws WalError `IO` when the barrier fails: the log is then poisoned, because the kernel
   * may already have dropped the unsynced pages, and must be reopened. `POISONED`, `CLOSED`.
   */
  sync(): void {
    this.checkWritable("sync");
    this.parts.commits.syncTo(this.parts.shared.reserved, null);
  }

  /**
   * Appends one record and makes it durable: {@link Wal.append} then {@link Wal.sync}. Returns
   * once the record, and everything appended before it, is on stable storage.
   * @returns the record's LSN.
   */
  appendAndSync(data: WalInput<T>): number {
    const lsn = this.append(data);
    const { end, cuts } = this.parts.appender.last;
    this.parts.commits.syncTo(end, cuts);
    return lsn;
  }

  /**
   * Appends one record and resolves once it is on stable storage, without blocking the event
   * loop: concurrent commits share one barrier (group commit), which runs off the calling
   * thread. The record is framed at once and written together with every other commit this
   * thread makes before the next barrier starts: one write and one barrier for the whole
   * batch. Any other call of this `Wal` (`append`, `len`, `iter`, ...) writes staged commits
   * first, so records from one thread get increasing LSNs in call order. Payloads over 64 KiB
   * are written at once, on their own.
   *
   * When `maxPendingCommits` commits of this thread are already waiting, a new one first waits
   * for a barrier to finish (back-pressure).
   *
   * A commit still pending when this `Wal` is closed is drained, not dropped: `close` (and
   * `await using`) writes it and makes it durable, and it resolves. It rejects only when that
   * barrier fails, with its `IO` error: then the record is not known to be durable.
   *
   * @returns the record's LSN, once it is durable.
   * @throws (rejects with) WalError as {@link Wal.append} and {@link Wal.sync}; every commit
   * covered by a failed barrier rejects, and the log is poisoned. `CLOSED` for a commit made
   * once `close` has started, or still waiting for room under `maxPendingCommits` then: its
   * record was not written. (On a shared log, a commit of an attached `Wal` still pending when
   * the owner closes the log also rejects with `CLOSED`, its record written but not known to
   * be durable: close attached `Wal`s first, which drains them.)
   * @example const lsn = await wal.commit(JSON.stringify(change));
   */
  async commit(data: WalInput<T>): Promise<number> {
    this.parts.lifecycle.checkWritable("commit");
    return this.parts.commits.commit(() =>
      this.parts.appender.payloadOf(this.encoded(data, "commit"), "commit"),
    );
  }

  /**
   * The durability barrier without blocking the event loop: resolves once every record
   * appended before the call, by any thread, is on stable storage. Shares barriers with every
   * concurrent sync and commit. One still pending at `close` is drained as a commit is.
   * @throws (rejects with) WalError as {@link Wal.sync}.
   */
  async syncAsync(): Promise<void> {
    this.checkWritable("syncAsync");
    await this.parts.commits.syncAsync();
  }

  /**
   * Appends many records with one reservation and (up to 4 MiB of frames) one write: the
   * fastest way to log a batch. Every record is checked before anything is written; the
   * records get consecutive LSNs, in order, with no other thread's record between them.
   * Durable after the next `sync`, like `append`.
   *
   * @param records - payloads: bytes, or strings stored as UTF-8.
   * @returns the LSN of each record, in order.
   * @throws WalError `INVALID_ARGUMENT` or `RECORD_TOO_LARGE` with nothing written; otherwise
   * as {@link Wal.append}.
   * @example const [first, second] = wal.appendBatch(["a", "b"]);
   */
  appendBatch(records: readonly WalInput<T>[]): number[] {
    this.checkWritable("appendBatch");
    if (!Array.isArray(records)) {
      throw invalidArgument(`appendBatch takes an array, got ${describeValue(records)}`);
    }
    const maxRecordSize = this.parts.appender.maxRecordSize;
    const payloads: Uint8Array[] = new Array(records.length);
    for (let index = 0; index < records.length; index++) {
      const data = this.encoded(records[index] as WalInput<T>, "appendBatch", index);
      // The common case inline; bytesOf encodes strings and names what is wrong.
      payloads[index] =
        data instanceof Uint8Array && data.length <= maxRecordSize
          ? data
          : this.parts.appender.payloadOf(data, `appendBatch element ${index}`);
    }
    return this.parts.appender.appendBatch(payloads);
  }

  /**
   * Counters of the whole log, summed over every thread: records and bytes written, and the
   * barriers (fdatasync calls and the like) syncs have issued. Group commit shows as far fewer
   * barriers than durable calls. `weakBarriers` counts those of them that were plain `fsync`
   * because the file system refused the full barrier (macOS `F_FULLFSYNC` on SMB, some FUSE
   * and exFAT mounts); it is 0 on Linux and Windows.
   * @example const { appends, barriers, weakBarriers } = wal.stats();
   */
  stats(): WalStats {
    this.checkOpen();
    const segments = this.parts.store instanceof SegmentedStore ? this.parts.store : undefined;
    return walStats(this.parts.shared.stats(), {
      segmentsCreated: segments?.segmentsCreated ?? 0,
      segmentsDeleted: segments?.segmentsDeleted ?? 0,
      truncations: this.truncations,
      corruptionsSeen: this.parts.reader.corruptionsSeen,
    });
  }

  /**
   * Iterates every record from the head on, in LSN order, each checksum-checked. The end is
   * fixed when `iter` is called: records appended later are not yielded.
   * @throws CorruptionError (`CORRUPTION`, with `offset` and `reason`) from the iteration when a
   * record is damaged, unless the log was opened with `recovery: "skip"`, which reports the
   * damage to `onCorrupt` and goes on; `CLOSED` when the log is closed before or during the
   * iteration.
   */
  iter(): Generator<WalRecord<T>, void, undefined> {
    this.checkReadable();
    return this.parts.reader.walk(this.head, this.parts.shared.written());
  }

  /**
   * Iterates records from `lsn` on, as {@link Wal.iter} does. Seeks in bounded time: it starts
   * at the nearest indexed boundary at or below `lsn` and walks at most 256 KiB plus one record,
   * which also proves `lsn` is a record boundary. An `lsn` at or past the end yields nothing.
   * @param lsn - an LSN returned by `append`, or `len`; at or above `head`.
   * @throws WalError `INVALID_ARGUMENT` when `lsn` is not a non-negative integer, lies below
   * the head, or falls inside a record; `CORRUPTION` when a damaged record lies on the way.
   */
  iterFrom(lsn: number): Generator<WalRecord<T>, void, undefined> {
    this.checkReadable();
    const end = this.parts.shared.written();
    this.checkNotDropped(checkLsn(lsn, "iterFrom"), "iterFrom");
    if (lsn < end) this.parts.reader.seek(lsn, end);
    return this.parts.reader.walk(Math.min(lsn, end), end);
  }

  /**
   * The CRC-32C of the log's bytes from `fromLsn` to `toLsn`: the frames of the records in
   * that range, headers included. Two logs that hold the same records at the same LSNs give the
   * same checksum, so a replica compares its log with the leader's range by range without
   * sending the records. Every record on the way is checksum-checked as it is read.
   *
   * @param fromLsn - a record boundary at or above `head`.
   * @param toLsn - a record boundary at or above `fromLsn`, at most `len`.
   * @returns an unsigned 32-bit number; `crc32c` of nothing (0) when the range is empty.
   * @throws WalError `INVALID_ARGUMENT` when either end is not a record boundary of the log;
   * `CORRUPTION` when a record in the range is damaged.
   * @example if (leader.checksum(a, b) !== replica.checksum(a, b)) resync(a, b);
   */
  checksum(fromLsn: number, toLsn: number): number {
    this.checkReadable();
    const end = this.parts.shared.written();
    this.checkNotDropped(checkLsn(fromLsn, "checksum", "fromLsn"), "checksum");
    checkLsn(toLsn, "checksum", "toLsn");
    if (toLsn < fromLsn || toLsn > end) {
      throw invalidArgument(
        `checksum(${fromLsn}, ${toLsn}) needs ${fromLsn} <= toLsn <= ${end}, the end of the log`,
      );
    }
    return fromLsn === toLsn ? 0 : this.parts.reader.checksum(fromLsn, toLsn, end);
  }

  /**
   * A live tail of the log: yields every durable record from `fromLsn` on, then waits for new
   * ones and yields each once it is durable (appended, then covered by a `sync`, `commit` or
   * any other barrier, by this thread or a Worker attached to the log). Records appended but
   * not yet durable are not yielded: a follower never sees a record a crash could take back.
   *
   * Waiting never blocks the event loop and never reads the log in a loop: the follower sleeps
   * on the log's shared state until a barrier raises the durable watermark, and reads only the
   * new records. The iterator ends when the log is closed (`close` on this `Wal`), or when the
   * loop breaks out of it.
   *
   * `fromLsn` may lie past the end: the follower then yields nothing until a record starts
   * exactly there, and never a record below it. Whether it is a record boundary is known only
   * once the log reaches it: when a durable record turns out to span it, the iteration throws
   * `INVALID_ARGUMENT` (a replica resuming from the LSN it last applied plus that record's size
   * learns that it computed it wrongly).
   *
   * @param fromLsn - a record boundary at or above `head`, `len`, or an LSN past `len` where a
   * record is yet to start. @default `head`
   * @throws WalError `INVALID_ARGUMENT` for a `fromLsn` that is not a non-negative integer, lies
   * below `head` or inside a record, and from the iteration once a durable record spans a
   * `fromLsn` that was past the end; `READ_ONLY` on a log from `Wal.openReadOnly`, which sees no
   * later append; from the iteration, `CORRUPTION` as {@link Wal.iter}, `TRUNCATED` when
   * `truncateAfter` cuts records it already yielded, `POISONED` when the log fails.
   * @example
   * for await (const { lsn, data } of wal.follow()) replica.apply(lsn, data);
   */
  async *follow(fromLsn?: number): AsyncGenerator<WalRecord<T>, void, undefined> {
    this.checkReadable();
    if (this.readOnly) throw readOnlyFollow(this.parts.store.description);
    const end = this.parts.shared.written();
    let start = this.head;
    if (fromLsn !== undefined) {
      start = this.checkNotDropped(checkLsn(fromLsn, "follow", "fromLsn"), "follow");
      if (start < end) this.parts.reader.seek(start, end);
    }
    const source = {
      shared: this.parts.shared,
      reader: this.parts.reader,
      lifecycle: this.parts.lifecycle,
      head: () => this.parts.store.head ?? 0,
    };
    yield* follow(source, start, end);
  }

  /**
   * The first LSN still in the log: 0 until `truncateBefore` dropped a prefix of a segmented
   * log. `iter` starts here.
   */
  get head(): number {
    this.parts.lifecycle.checkOpen();
    return this.parts.store.head ?? 0;
  }

  /**
   * Drops every record before `lsn`: the prefix a checkpoint made obsolete. On a segmented log
   * the new head is written durably (temp file, barrier, rename, directory barrier) before
   * whole leading segments are deleted, so a crash midway recovers from the right record;
   * surviving records keep their LSNs, and iteration and recovery start at the head. Every
   * record appended so far is made durable first.
   *
   * A single-file or memory log keeps its prefix and returns its head, 0, as in the Rust crate:
   * LSNs are byte offsets, so dropping a prefix of one file would mean rewriting it and moving
   * every record; only whole segment files can be dropped in place. It checks `lsn` all the
   * same, as a segmented log does, and refuses what a segmented log refuses.
   *
   * @param lsn - a record boundary: an LSN from `append`, or `len`. Below the head, nothing
   * changes (the head never moves back).
   * @returns the new head.
   * @throws WalError `INVALID_ARGUMENT`, on every store, when `lsn` is not a non-negative
   * integer, lies past `len` or inside a record, or the `Wal` is attached; `CORRUPTION` when a
   * damaged record lies between the nearest known boundary and `lsn`; `IO` (the log is then
   * poisoned); `POISONED`, `CLOSED`, `STALLED`.
   * @example const head = wal.truncateBefore(checkpointLsn);
   */
  truncateBefore(lsn: number): number {
    this.checkOwner("truncateBefore");
    const { head, changed } = truncateBefore(
      this.truncationTarget(),
      checkLsn(lsn, "truncateBefore"),
    );
    if (changed) this.truncations++;
    return head;
  }

  /**
   * Keeps the record at `lsn` and everything before it, and drops every record after it: the
   * suffix a Raft conflict invalidated. The cut is durable before this returns, so a crash can
   * never bring a dropped record back. Appends continue right after the kept record.
   *
   * Other threads' appends wait while it runs. A durable call of theirs (`appendAndSync`,
   * `commit`) for a record the cut removed throws `TRUNCATED`.
   *
   * @param lsn - the LSN of a record in the log (from `append`), at or above the head.
   * @throws WalError `INVALID_ARGUMENT` when no record starts at `lsn` or the `Wal` is
   * attached; `CORRUPTION` when the record at `lsn` is damaged; `IO` (the log is then
   * poisoned); `POISONED`, `CLOSED`, `STALLED`.
   * @example wal.truncateAfter(lastAgreedLsn);
   */
  truncateAfter(lsn: number): void {
    this.checkOwner("truncateAfter");
    const { changed } = truncateAfter(this.truncationTarget(), checkLsn(lsn, "truncateAfter"));
    if (changed) this.truncations++;
  }

  /**
   * Drains the pending commits, then releases the lock and the file.
   *
   * Commits (and `syncAsync` calls) of this `Wal` still pending are not dropped: their records
   * are written, and one barrier, shared through group commit like any other, makes them
   * durable; they then resolve. That barrier blocks this thread; `await using` (see
   * `[Symbol.asyncDispose]`) drains without blocking it. Rejecting them instead would be a
   * lie the other way: their records would be in the log after a reopen, and a caller that
   * retried would write them twice. Only when that barrier fails do they reject, with its `IO`
   * error (the record is then not known to be durable); `close` itself does not throw for it.
   *
   * With no commit pending, `close` adds no barrier: records appended since the last `sync`
   * are as safe as after a process crash (kept by the OS, not yet on stable storage).
   * Idempotent; every other call afterwards throws `CLOSED`, and so does a commit made once
   * `close` has started (its record is not written).
   *
   * On a shared log, the owner's `close` first waits for other threads' writes and barriers in
   * flight, then ends the log for every attached `Wal`. If a writer is stuck mid-write for
   * `stallTimeout` (its Worker died), the file and its lock stay open until the process exits,
   * rather than risk a late write landing in another file that reuses the descriptor. An
   * attached `Wal`'s `close` only detaches it.
   */
  close(): void {
    const lifecycle = this.parts.lifecycle;
    if (lifecycle.isClosed) return;
    const reason = this.parts.shared.isClosed ? closed() : this.parts.commits.drain(closed());
    // From here the rounds in flight reject with `reason`; each waiting commit then checks
    // whether its record is durable, and resolves if it is (see `CommitQueue.joinRound`).
    lifecycle.closeReason = reason;
    lifecycle.isClosed = true;
    // The owner first waits for every thread's write and barrier in flight: once it closes
    // the descriptor, the number may name another file, and a late write would land there.
    // A writer stuck mid-write past `stallTimeout` (its Worker died) keeps the descriptor open.
    const idle = lifecycle.attached || this.parts.shared.close();
    this.parts.commits.stop(reason);
    if (idle) this.parts.store.close();
  }

  /** `using wal = Wal.open(...)` closes the log at the end of the scope; see {@link Wal.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * `await using wal = Wal.open(...)` drains and closes the log at the end of the scope without
   * blocking the event loop: the pending commits (and `syncAsync` calls) of this `Wal` are
   * made durable by a barrier run off this thread, as `commit`'s are, and resolve; then it
   * closes as {@link Wal.close} does, which then has nothing left to make durable. When that
   * barrier fails, they reject with its `IO` error, and the log is closed all the same; the
   * returned promise does not reject for it.
   * @example
   * {
   *   await using wal = Wal.open("app.wal");
   *   void wal.commit("last words"); // resolves: the scope's end drains it
   * }
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.parts.commits.drainAsync();
    this.close();
  }

  /**
   * What `value` is stored as: itself without a codec (bytes or a string, checked when it is
   * framed), its encoding with one. `call` (and `element`) name it in errors.
   */
  private encoded(value: WalInput<T>, call: string, element?: number): unknown {
    return this.parts.codec === undefined
      ? value
      : encodeWith(this.parts.codec, value as T, call, element);
  }

  /** `lsn` when the log still holds it; otherwise an `INVALID_ARGUMENT` naming `call`. */
  private checkNotDropped(lsn: number, call: string): number {
    const head = this.head;
    if (lsn < head) {
      throw invalidArgument(
        `${call}(${lsn}): the log starts at ${head}; the records before it were dropped`,
      );
    }
    return lsn;
  }

  /** What a truncation of this log reads, cuts and tells. */
  private truncationTarget(): TruncationTarget {
    return {
      shared: this.parts.shared,
      writer: this.parts.writer,
      store: this.parts.store,
      index: this.parts.index,
      reader: this.parts.reader as Reader<unknown>,
      lifecycle: this.parts.lifecycle,
    };
  }

  // The precondition of every call but `commit`, `head` and `share`: the check its kind of call
  // needs, then the staged commits written (commit-queue.ts), so that records of this thread
  // get LSNs in call order whatever the call. `commit` stages and must not write what it
  // stages; `head` and `share` neither read nor write records.

  /** Open, with staged commits written. */
  private checkOpen(): void {
    this.parts.lifecycle.checkOpen();
    this.parts.commits.flush();
  }

  /** May write, with staged commits written. */
  private checkWritable(call: string): void {
    this.parts.lifecycle.checkWritable(call);
    this.parts.commits.flush();
  }

  /** May read, with staged commits written. */
  private checkReadable(): void {
    this.parts.lifecycle.checkReadable();
    this.parts.commits.flush();
  }

  /** May truncate (the owner, writable), with staged commits written. */
  private checkOwner(call: string): void {
    this.parts.lifecycle.checkOwner(call);
    this.parts.commits.flush();
  }
}

/**
 * `lsn` when it is a non-negative integer; otherwise an `INVALID_ARGUMENT` naming `call` and
 * its argument `name`.
 */
function checkLsn(lsn: number, call: string, name = "lsn"): number {
  if (!Number.isSafeInteger(lsn) || lsn < 0) {
    throw invalidArgument(
      `${call}: ${name} must be a non-negative integer LSN (one that append returned, or len), ` +
        `got ${describeValue(lsn)}`,
    );
  }
  return lsn;
}
