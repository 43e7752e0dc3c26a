/**
 * @module
 * `Wal`: open (with recovery), append, sync, iterate, truncate either end, close: a facade
 * whose methods check their preconditions and delegate to the parts of parts.ts (see
 * docs/ARCHITECTURE.md). The durability contract lives in README.md and
 * docs/ON_DISK_FORMAT.md; in short, `append` returns once the bytes are in the OS page cache,
 * and `sync` returns once everything appended before it is on stable storage.
 */

import { type ArchivedLog, type ArchiveOptions, LogArchiver } from "./archive/archiver.ts";
import { type PruneOptions, type PruneReport, pruneArchive } from "./archive/prune.ts";
import { type RestoreOptions, type RestoreReport, restoreArchive } from "./archive/restore.ts";
import { type Codec, encodeWith } from "./codec.ts";
import { describeValue, invalidArgument, readOnlyLog } from "./errors.ts";
import { handleFields, joinLog, makeHandle, type WalHandle } from "./handle.ts";
import { checkLsn } from "./lsn.ts";
import { resolveOptions, type WalOptions } from "./options.ts";
import {
  assembleOrClose,
  assembleParts,
  closeParts,
  type LogParts,
  refuseZeroFillOfSegments,
} from "./parts.ts";
import type { RecoveryReport } from "./recovery.ts";
import { type WalStats, walStats } from "./stats.ts";
import { attachStore, checkStore, openStore, opensSegments } from "./store/index.ts";
import { SegmentedStore } from "./store/segmented.ts";
import type { WalStore } from "./store/store.ts";
import { cutAfter, truncateAfter, truncateBefore } from "./truncation.ts";
import { WalReads } from "./wal-reads.ts";

export type { WalHandle } from "./handle.ts";
export type { WalRecord } from "./reader.ts";
export type { WalStats } from "./stats.ts";
export type { RecordRange } from "./wal-reads.ts";

/**
 * What `append`, `commit` and `appendBatch` take for a record of type `T`: the value, or for
 * plain byte records (no codec) bytes or a string, stored as UTF-8.
 */
export type WalInput<T> = [T] extends [Uint8Array] ? Uint8Array | string : T;

/** What every kind of handle has: where the log is, its bounds and counters, and `close`. */
type EveryHandle =
  | "path"
  | "recovery"
  | "readOnly"
  | "len"
  | "size"
  | "isEmpty"
  | "head"
  | "stats"
  | "close"
  | typeof Symbol.dispose
  | typeof Symbol.asyncDispose;

/**
 * A log opened with {@link Wal.openReadOnly}: it reads, and has none of the calls that would
 * write, sync, truncate, share or follow (they would throw `READ_ONLY`).
 */
export type ReadOnlyWal<T = Uint8Array> = Pick<
  Wal<T>,
  | EveryHandle
  | "iter"
  | "values"
  | typeof Symbol.iterator
  | "iterFrom"
  | "iterAsync"
  | "last"
  | "checksum"
>;

/**
 * A `Wal` joined from another thread with {@link Wal.attach}: it appends, commits and syncs,
 * and has none of the calls that read or truncate (the owner does those).
 */
export type AttachedWal<T = Uint8Array> = Pick<
  Wal<T>,
  EveryHandle | "append" | "appendAndSync" | "appendBatch" | "commit" | "sync" | "syncAsync"
>;

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
export class Wal<T = Uint8Array> extends WalReads<T> {
  /**
   * What recovery found when this log was opened (for an attached `Wal`, the owner's). For a
   * log opened with {@link Wal.openReadOnly}, what `Wal.open` would find and cut: nothing was.
   */
  readonly recovery: RecoveryReport;
  /** `truncateBefore` and `truncateAfter` calls of this `Wal` that changed the log. */
  #truncations = 0;
  /** The archiver shipping this log to an object store, while one runs. */
  #archiver: LogArchiver | undefined;

  private constructor(parts: LogParts<T>, readOnly: boolean) {
    super(parts, readOnly);
    this.recovery = parts.recovery;
  }

