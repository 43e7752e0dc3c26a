/**
 * @module
 * `Wal`: open (with recovery), append, sync, iterate, truncate either end, close. The durability contract lives in
 * README.md and docs/ON_DISK_FORMAT.md; in short, `append` returns once the bytes are in the OS
 * page cache, and `sync` returns once everything appended before it is on stable storage.
 */

import { RecordBoundaries } from "./boundaries.ts";
import { type Codec, decodeWith, encodeWith } from "./codec.ts";
import { type Barrier, SharedLog, type SharedStats } from "./commit.ts";
import { COMMIT_STAGING_LIMIT, CommitStaging } from "./commit-staging.ts";
import { crc32c } from "./crc32c.ts";
import {
  CorruptionError,
  closed,
  describeValue,
  followerCut,
  invalidArgument,
  notFollowable,
  poisoned,
  readOnlyFollow,
  readOnlyLog,
  recordTooLarge,
  WalError,
} from "./errors.ts";
import {
  checkInteger,
  DEFAULT_PREALLOCATE,
  type ResolvedOptions,
  resolveOptions,
  type WalOptions,
} from "./options.ts";
import type { BarrierStrength } from "./platform/platform.ts";
import {
  HEADER_SIZE,
  LENGTH_OFFSET,
  RecordScanner,
  readU32,
  Scan,
  sealFrame,
  writeHeader,
} from "./record.ts";
import { checkRecoveryReport, type RecoveryReport, recover } from "./recovery.ts";
import { FileStore } from "./store/file.ts";
import { openStore } from "./store/index.ts";
import { SegmentedStore } from "./store/segmented.ts";
import type { WalStore } from "./store/store.ts";
import { type BarrierTarget, SyncThread } from "./sync-thread.ts";
import { fillTarget, fillZeros } from "./zero-tail.ts";

/** One record read back from the log. */
export interface WalRecord<T = Uint8Array> {
  /** The record's log sequence number: the byte offset where its frame starts. */
  readonly lsn: number;
  /** The payload, a copy the caller owns; with a codec, the value it decodes to. */
  readonly data: T;
}

/**
 * What `append`, `commit` and `appendBatch` take for a record of type `T`: the value, or for
 * plain byte records (no codec) bytes or a string, stored as UTF-8.
 */
export type WalInput<T> = [T] extends [Uint8Array] ? Uint8Array | string : T;

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
  /** The owner's file descriptor, valid in every thread of the process. */
  readonly fd: number;
  readonly path: string;
  readonly maxRecordSize: number;
  readonly stallTimeout: number;
  readonly maxPendingCommits: number;
  /** Zero-filled bytes kept past the last record; every thread fills the same way. */
  readonly preallocate: number;
  /** The owner's recovery report. */
  readonly recovery: RecoveryReport;
}

const HANDLE_KIND = "wal-db/handle";

/** Payloads up to this size are copied next to their header and written with one call. */
const SCRATCH_PAYLOAD_SIZE = 64 * 1024;

/**
 * `appendBatch` frames records into a buffer of at most this size and writes it whole: large
 * enough that the write's fixed cost vanishes per record, small enough to keep per `Wal`.
 */
const BATCH_STAGING_SIZE = 4 * 1024 * 1024;

/**
 * How long a follower sleeps before it looks at the durable watermark again, in case the
 * wake-up from another thread was lost (see `SharedLog.durableBeyond`). A load, not a read.
 */
const FOLLOW_RECHECK_MS = 50;