  /**
   * Opens the log at `path` (created if needed), takes its exclusive lock and recovers it: the
   * torn tail a crash left (by default, everything from the first invalid record on; see
   * `onCorruption`) is cut, and the cut and the surviving records are durable before it
   * returns. With `segmentSize` (at least 4 KiB), `path` is a new or existing directory of
   * segment files; an existing one opens without it once its segments show their size. See
   * docs/API.md.
   * @param path - the log file, or the segments' directory; its parent directory must exist.
   * @throws WalError `LOCKED` while another `Wal` (any process) has it open; `NOT_A_LOG` (nothing
   * changed) for a path that is not a log; `NOT_FOUND`; `INVALID_ARGUMENT`;
   * `SEGMENT_SIZE_MISMATCH`; `CORRUPTION`; `IO`; `UNSUPPORTED_PLATFORM` before anything is created.
   * @example const wal = Wal.open("app.wal", { maxRecordSize: 1 << 20 });
   * @example const wal = Wal.open("wal-dir", { segmentSize: 64 * 1024 * 1024 });
   */
  static open<T = Uint8Array>(path: string, options?: WalOptions<T>): Wal<T> {
    const resolved = resolveOptions(options);
    // Checked before the store is opened: a segmented open may create its directory, or the
    // LOCK file of one the Rust crate wrote (its size then read from its files).
    if (opensSegments(path, { segmentSize: resolved.segmentSize })) {
      refuseZeroFillOfSegments(resolved.preallocate);
    }
    const { segmentSize, create, stallTimeout } = resolved;
    const store = openStore(path, { segmentSize, create, stallTimeout });
    return new Wal<T>(assembleOrClose(store, resolved, false), false);
  }

  /**
   * Opens the log at `path` for reading only, as an inspector, replica or backup reads a log a
   * writer may hold open: no lock, descriptors that cannot write, nothing cut, synced or
   * created. `recovery` reports what an open would cut, and `iter` reads up to `recovery.end`;
   * every write, sync, truncation and `share` throws `READ_ONLY`.
   * @param options - those of {@link Wal.open} that shape reading (`segmentSize`,
   * `maxRecordSize`, `recovery`, `onCorrupt`, `onCorruption`, `replay`).
   * @throws WalError `NOT_FOUND` when the log does not exist; otherwise as {@link Wal.open},
   * with nothing changed.
   * @example
   * using reader = Wal.openReadOnly("app.wal");
   * for (const { lsn, data } of reader.iter()) console.log(lsn, data.length);
   */
  static openReadOnly<T = Uint8Array>(path: string, options?: WalOptions<T>): ReadOnlyWal<T> {
    const resolved = resolveOptions(options);
    const store = openStore(path, { segmentSize: resolved.segmentSize, readOnly: true });
    return new Wal<T>(assembleOrClose(store, resolved, true), true);
  }

  /**
   * Opens a log over any {@link WalStore} (a `MemoryStore`, a fault-injecting test store),
   * recovering it as {@link Wal.open} does; the `Wal` owns and closes the store.
   * @example const wal = Wal.withStore(new MemoryStore());
   */
  static withStore<T = Uint8Array>(store: WalStore, options?: WalOptions<T>): Wal<T> {
    const resolved = resolveOptions(options);
    checkStore(store);
    return new Wal<T>(assembleParts(store, resolved, false), false);
  }

  /**
   * Joins, from another thread, a log shared with {@link Wal.share}: same file and LSN space,
   * appends and barriers shared with every thread. It writes but does not read (iterate from
   * the owner); its `close` detaches it, the owner's ends the log for every thread.
   * @param handle - a handle from `share()`, received through `postMessage`.
   * @throws WalError `INVALID_ARGUMENT` when `handle` is not one; `CLOSED` when its owner has
   * closed the log.
   * @example
   * self.onmessage = ({ data }) => Wal.attach(data).appendAndSync("from a worker");
   */
  static attach<T = Uint8Array>(handle: WalHandle, options?: { codec?: Codec<T> }): AttachedWal<T> {
    const fields = handleFields(handle);
    const resolved = resolveOptions({
      maxRecordSize: fields.maxRecordSize,
      stallTimeout: fields.stallTimeout,
      maxPendingCommits: fields.maxPendingCommits,
      preallocate: fields.preallocate,
      codec: options?.codec,
    });
    const joined = joinLog(fields, resolved.stallTimeout);
    const { shared, recovery } = joined;
    const store = attachStore(joined.store, resolved.stallTimeout);
    return new Wal<T>(assembleParts(store, resolved, false, { shared, recovery }), false);
  }

  /**
   * A handle another thread passes to {@link Wal.attach} to append to this log in parallel.
   * It is plain data (structured-cloneable); send it with `postMessage`.
   * @throws WalError `INVALID_ARGUMENT` unless the log was opened with `Wal.open` (a single file
   * or a segmented directory: a store in this thread's memory cannot be reached from another
   * thread).
   * @example
   * const worker = new Worker("./writer.ts");
   * worker.postMessage(wal.share());
   */
  share(): WalHandle {
    this.parts.lifecycle.checkOpen();
    if (this.readOnly) throw readOnlyLog("share", this.parts.store.description);
    if (this.parts.share === null) {
      throw invalidArgument(
        "share() needs a log opened with Wal.open: other threads reach it through its files' " +
          "descriptors, and a store in this thread's memory (Wal.withStore) has none",
      );
    }
    const options = {
      maxRecordSize: this.parts.appender.maxRecordSize,
      stallTimeout: this.parts.shared.stallTimeout,
      maxPendingCommits: this.parts.maxPendingCommits,
      preallocate: this.parts.preallocate,
    };
    return makeHandle(this.parts.shared, this.parts.share, options, this.recovery);
  }

  /**
   * Appends one record and returns its LSN, once the bytes are in the OS page cache: a process
   * crash keeps it, a power loss may not until {@link Wal.sync}.
   * @param value - bytes, or a string stored as UTF-8 (may be empty); with a `codec`, its value.
   * @returns the record's LSN, the byte offset where its frame starts.
   * @throws WalError `RECORD_TOO_LARGE` or `INVALID_ARGUMENT` with nothing written; `IO` when
   * the write fails, which also poisons the log; `POISONED`, `CLOSED`, `LOG_FULL`; `STALLED` on
   * a shared segmented log when the segment before the record's never fills for `stallTimeout`
   * (a Worker died holding bytes of it), which poisons the log.
   */
  append(value: WalInput<T>): number {
    this.checkWritable("append");
    return this.parts.appender.append(this.encoded(value, "append"));
  }

  /**
   * The durability barrier: returns once every record appended before the call is on stable
   * storage (`fdatasync`, `F_FULLFSYNC`, `FlushFileBuffers`); at once when nothing is new. A
   * macOS file system that refuses `F_FULLFSYNC` gets plain `fsync`, counted in
   * `stats().weakBarriers`.
   * @throws WalError `IO` when the barrier fails, which poisons the log (reopen it: the kernel
   * may have dropped the unsynced pages); `POISONED`, `CLOSED`.
   */
  sync(): void {
    this.checkWritable("sync");
    this.parts.commits.syncTo(this.parts.shared.reserved, null);
  }

  /** {@link Wal.append}, then durable with everything before it: {@link Wal.sync}. */
  appendAndSync(data: WalInput<T>): number {
    const lsn = this.append(data);
    const { lastWriteEnd, cutsAtLastWrite } = this.parts.appender;
    this.parts.commits.syncTo(lastWriteEnd, cutsAtLastWrite);
    return lsn;
  }

  /**
   * Appends one record and resolves once it is durable, without blocking the event loop:
   * concurrent commits share one write and one barrier (group commit), run off this thread.
   * Any other call of this `Wal` writes staged commits first, so one thread's records keep
   * call order. Past `maxPendingCommits` pending commits, a new one first waits for a barrier.
   * A commit pending at `close` is drained and resolves. See docs/API.md.
   * @returns the record's LSN, once it is durable.
   * @throws (rejects with) WalError as {@link Wal.append} and {@link Wal.sync}; `CLOSED` for a
   * commit made once `close` started (its record not written).
   * @example const lsn = await wal.commit(JSON.stringify(change));
   */
  commit(data: WalInput<T>): Promise<number> {
    // Not `async`: the queue's own promise, checks and all, saves every commit one.
    return this.parts.commits.commit(() =>
      this.parts.appender.payloadOf(this.encoded(data, "commit"), "commit"),
    );
  }