const utf8 = new TextEncoder();

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

  private readonly store: WalStore;
  private readonly maxRecordSize: number;
  private readonly maxPendingCommits: number;
  private readonly recoveryPolicy: ResolvedOptions["recovery"];
  private readonly onCorrupt: ResolvedOptions["onCorrupt"];
  private readonly onSlowSync: ResolvedOptions["onSlowSync"];
  /** `stats().slowSyncs` when this `Wal` last called `onSlowSync`. */
  private slowSyncsReported = 0;
  private truncations = 0;
  private corruptionsSeen = 0;
  /** How values become payloads; undefined for payloads as they are (the fast path). */
  private readonly codec: Codec<T> | undefined;
  /** Known record starts, from the head on; replaced when the head moves. */
  private boundaries: RecordBoundaries;
  /** The state every thread of this log shares: offsets, watermarks, barrier token, counters. */
  private readonly shared: SharedLog;
  /** This `Wal`'s name among the log's threads; also where it starts looking for a write slot. */
  private readonly id: number;
  /** True for a `Wal` made by `attach`: it does not own the file and cannot read it. */
  private readonly attached: boolean;
  private readonly barrier: Barrier;
  /** The file another thread can attach to, or null unless this is a single-file log. */
  private readonly descriptor: { readonly fd: number; readonly path: string } | null;
  /** Where a sync thread runs this log's barriers, or null for a store only this thread can. */
  private readonly barrierTarget: BarrierTarget | null;
  /** Zero-filled bytes kept written past the last record (0: none); see `WalOptions`. */
  private readonly preallocate: number;
  /**
   * `FILLED` as this `Wal` last saw it (rule 9 in commit.ts): bytes below it may be written
   * without filling. Good while the log's cut count is still `filledCuts`.
   */
  private filled = 0;
  private filledCuts = -1;
  /** The end of this `Wal`'s last append: what `appendAndSync` and `commit` wait for. */
  private lastEnd = 0;
  /** How many cuts the log had seen when that append was written (see `SharedLog.goal`). */
  private lastCuts = 0;
  /** The error this `Wal` saw that poisoned the log; other threads see it through `shared`. */
  private failure: unknown;
  private isClosed = false;
  /**
   * What a barrier round cut short by `close` rejects with: `CLOSED`, or the error of the
   * barrier `close` ran to drain the pending commits. Set by `close`.
   */
  private closeReason: unknown;
  /** The barrier round of `commit`/`syncAsync` in flight, which later callers join. */
  private round: Promise<void> | undefined;
  /** Commits of this thread waiting for durability; bounded by `maxPendingCommits`. */
  private pendingCommits = 0;
  /** `syncAsync` calls of this thread waiting for durability; `close` drains them too. */
  private pendingSyncs = 0;
  /** Runs async barriers of a file log off this thread; started on first use. */
  private syncThread: SyncThread | undefined;
  /** Frame under construction: header, then payload; reused by every small append. */
  private readonly scratch = new Uint8Array(HEADER_SIZE + SCRATCH_PAYLOAD_SIZE);
  private readonly scratchPayload = this.scratch.subarray(HEADER_SIZE);
  /** The commits of this thread framed but not yet written; see commit-staging.ts. */
  private readonly commits = new CommitStaging();
  /** Where `appendBatch` frames records; grows on demand up to `BATCH_STAGING_SIZE`. */
  private staging = new Uint8Array(0);

  private constructor(
    store: WalStore,
    options: ResolvedOptions,
    joining?: { shared: SharedLog; recovery: RecoveryReport },
    readOnly = false,
  ) {
    this.store = store;
    this.readOnly = readOnly;
    this.maxRecordSize = options.maxRecordSize;
    this.maxPendingCommits = options.maxPendingCommits;
    this.recoveryPolicy = options.recovery;
    this.onCorrupt = options.onCorrupt;
    this.codec = options.codec as Codec<T> | undefined;
    this.onSlowSync = options.onSlowSync;
    this.boundaries = new RecordBoundaries(store.head ?? 0);
    this.attached = joining !== undefined;
    this.preallocate = preallocationFor(store, options.preallocate);
    this.recovery =
      joining?.recovery ??
      recover(
        store,
        {
          maxRecordSize: options.maxRecordSize,
          preallocate: this.preallocate,
          policy: options.recovery,
          onCorruption: options.onCorruption,
          readOnly,
          singleFile: !(store instanceof SegmentedStore),
          codec: options.codec,
          replay: options.replay,
        },
        this.boundaries,
      );
    this.shared =
      joining?.shared ?? SharedLog.create(this.recovery.end, this.store.size, options.stallTimeout);
    this.id = this.shared.newId();
    if (joining === undefined) this.shared.slowSyncThreshold = options.slowSyncThreshold;
    this.corruptionsSeen = this.recovery.damagedRegions + (this.recovery.bytesDropped > 0 ? 1 : 0);
    // A store that says nothing of its barrier has only the one (a memory or test store).
    this.barrier = (from, to) => this.store.sync(from, to) ?? "full";
    this.descriptor = store instanceof FileStore ? store.shareable() : null;
    this.barrierTarget =
      this.descriptor !== null
        ? { kind: "file", ...this.descriptor }
        : store instanceof SegmentedStore
          ? store.barrierTarget()
          : null;
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
      return new Wal<T>(store, resolved);
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
      return new Wal<T>(store, resolved, undefined, true);
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
    return new Wal<T>(store, resolved);
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
    const fields = (typeof handle === "object" && handle !== null ? handle : {}) as Record<
      string,
      unknown
    >;
    if (fields.kind !== HANDLE_KIND || fields.version !== 1) {
      throw invalidArgument(`attach takes a handle from wal.share(), got ${describeValue(handle)}`);
    }
    const resolved = resolveOptions({
      maxRecordSize: fields.maxRecordSize,
      stallTimeout: fields.stallTimeout,
      maxPendingCommits: fields.maxPendingCommits,
      preallocate: fields.preallocate,
      codec: options?.codec,
    });
    const shared = SharedLog.attach(fields.buffer, resolved.stallTimeout);
    if (shared === null) throw invalidArgument("the handle's buffer is not a wal-db shared state");
    const fd = checkInteger("the handle's fd", fields.fd, 0, 2 ** 31 - 1);
    if (typeof fields.path !== "string") throw invalidArgument("the handle's path is missing");
    const recovery = checkRecoveryReport(fields.recovery);
    if (shared.isClosed) throw closed();
    return new Wal<T>(FileStore.attach(fd, fields.path), resolved, { shared, recovery });
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
    this.checkOpen();
    if (this.readOnly) throw readOnlyLog("share", this.store.description);
    const descriptor = this.descriptor;
    if (descriptor === null) {
      throw invalidArgument(
        "share() needs a single-file log opened with Wal.open: other threads reach the log " +
          "through its file descriptor (a segmented log, or a store in this thread's memory, " +
          "cannot be shared yet)",
      );
    }
    return {
      kind: HANDLE_KIND,
      version: 1,
      buffer: this.shared.buffer,
      fd: descriptor.fd,
      path: descriptor.path,
      maxRecordSize: this.maxRecordSize,
      stallTimeout: this.shared.stallTimeout,
      maxPendingCommits: this.maxPendingCommits,
      preallocate: this.preallocate,
      recovery: this.recovery,
    };
  }

  /**
   * Logical size in bytes: every record below it is whole. With no append in flight in
   * another thread, it is the LSN the next `append` will return.
   */
  get len(): number {
    this.checkOpen();
    this.writeStagedCommits();
    return this.shared.written();
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
    this.writeStagedCommits();
    return this.appendPayload(this.payloadValue(value, "append"));
  }

  /** Appends `data`, bytes or a string (already encoded by the codec, if any). */
  private appendPayload(data: unknown): number {
    // One UTF-16 unit never takes more than three UTF-8 bytes.
    if (typeof data === "string" && data.length * 3 <= SCRATCH_PAYLOAD_SIZE) {
      const { written } = utf8.encodeInto(data, this.scratchPayload);
      this.checkSize(written);
      return this.appendScratch(written);
    }
    if (data instanceof Uint8Array && data.length <= SCRATCH_PAYLOAD_SIZE) {
      this.checkSize(data.length);
      this.scratchPayload.set(data);
      return this.appendScratch(data.length);
    }
    return this.appendApart(this.payloadOf(data, "append"));
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
    this.writeStagedCommits();
    this.syncTo(this.shared.reserved, null);
  }

  /**
   * Appends one record and makes it durable: {@link Wal.append} then {@link Wal.sync}. Returns
   * once the record, and everything appended before it, is on stable storage.
   * @returns the record's LSN.
   */
  appendAndSync(data: WalInput<T>): number {
    const lsn = this.append(data);
    this.syncTo(this.lastEnd, this.lastCuts);
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
    this.checkWritable("commit");
    while (this.pendingCommits >= this.maxPendingCommits) await this.nextRound();
    const payload = this.payloadOf(this.payloadValue(data, "commit"), "commit");
    const size = HEADER_SIZE + payload.length;
    if (size > SCRATCH_PAYLOAD_SIZE) return this.commitApart(payload);
    const staged = this.commits;
    if (staged.bytes + size > COMMIT_STAGING_LIMIT) this.writeStagedCommits();
    const offset = staged.stage(payload);
    const batch = staged.batch;
    this.pendingCommits++;
    try {
      // The round writes what is staged before it reads its target; a round already past
      // that point resolves first, and the next one writes this batch.
      const durable = () =>
        batch.lsn >= 0 &&
        this.shared.durable >= this.shared.goal(batch.lsn + offset + size, batch.cuts);
      while (batch.lsn < 0) {
        if (batch.error !== undefined) throw batch.error;
        try {
          await this.joinRound(durable);
        } catch (error) {
          // A batch whose write failed (in a round, or in `close`) fails with that write's error.
          throw batch.error ?? error;
        }
      }
      const lsn = batch.lsn + offset;
      await this.durableAsync(lsn + size, batch.cuts);
      return lsn;
    } finally {
      this.pendingCommits--;
    }
  }

  /** A commit too large to stage: written on its own, after whatever is staged. */
  private async commitApart(payload: Uint8Array): Promise<number> {
    this.writeStagedCommits();
    const lsn = this.appendPayload(payload);
    this.pendingCommits++;
    try {
      await this.durableAsync(this.lastEnd, this.lastCuts);
    } finally {
      this.pendingCommits--;
    }
    return lsn;
  }

  /**
   * The durability barrier without blocking the event loop: resolves once every record
   * appended before the call, by any thread, is on stable storage. Shares barriers with every
   * concurrent sync and commit. One still pending at `close` is drained as a commit is.
   * @throws (rejects with) WalError as {@link Wal.sync}.
   */
  async syncAsync(): Promise<void> {
    this.checkWritable("syncAsync");
    this.writeStagedCommits();
    this.pendingSyncs++;
    try {
      await this.durableAsync(this.shared.reserved, null);
    } finally {
      this.pendingSyncs--;
    }
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
    this.writeStagedCommits();
    if (!Array.isArray(records)) {
      throw invalidArgument(`appendBatch takes an array, got ${describeValue(records)}`);
    }
    const count = records.length;
    const payloads: Uint8Array[] = new Array(count);
    let total = 0;
    for (let index = 0; index < count; index++) {
      const data = this.payloadValue(records[index]!, "appendBatch", index);
      // The common case inline; payloadOf encodes strings and names what is wrong.
      const payload =
        data instanceof Uint8Array && data.length <= this.maxRecordSize
          ? data
          : this.payloadOf(data, `appendBatch element ${index}`);
      payloads[index] = payload;
      total += HEADER_SIZE + payload.length;
    }
    if (count === 0) return [];
    if (this.staging.length < BATCH_STAGING_SIZE && this.staging.length < total) {
      this.staging = new Uint8Array(Math.min(BATCH_STAGING_SIZE, total));
    }
    const slot = this.shared.enter(this.id);
    const start = this.shared.reserve(slot, total);
    this.lastCuts = this.shared.cuts;
    const lsns: number[] = new Array(count);
    try {
      this.makeRoom(start, total);
      let staged = 0;
      let at = start;
      for (let index = 0; index < count; index++) {
        const payload = payloads[index]!;
        const size = HEADER_SIZE + payload.length;
        lsns[index] = at;
        if (staged + size > this.staging.length && staged > 0) {
          this.store.write(this.staging, staged, at - staged);
          staged = 0;
        }
        if (size <= this.staging.length) {
          this.staging.set(payload, staged + HEADER_SIZE);
          sealFrame(this.staging, payload.length, staged);
          staged += size;
        } else {
          this.writeApart(payload, at);
        }
        this.boundaries.observe(at, at + size);
        at += size;
      }
      if (staged > 0) this.store.write(this.staging, staged, at - staged);
    } catch (error) {
      throw this.abandon(slot, start, error);
    }
    this.shared.leave(slot, count);
    this.lastEnd = start + total;
    return lsns;
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
    this.writeStagedCommits();
    const shared = this.shared.stats();
    const segments = this.store instanceof SegmentedStore ? this.store : undefined;
    return {
      ...shared,
      recordsPerBarrier: shared.barriers === 0 ? 0 : shared.appends / shared.barriers,
      segmentsCreated: segments?.segmentsCreated ?? 0,
      segmentsDeleted: segments?.segmentsDeleted ?? 0,
      truncations: this.truncations,
      corruptionsSeen: this.corruptionsSeen,
    };
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
    this.writeStagedCommits();
    return this.walk(this.head, this.shared.written());
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
    this.writeStagedCommits();
    const end = this.shared.written();
    this.checkNotDropped(this.checkLsn(lsn, "iterFrom"), "iterFrom");
    if (lsn < end) this.seek(lsn, end);
    return this.walk(Math.min(lsn, end), end);
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
    this.writeStagedCommits();
    const end = this.shared.written();
    this.checkNotDropped(this.checkLsn(fromLsn, "checksum", "fromLsn"), "checksum");
    this.checkLsn(toLsn, "checksum", "toLsn");
    if (toLsn < fromLsn || toLsn > end) {
      throw invalidArgument(
        `checksum(${fromLsn}, ${toLsn}) needs ${fromLsn} <= toLsn <= ${end}, the end of the log`,
      );
    }
    if (fromLsn === toLsn) return 0;
    const scanner = this.seek(fromLsn, end);
    let crc = 0;
    while (scanner.offset < toLsn && this.advance(scanner, true)) {
      this.boundaries.observe(scanner.lsn, scanner.offset);
      const frameStart = scanner.payloadOffset - HEADER_SIZE;
      crc = crc32c(scanner.buffer, frameStart, scanner.payloadOffset + scanner.payloadLength, crc);
    }
    // A record running past `toLsn` means `toLsn` is inside it.
    if (scanner.offset !== toLsn) {
      throw invalidArgument(
        `toLsn ${toLsn} is not a record boundary: the record at ${scanner.lsn} runs past it`,
      );
    }
    return crc;
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
    if (this.readOnly) throw readOnlyFollow(this.store.description);
    this.writeStagedCommits();
    const end = this.shared.written();
    let start = this.head;
    if (fromLsn !== undefined) {
      start = this.checkNotDropped(this.checkLsn(fromLsn, "follow", "fromLsn"), "follow");
      if (start < end) this.seek(start, end);
    }
    /**
     * Where the next record read starts: always a record boundary, and below `start` only until
     * the records before it are read (skipped, never yielded).
     */
    let position = Math.min(start, end);
    let yielded = false;
    let cuts = this.shared.cuts;
    for (;;) {
      if (this.shared.cuts !== cuts) {
        // Only the owner cuts, and it is this thread: nothing changes between these loads.
        const cut = this.shared.lowestCutSince(cuts);
        cuts = this.shared.cuts;
        if (cut < position) {
          if (yielded) throw followerCut(cut, position);
          // Nothing the caller saw is gone: read on from the cut, below `start` again.
          position = Math.max(cut, this.store.head ?? 0);
        }
      }
      const durable = this.shared.durable;
      if (durable > position) {
        const scanner = new RecordScanner(this.store, position, durable, this.maxRecordSize);
        // A cut made while a record was yielded ends the pass: the bytes ahead may be gone.
        while (!this.isClosed && this.shared.cuts === cuts && this.advance(scanner, true)) {
          this.boundaries.observe(scanner.lsn, scanner.offset);
          if (position < start) {
            if (scanner.offset > start) throw notFollowable(start, scanner.lsn, scanner.offset);
            position = scanner.offset;
            continue;
          }
          position = scanner.offset;
          yielded = true;
          yield this.recordAt(scanner);
        }
      }
      if (this.isClosed || this.shared.isClosed) return;
      this.shared.throwIfStopped();
      if (this.shared.cuts === cuts) {
        await this.shared.durableBeyond(position, cuts, FOLLOW_RECHECK_MS);
      }
    }
  }

  /**
   * The first LSN still in the log: 0 until `truncateBefore` dropped a prefix of a segmented
   * log. `iter` starts here.
   */
  get head(): number {
    this.checkOpen();
    return this.store.head ?? 0;
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
    this.writeStagedCommits();
    this.checkLsn(lsn, "truncateBefore");
    const store = this.store;
    return this.shared.exclusive(this.id, () => {
      const end = this.shared.reservedWhileExclusive();
      const head = store.head ?? 0;
      if (lsn > end) {
        throw invalidArgument(`truncateBefore(${lsn}) is past the end of the log (${end})`);
      }
      if (lsn < head) return head;
      // Checked on every store: on one that keeps its prefix (a single file), a call that a
      // segmented log refuses must not pass and fail only after a migration.
      if (lsn < end) this.seek(lsn, end);
      if (store.truncateBefore === undefined) return head;
      if (lsn === head) {
        // Nothing moves, so nothing needs a barrier: the store only deletes what an
        // interrupted compaction left below the head.
        this.failStop(() => store.truncateBefore!(lsn));
        return lsn;
      }
      this.failStop(() => {
        // Everything written becomes durable first, so no barrier ever needs a deleted segment.
        if (this.shared.durable < end) {
          const started = performance.now();
          const strength = store.sync(this.shared.durable, end) ?? "full";
          this.shared.publishDurable(end, performance.now() - started, strength);
        }
        store.truncateBefore!(lsn);
      });
      this.boundaries = new RecordBoundaries(lsn);
      this.truncations++;
      return lsn;
    });
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
    this.writeStagedCommits();
    this.checkLsn(lsn, "truncateAfter");
    this.shared.exclusive(this.id, () => {
      const end = this.shared.reservedWhileExclusive();
      this.checkNotDropped(lsn, "truncateAfter");
      if (lsn >= end) {
        throw invalidArgument(
          `truncateAfter(${lsn}) needs the LSN of a record in the log, which ends at ${end}`,
        );
      }
      const scanner = this.seek(lsn, end);
      if (scanner.next() !== Scan.Record) throw new CorruptionError(lsn, scanner.reason);
      const cut = scanner.offset;
      if (cut === end) return;
      this.failStop(() => this.store.truncate(cut));
      this.truncations++;
      this.shared.cut(cut);
      this.boundaries.cut(cut);
    });
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
    if (this.isClosed) return;
    let reason: unknown = closed();
    if (!this.shared.isClosed) {
      // Staged commits are written first, so that the drain covers them; if that fails, they
      // reject with the failure.
      try {
        this.writeStagedCommits();
      } catch {}
      if (this.pendingCommits + this.pendingSyncs > 0) {
        // Everything this thread wrote: its pending commits lie below. A commit already
        // durable needs no barrier, and then `syncTo` issues none.
        try {
          this.syncTo(this.lastEnd, null);
        } catch (error) {
          reason = error;
        }
      }
    }
    // From here the rounds in flight reject with `reason`; each waiting commit then checks
    // whether its record is durable, and resolves if it is (see `joinRound`).
    this.closeReason = reason;
    this.isClosed = true;
    // The owner first waits for every thread's write and barrier in flight: once it closes
    // the descriptor, the number may name another file, and a late write would land there.
    // A writer stuck mid-write past `stallTimeout` (its Worker died) keeps the descriptor open.
    const idle = this.attached || this.shared.close();
    this.syncThread?.stop(reason);
    if (idle) this.store.close();
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
    try {
      while (
        !this.isClosed &&
        !this.shared.isClosed &&
        this.pendingCommits + this.pendingSyncs > 0
      ) {
        this.writeStagedCommits();
        if (this.shared.durable >= this.shared.goal(this.lastEnd, null)) break;
        await this.durableAsync(this.lastEnd, null);
      }
    } catch {
      // The commits that waited for the failed barrier reject with its error; the log is
      // poisoned, and closing it is all that is left to do.
    }
    this.close();
  }

  /**
   * Writes the commits staged in this thread, with one reservation and one write, so that they
   * get their LSNs before anything this thread does next (see commit-staging.ts). A failure
   * poisons the log and fails every commit of the batch.
   */
  private writeStagedCommits(): void {
    const staged = this.commits;
    if (staged.count === 0) return;
    const { batch, frames, bytes, count } = staged;
    staged.reset();
    let slot = -1;
    let start = -1;
    try {
      slot = this.shared.enter(this.id);
      start = this.shared.reserve(slot, bytes);
      this.lastCuts = this.shared.cuts;
      this.makeRoom(start, bytes);
      this.store.write(frames, bytes, start);
    } catch (error) {
      batch.error = start < 0 ? error : this.abandon(slot, start, error);
      throw error;
    }
    this.shared.leave(slot, count);
    batch.lsn = start;
    batch.cuts = this.lastCuts;
    for (let at = 0; at < bytes; ) {
      const next = at + HEADER_SIZE + readU32(frames, at + LENGTH_OFFSET);
      this.boundaries.observe(start + at, start + next);
      at = next;
    }
    this.lastEnd = start + bytes;
  }

  /** Writes the frame already built in `scratch` around a payload of `length` bytes. */
  private appendScratch(length: number): number {
    const size = HEADER_SIZE + length;
    sealFrame(this.scratch, length);
    const slot = this.shared.enter(this.id);
    const lsn = this.shared.reserve(slot, size);
    this.lastCuts = this.shared.cuts;
    try {
      this.makeRoom(lsn, size);
      this.store.write(this.scratch, size, lsn);
    } catch (error) {
      throw this.abandon(slot, lsn, error);
    }
    this.shared.leave(slot, 1);
    return this.wrote(lsn, size);
  }

  /** Appends a large payload written apart from its header: no copy of the payload. */
  private appendApart(payload: Uint8Array): number {
    const size = HEADER_SIZE + payload.length;
    const slot = this.shared.enter(this.id);
    const lsn = this.shared.reserve(slot, size);
    this.lastCuts = this.shared.cuts;
    try {
      this.makeRoom(lsn, size);
      this.writeApart(payload, lsn);
    } catch (error) {
      throw this.abandon(slot, lsn, error);
    }
    this.shared.leave(slot, 1);
    return this.wrote(lsn, size);
  }

  /**
   * Before this writer writes the `size` bytes it reserved at `lsn`: makes sure no other
   * writer's zeros can land on them (rule 9 in commit.ts), filling zeros past them when this
   * writer is the one to move `FILLED`. A large write gets no zeros after it: they would cost
   * a write of their own and spare its single barrier little. Zeros the disk has no room for
   * are given up, not the write (see `fillZeros`).
   */
  private makeRoom(lsn: number, size: number): void {
    // The common case: below the filled end this writer last saw, with no cut since.
    if (lsn + size <= this.filled && this.lastCuts === this.filledCuts) return;
    this.filledCuts = this.lastCuts;
    if (this.preallocate === 0) {
      this.filled = Number.POSITIVE_INFINITY;
      return;
    }
    const ahead = size * 4 <= this.preallocate ? this.preallocate : 0;
    const end = lsn + size;
    this.filled = this.shared.fill(
      end,
      ahead === 0 ? end : fillTarget(end, ahead),
      this.id,
      (from, to) => fillZeros(this.store, from, to),
    );
  }

  /** Writes the frame of `payload` at `lsn` as two writes, header then payload. */
  private writeApart(payload: Uint8Array, lsn: number): void {
    // Bytes another thread can change while we write are copied first, so the bytes on disk
    // are exactly the bytes the CRC covers: a racing caller must not corrupt the log.
    const stable = payload.buffer instanceof SharedArrayBuffer ? payload.slice() : payload;
    writeHeader(this.scratch, stable);
    this.store.write(this.scratch, HEADER_SIZE, lsn);
    this.store.write(stable, stable.length, lsn + HEADER_SIZE);
  }

  /** Notes a record this `Wal` wrote at `lsn`; returns `lsn`. */
  private wrote(lsn: number, size: number): number {
    this.boundaries.observe(lsn, lsn + size);
    this.lastEnd = lsn + size;
    return lsn;
  }

  /**
   * What `value` is stored as: itself without a codec (bytes or a string, checked later), its
   * encoding with one. `what` names the call in errors.
   */
  private payloadValue(value: WalInput<T>, call: string, element?: number): unknown {
    return this.codec === undefined ? value : encodeWith(this.codec, value as T, call, element);
  }

  /** The bytes `data` stands for, checked against the size limit. */
  private payloadOf(data: unknown, what: string): Uint8Array {
    if (typeof data === "string") {
      // Each unit takes at least one byte: reject a huge string before encoding it, then
      // check the encoded size, which may be up to three times the unit count.
      this.checkSize(data.length);
      const encoded = utf8.encode(data);
      this.checkSize(encoded.length);
      return encoded;
    }
    if (!(data instanceof Uint8Array)) {
      throw invalidArgument(
        `${what} takes the record as a Uint8Array or a string (stored as UTF-8), got ` +
          `${describeValue(data)}; to log other values, open the log with a codec`,
      );
    }
    this.checkSize(data.length);
    return data;
  }

  /**
   * Blocks until every byte below `target` is durable, sharing barriers with every thread.
   * `cuts` is null for "everything appended before the call", or the cut count noted with one
   * record ending at `target` (see `SharedLog.goal`).
   */
  private syncTo(target: number, cuts: number | null): void {
    try {
      this.shared.syncTo(target, cuts, this.id, this.barrier);
    } catch (error) {
      throw this.noteFailure(error);
    }
    this.reportSlowSyncs();
  }

  /** Calls `onSlowSync` when a barrier since the last call took at least the threshold. */
  private reportSlowSyncs(): void {
    if (this.onSlowSync === undefined) return;
    const slowSyncs = this.shared.slowSyncs;
    if (slowSyncs === this.slowSyncsReported) return;
    this.slowSyncsReported = slowSyncs;
    this.onSlowSync(this.shared.lastSlowSync);
  }

  /** Resolves once every byte below `target` is durable, joining this thread's barrier rounds. */
  private async durableAsync(target: number, cuts: number | null): Promise<void> {
    const durable = () => this.shared.durable >= this.shared.goal(target, cuts);
    while (!durable()) {
      this.checkWritable("sync");
      await this.joinRound(durable);
    }
    this.reportSlowSyncs();
  }

  /**
   * Waits for this thread's next barrier round. A round that fails, or that `close` cut short,
   * still fails its caller only when `durable()` says the caller's bytes are not durable: a
   * round stopped by `close` after close's own barrier covered them has done its job.
   */
  private async joinRound(durable: () => boolean): Promise<void> {
    try {
      await this.nextRound();
    } catch (error) {
      if (!durable()) throw error;
    }
  }

  /**
   * The round in flight, or a new one: one barrier for every caller waiting in this thread.
   * A new round starts a microtask later, so every commit made in the same synchronous run
   * (a loop, a `Promise.all`) has appended before the round reads its target.
   */
  private nextRound(): Promise<void> {
    this.round ??= Promise.resolve()
      .then(() => this.runRound())
      .finally(() => {
        this.round = undefined;
      });
    return this.round;
  }

  /** Makes everything reserved so far durable without blocking this thread. */
  private async runRound(): Promise<void> {
    // A round due after `close` has nothing left to do: close made durable what it drained,
    // and the store may be closed.
    if (this.isClosed) throw this.closeReason;
    try {
      this.writeStagedCommits();
      const target = this.shared.reserved;
      if (this.barrierTarget !== null) {
        this.syncThread ??= new SyncThread({
          buffer: this.shared.buffer,
          stallTimeout: this.shared.stallTimeout,
          target: this.barrierTarget,
        });
        await this.syncThread.run(target);
      } else {
        await this.localRound();
      }
    } catch (error) {
      throw this.noteFailure(error);
    }
    if (this.isClosed) throw this.closeReason;
  }

  /**
   * A round for a store that lives in this thread (memory, test stores): no other thread can
   * write it, so no token is needed; the store's own `syncAsync` keeps the event loop free.
   */
  private async localRound(): Promise<void> {
    const upTo = this.shared.written();
    const from = this.shared.durable;
    if (upTo <= from) return;
    const started = performance.now();
    let strength: BarrierStrength = "full";
    try {
      // `syncAsync` is a memory or test store's: they have one barrier only.
      if (this.store.syncAsync) await this.store.syncAsync();
      else strength = this.store.sync(from, upTo) ?? "full";
    } catch (error) {
      this.shared.failBarrier(error);
      throw error;
    }
    this.shared.publishDurable(upTo, performance.now() - started, strength);
  }

  /**
   * A scanner at `lsn`, found by walking from the nearest known boundary below it; throws
   * unless a record starts there. Damage on the way is stepped over under `recovery: "skip"`.
   */
  private seek(lsn: number, end: number): RecordScanner {
    const scanner = new RecordScanner(
      this.store,
      this.boundaries.floor(lsn),
      end,
      this.maxRecordSize,
    );
    while (scanner.offset < lsn && this.advance(scanner, false)) {
      this.boundaries.observe(scanner.lsn, scanner.offset);
    }
    if (scanner.offset !== lsn) {
      throw invalidArgument(
        `lsn ${lsn} is not a record boundary: the record at ${scanner.lsn} runs to ${scanner.offset}`,
      );
    }
    return scanner;
  }

  private *walk(start: number, end: number): Generator<WalRecord<T>, void, undefined> {
    const scanner = new RecordScanner(this.store, start, end, this.maxRecordSize);
    for (;;) {
      this.checkOpen();
      if (!this.advance(scanner, true)) return;
      this.boundaries.observe(scanner.lsn, scanner.offset);
      yield this.recordAt(scanner);
    }
  }

  /** The record `scanner` stands on, its payload copied (and decoded, with a codec). */
  private recordAt(scanner: RecordScanner): WalRecord<T> {
    const payload = scanner.payload();
    const data =
      this.codec === undefined ? (payload as T) : decodeWith(this.codec, payload, scanner.lsn);
    return { lsn: scanner.lsn, data };
  }

  /**
   * Moves `scanner` to its next whole record; false at the end. At damage, throws its
   * `CorruptionError` under `recovery: "stop"`; under `"skip"` steps to the next valid record,
   * reporting the damaged region to `onCorrupt` when `report` is set.
   */
  private advance(scanner: RecordScanner, report: boolean): boolean {
    for (;;) {
      const found = scanner.next();
      if (found === Scan.Record) return true;
      if (found === Scan.End) return false;
      if (report) this.corruptionsSeen++;
      if (this.recoveryPolicy === "stop") throw new CorruptionError(scanner.lsn, scanner.reason);
      const damaged = scanner.lsn;
      const why = scanner.reason;
      const next = scanner.resync();
      if (report && this.onCorrupt !== undefined) {
        this.onCorrupt(
          new CorruptionError(
            damaged,
            `${why}; skipped ${next - damaged} bytes to ${next < scanner.end ? `the next valid record at ${next}` : "the end"}`,
          ),
        );
      }
    }
  }

  /**
   * `lsn` when it is a non-negative integer; otherwise an `INVALID_ARGUMENT` naming `call` and
   * its argument `name`.
   */
  private checkLsn(lsn: number, call: string, name = "lsn"): number {
    if (!Number.isSafeInteger(lsn) || lsn < 0) {
      throw invalidArgument(
        `${call}: ${name} must be a non-negative integer LSN (one that append returned, or len), ` +
          `got ${describeValue(lsn)}`,
      );
    }
    return lsn;
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

  /**
   * Runs `action`, which changes the files; if it fails, what is on disk is no longer known,
   * so the log is poisoned for every thread, as after a failed barrier.
   */
  private failStop(action: () => void): void {
    try {
      action();
    } catch (error) {
      this.shared.failBarrier(error);
      throw this.noteFailure(error);
    }
  }

  private checkSize(size: number): void {
    if (size > this.maxRecordSize) throw recordTooLarge(size, this.maxRecordSize);
  }

  private checkOpen(): void {
    if (this.isClosed || this.shared.isClosed) throw closed();
  }

  private checkOwner(call: string): void {
    this.checkWritable(call);
    if (this.attached) {
      throw invalidArgument(
        `an attached Wal cannot ${call}; call it on the Wal that owns the log (Wal.open)`,
      );
    }
  }

  private checkReadable(): void {
    this.checkOpen();
    if (this.attached) {
      throw invalidArgument(
        "an attached Wal only writes; iterate from the Wal that owns the log (Wal.open)",
      );
    }
  }

  private checkWritable(call: string): void {
    this.checkOpen();
    if (this.readOnly) throw readOnlyLog(call, this.store.description);
    if (this.failure !== undefined) throw poisoned(this.failure);
    this.shared.throwIfStopped();
  }

  /** A write at `lsn` failed: the log is poisoned for every thread. Returns the error. */
  private abandon(slot: number, lsn: number, error: unknown): unknown {
    this.shared.abandon(slot, lsn, error);
    this.failure ??= error;
    return error;
  }

  /** Keeps the error that poisoned the log, as the cause this `Wal` reports afterwards. */
  private noteFailure(error: unknown): unknown {
    const code = error instanceof WalError ? error.code : undefined;
    if (code !== "CLOSED" && code !== "POISONED") this.failure ??= error;
    return error;
  }
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
function refuseZeroFillOfSegments(value: number | undefined): void {
  if (value !== undefined && value !== 0) {
    throw invalidArgument(
      `preallocate must be 0 for a segmented log (segmentSize), got ${describeValue(value)}`,
    );
  }
}