  /**
   * {@link Wal.sync} without blocking the event loop, sharing barriers with every concurrent
   * sync and commit; drained by `close` as a commit is.
   */
  async syncAsync(): Promise<void> {
    this.checkWritable("syncAsync");
    await this.parts.commits.syncAsync();
  }

  /**
   * Appends many records with one reservation and (up to 4 MiB of frames) one write: the
   * fastest way to log a batch. Every record is checked before anything is written; they get
   * consecutive LSNs, with no other thread's record between them. Durable after a `sync`.
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
    return this.parts.appender.appendBatch(records, (value, index) =>
      this.encoded(value as WalInput<T>, "appendBatch", index),
    );
  }

  /**
   * Counters of the whole log, summed over every thread: records and bytes written, barriers
   * issued (far fewer than durable calls, with group commit), and `weakBarriers`, those that
   * were plain `fsync` because the file system refused the full one (0 on Linux and Windows).
   * @example const { appends, barriers, weakBarriers } = wal.stats();
   */
  stats(): WalStats {
    this.checkOpen();
    return walStats(this.parts, this.#truncations);
  }

  /**
   * Drops every record before `lsn`, the prefix a checkpoint made obsolete. On a segmented log
   * the new head is made durable before whole leading segments are deleted, and every record
   * appended so far is made durable first; surviving records keep their LSNs. A single-file or
   * memory log keeps its prefix and returns 0 (LSNs are offsets: only whole files can go),
   * after checking `lsn` as a segmented log would.
   * @param lsn - a record boundary (an LSN from `append`, or `len`); below the head, no change.
   * @returns the new head.
   * @throws WalError `INVALID_ARGUMENT` for an `lsn` past `len` or inside a record, or on an
   * attached `Wal`; `CORRUPTION`; `IO` (the log is then poisoned); `POISONED`, `CLOSED`, `STALLED`.
   * @example const head = wal.truncateBefore(checkpointLsn);
   */
  truncateBefore(lsn: number): number {
    this.checkOwner("truncateBefore");
    const { head, changed } = truncateBefore(this.parts, checkLsn(lsn, "truncateBefore"));
    if (changed) this.#truncations++;
    return head;
  }

  /**
   * Keeps the record at `lsn` and everything before it, and drops every record after it (the
   * suffix a Raft conflict invalidated), durably before it returns. Other threads' appends wait
   * meanwhile; their durable calls for a record it removed throw `TRUNCATED`.
   * @param lsn - the LSN of a record in the log, at or above the head.
   * @throws WalError `INVALID_ARGUMENT` when no record starts at `lsn` or the `Wal` is attached;
   * `CORRUPTION`; `IO` (the log is then poisoned); `POISONED`, `CLOSED`, `STALLED`.
   * @example wal.truncateAfter(lastAgreedLsn);
   */
  truncateAfter(lsn: number): void {
    this.checkOwner("truncateAfter");
    const guard = (cut: number) => this.#archiver?.checkCut(cut);
    if (truncateAfter(this.parts, checkLsn(lsn, "truncateAfter"), guard)) this.#truncations++;
  }

  /**
   * Starts archiving this segmented log to an S3-compatible store: each sealed segment once,
   * as soon as it is durable, the durable part of the active one at most every `interval`, the
   * head when it moves; nothing that is not durable. While it runs, `truncateBefore` keeps every segment not uploaded yet, and
   * `truncateAfter` below what the archive holds is refused (the archiver's own cuts the
   * archive first). Failed uploads retry with backoff and never affect the log. See
   * docs/ARCHIVE.md.
   * @returns the running archiver, once it has read what the archive already holds.
   * @throws WalError `INVALID_ARGUMENT` for a single-file or memory log (archiving needs
   * segments), a second archiver, or bad options; `ARCHIVE_MISMATCH` when the prefix holds
   * another log's archive; `CORRUPTION`; `ARCHIVE` when the store fails; `CLOSED`.
   * @example
   * const archiver = await wal.archive({ to: "s3://backups/orders", interval: 1000 });
   */
  async archive(options: ArchiveOptions): Promise<LogArchiver> {
    this.checkOwner("archive");
    const { store } = this.parts;
    if (!(store instanceof SegmentedStore)) {
      throw invalidArgument(
        `archiving needs a segmented log, and ${this.path} is not one: open a directory with ` +
          "Wal.open(dir, { segmentSize }); the archive ships its sealed segments",
      );
    }
    if (this.#archiver !== undefined)
      throw invalidArgument(`${this.path} already has an archiver: close it first`);
    return await LogArchiver.start(this.#archivedLog(store), options);
  }

  /**
   * Restores a log archived with {@link Wal.archive} into a new directory: to the newest point,
   * or to the last whole record at or below `untilLsn`. Every object is checked against its
   * length and CRC-32C and every record against its own; the log is written beside `to` and
   * renamed into place, so a failed restore leaves `to` as it was. Open it with `Wal.open(to)`.
   * @throws WalError `INVALID_ARGUMENT` when `to` holds anything; `NOT_FOUND` when no archive
   * is there; `CORRUPTION` naming a missing or damaged object; `ARCHIVE`; `IO`.
   * @example
   * await Wal.restore({ from: "s3://backups/orders", to: "restored" });
   */
  static restore(options: RestoreOptions): Promise<RestoreReport> {
    return restoreArchive(options);
  }

  /**
   * Deletes the archive's objects that only restores to points below `beforeLsn` need: remote
   * retention, which nothing does unasked. The archive is cut at its newest head at or below
   * `beforeLsn`; restores to that head and every later point read what they read before. Safe
   * beside a running archiver.
   * @throws WalError `INVALID_ARGUMENT` for bad options; `NOT_FOUND` when no archive is there;
   * `ARCHIVE` when the store fails (call again).
   * @example
   * const { head } = await Wal.pruneArchive({ from: "s3://backups/orders", beforeLsn: 1 << 30 });
   */
  static pruneArchive(options: PruneOptions): Promise<PruneReport> {
    return pruneArchive(options);
  }

  /**
   * Drains the pending commits (and `syncAsync` calls): their records are written and made
   * durable by one shared barrier, and they resolve, or reject with its `IO` error when it
   * fails. Then it releases the lock and the file. With nothing pending it adds no barrier.
   * Idempotent; every later call throws `CLOSED`. The owner's `close` ends a shared log for
   * every attached `Wal`, after their writes in flight. See docs/API.md.
   */
  close(): void {
    this.#archiver?.detached();
    if (!this.parts.lifecycle.isClosed) closeParts(this.parts);
  }

  /** `using wal = Wal.open(...)` closes the log at the end of the scope; see {@link Wal.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * `await using wal = Wal.open(...)`: drains the pending commits with the barrier off this
   * thread, then closes as {@link Wal.close} does. Never rejects for a failed drain: the
   * commits it covered reject with its error.
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

  /** `console.log(wal)`: where the log is, its layout and bounds, and its state. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    const { lifecycle, store, share } = this.parts;
    const state = lifecycle.state;
    const layout = store.head !== undefined ? "segments" : share !== null ? "file" : "store";
    const bounds = state === "closed" ? "" : `, len: ${this.len}, head: ${this.head}`;
    return `Wal { path: ${JSON.stringify(this.path)}, layout: "${layout}"${bounds}, state: "${state}" }`;
  }

  /** What the archiver reads of this log, and the calls it makes. */
  #archivedLog(store: SegmentedStore): ArchivedLog {
    const { parts } = this;
    return {
      store,
      durable: () => parts.shared.durable,
      checkOpen: () => this.checkOpen(),
      cutAfter: (lsn) => cutAfter(parts, checkLsn(lsn, "truncateAfter"), parts.shared.durable),
      truncateAfter: (lsn) => this.truncateAfter(lsn),
      releaseLeftovers: () => this.truncateBefore(this.head),
      attach: (archiver) => {
        this.#archiver = archiver;
      },
      detach: (archiver) => {
        if (this.#archiver === archiver) this.#archiver = undefined;
      },
    };
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
}
