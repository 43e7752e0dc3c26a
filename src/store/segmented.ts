/**
 * @module
 * The segmented store: one flat byte space striped across fixed-size files in a directory, so a
 * log stays bounded (drop the prefix a checkpoint made obsolete) and recovery never reads more
 * than it must. The layout is the Rust crate's (docs/ON_DISK_FORMAT.md, "Segmented logs"):
 *
 *   dir/00000000000000000000.wal   bytes [0, S)
 *   dir/00000000000000000001.wal   bytes [S, 2S)     records span boundaries freely
 *   dir/head                       12 bytes: the first LSN kept (u64 LE), its CRC-32C (u32 LE)
 *   dir/LOCK                       holds the exclusive lock; its contents mean nothing
 *
 * Invariants this file keeps, so that open can tell a crash from a mistake:
 * - Segments from the head's segment to the last exist without a gap.
 * - A segment is synced full before the next one is created, and a segment's name is synced
 *   into the directory before any byte is written to it. So after any crash every segment but
 *   the last is exactly S bytes, and a non-last segment of another length means the log was
 *   written with another S: open refuses (`SEGMENT_SIZE_MISMATCH`) rather than misread it.
 * - The head is made durable before any segment below it is deleted, so a crash mid-compaction
 *   recovers from the right record; segments left below the first live segment are ignored.
 * - The segment holding the log's newest bytes is never deleted, not even when the head is at
 *   the very end: the Rust crate derives the log's end from the highest segment file, so the
 *   first live segment is the head's, or the newest one when the head lies past it
 *   (`keep_from = min(head / S, last segment)`). A cut at a segment's start keeps that
 *   segment, empty, for the same reason.
 * - Never destroy on doubt: a missing segment or a damaged `head` is an error at open, and
 *   nothing is deleted or cut (the Rust crate reads both as "the log ends here" and cuts).
 * - Every file is opened as a regular file or not at all (no FIFO or device can block or
 *   feed bytes without end), and `head` is read only when it holds exactly 12 bytes.
 * - The descriptors of the newest segment are opened at its creation (or the open), before any
 *   byte is written to it, and every barrier runs on one of them: so it hears of the writeback
 *   errors of every write it covers (DESIGN rule 7).
 *
 * The second invariant needs every byte of segment k written before segment k + 1 exists,
 * which Workers writing in parallel do not give by themselves: the segment table
 * (segment-table.ts), shared by every thread that writes the log, makes the roll wait for it.
 */

import { closeSync } from "node:fs";
import { resolve } from "node:path";
import { describeValue, invalidArgument, ioErrorFrom, locked, readOnlyLog } from "../errors.ts";
import { checkInteger, DEFAULT_STALL_TIMEOUT } from "../options.ts";
import {
  type BarrierStrength,
  currentPlatform,
  isCurrentPlatform,
  type Platform,
  weakerBarrier,
} from "../platform/index.ts";
import { type FileSystem, nodeFileSystem } from "./file-system.ts";
import { readAt } from "./positioned-io.ts";
import { SegmentFiles } from "./segment-files.ts";
import {
  type Layout,
  listSegments,
  readLayout,
  requireDirectory,
  segmentSizeOfFiles,
} from "./segment-layout.ts";
import { openLockFile, readyDirectory } from "./segment-open.ts";
import { type Idle, SegmentTable } from "./segment-table.ts";
import { SegmentWriter } from "./segment-writer.ts";
import type { SegmentShare } from "./share.ts";
import type { WalStore } from "./store.ts";

/** Options for {@link SegmentedStore.open}. */
export interface SegmentedStoreOptions {
  /**
   * The native calls to use. Tests pass a wrapper that counts or fails calls.
   * @default the table for this OS, from `src/platform/`
   */
  platform?: Platform;
  /**
   * The file calls to use. Tests pass a simulated file system to compute what a power loss
   * could leave on disk, or to fail any call.
   * @default `node:fs`
   */
  fileSystem?: FileSystem;
  /**
   * Opens an existing log for reading only: no lock, nothing created, segments opened with
   * descriptors that cannot write, so nothing this store does can change the directory.
   * @default false
   */
  readOnly?: boolean;
  /**
   * Creates the directory when it does not exist. With `false`, a missing directory, or one
   * that holds no segmented log (no segment, `head` or `LOCK` file), is `NOT_FOUND` and nothing
   * is created.
   * @default true
   */
  create?: boolean;
  /**
   * How long a write waits for the segment before its own to be written full by other threads
   * before it fails with `STALLED` (see `WalOptions.stallTimeout`).
   * @default 30000
   */
  stallTimeout?: number;
  /**
   * What a write does while it waits for other threads to fill the segment before its own.
   * Tests of the simulated disk pass one that runs another simulated thread.
   * @default a sleep on the segment table (`Atomics.wait`)
   */
  idle?: Idle;
}

/** What a {@link SegmentedStore} is to its log: what it may do, and what it must close. */
type Role = "owner" | "reader" | "attached";

/** A {@link WalStore} over a directory of segment files, locked exclusively while open. */
export class SegmentedStore implements WalStore {
  /** The segment files, and the descriptors this thread reads through. */
  private readonly files: SegmentFiles;
  /** What every thread that writes the log shares: the newest segment and its descriptors. */
  private readonly table: SegmentTable;
  /**
   * The lowest segment of the log as the owner last set it (open, `truncateBefore`); a roll
   * in any thread may since have deleted it (see {@link SegmentedStore.firstLive}).
   */
  private firstLiveKept: number;
  /** A reader: no lock, descriptors that cannot write, and `sync` refuses. */
  private readonly readOnly: boolean;
  private closed = false;
  /** Writes, rolls and barriers, as every thread of the log runs them. */
  private readonly writer: SegmentWriter;

  private constructor(
    /** The absolute path of the log's directory. */
    private readonly directory: string,
    /** Bytes per segment. */
    readonly segmentSize: number,
    private readonly role: Role,
    /** The lock file's descriptor; -1 but for the owner's. */
    private readonly lockFd: number,
    private readonly platform: Platform,
    private readonly fs: FileSystem,
    /** The layout the files show, for a store that makes the table; or the table to join. */
    from: Layout | SegmentTable,
    /** How a table made here waits for other threads' writes. */
    waits: Pick<SegmentedStoreOptions, "stallTimeout" | "idle">,
    /**
     * What open's sync of the directory that holds the log's directory was ("full" when open
     * synced none). Not a memory for later barriers: a log directory that is a mount point
     * lies on another file system than its parent.
     */
    private readonly parentBarrier: BarrierStrength = "full",
  ) {
    this.readOnly = role === "reader";
    this.files = new SegmentFiles(fs, directory, this.readOnly, () => this.highest);
    if (from instanceof SegmentTable) {
      this.table = from;
      this.firstLiveKept = 0;
    } else {
      // With no segment yet, the one before the first counts as full: the first write rolls.
      const exists = from.highest >= from.first;
      const written = exists ? from.end - from.highest * segmentSize : segmentSize;
      const close = (fd: number) => fs.closeSync(fd);
      this.table = SegmentTable.create(
        { segmentSize, highest: from.highest, written, head: from.head },
        close,
        waits.stallTimeout ?? DEFAULT_STALL_TIMEOUT,
        waits.idle,
      );
      this.firstLiveKept = from.first;
    }
    this.writer = new SegmentWriter(directory, segmentSize, this.table, this.files, platform, fs);
    if (role === "owner" && this.highest >= this.firstLive) this.writer.installFresh(this.highest);
  }

  /**
   * Opens the segmented log in `directory` (created if missing), takes its exclusive lock and
   * checks that its files form one log of `segmentSize`-byte segments. Without `segmentSize`,
   * the directory must hold a log whose files show the size (see `segmentSizeOfFiles`). Changes
   * nothing on disk but the lock file and the directory itself, and neither when it throws
   * before taking the lock (a size the files contradict or cannot give).
   *
   * @param segmentSize - bytes per segment, any integer from 1 (`Wal.open`'s option takes
   * 4096 on); undefined to read it from the files.
   * @throws WalError `SEGMENT_SIZE_MISMATCH` when a segment's length contradicts
   * `segmentSize`; `CORRUPTION` when a segment is missing, `head` is damaged, or without
   * `segmentSize` the segments disagree on it; `LOCKED`; `INVALID_ARGUMENT` when `directory` is
   * a file, or without `segmentSize` when the files cannot tell it; `NOT_A_LOG` when `LOCK` or
   * `head` is not a regular file; `NOT_FOUND` when the directory is missing (read-only, or
   * `create: false`) or holds no log (`create: false`); `IO`; `UNSUPPORTED_PLATFORM` without
   * `platform` on an OS with no known barrier, before anything is created.
   */
  static open(
    directory: string,
    segmentSize?: number,
    options: SegmentedStoreOptions = {},
  ): SegmentedStore {
    if (typeof directory !== "string" || directory.length === 0) {
      throw invalidArgument(`path must be a non-empty string, got ${describeValue(directory)}`);
    }
    if (segmentSize !== undefined)
      checkInteger("segmentSize", segmentSize, 1, Number.MAX_SAFE_INTEGER);
    const absolute = resolve(directory);
    // Before anything touches the disk: on an OS with no known barrier this throws
    // UNSUPPORTED_PLATFORM, and no directory, segment or LOCK is created.
    const platform = options.platform ?? currentPlatform();
    const fs = options.fileSystem ?? nodeFileSystem;
    // One listing gives both the size (when the files must give it) and the layout.
    const layoutFor = (open: "write" | "read") => {
      const segments = listSegments(fs, absolute);
      const size = segmentSize ?? segmentSizeOfFiles(fs, absolute, segments, open);
      return { size, layout: readLayout(fs, absolute, segments, size) };
    };
    if (options.readOnly === true) {
      requireDirectory(fs, absolute, "read");
      const { size, layout } = layoutFor("read");
      return new SegmentedStore(absolute, size, "reader", -1, platform, fs, layout, {});
    }
    const create = options.create !== false;
    const parentBarrier = readyDirectory(fs, absolute, platform, segmentSize, create);
    const lockFd = openLockFile(fs, absolute, () => layoutFor("write"));
    try {
      if (!platform.tryLockExclusive(lockFd, absolute)) throw locked(absolute);
      const { size, layout } = layoutFor("write");
      const role = "owner";
      return new SegmentedStore(
        absolute,
        size,
        role,
        lockFd,
        platform,
        fs,
        layout,
        options,
        parentBarrier,
      );
    } catch (error) {
      fs.closeSync(lockFd);
      throw error;
    }
  }

  /**
   * A store over the log `share` names, from {@link SegmentedStore.shareable} of the store
   * open in another thread of this process: it takes no lock (the owner holds it), writes and
   * syncs through the table's descriptors, and its `close` leaves them open. The caller keeps
   * the owner open while it is used.
   */
  static attach(share: SegmentShare, stallTimeout: number): SegmentedStore {
    const table = SegmentTable.join(share, closeSync, stallTimeout);
    const { path, segmentSize } = share;
    const platform = currentPlatform();
    return new SegmentedStore(
      path,
      segmentSize,
      "attached",
      -1,
      platform,
      nodeFileSystem,
      table,
      {},
    );
  }

  /**
   * What another thread of this process needs to attach to this log (see {@link SegmentShare}).
   * Null when the store is read-only or runs on an injected platform or file system, which
   * other threads cannot share.
   */
  shareable(): SegmentShare | null {
    if (this.readOnly || !isCurrentPlatform(this.platform) || this.fs !== nodeFileSystem) {
      return null;
    }
    const { directory: path, segmentSize } = this;
    return { layout: "segments", path, segmentSize, table: this.table.buffer };
  }

  /**
   * How another thread (the sync thread) runs this log's barriers: as a store attached to the
   * same table, whose `sync` runs on the table's descriptors. Null as for
   * {@link SegmentedStore.shareable}.
   */
  remoteBarrier(): SegmentShare | null {
    return this.shareable();
  }

  /** The log's directory: what the store holds, for error messages. */
  get description(): string {
    return this.directory;
  }

  /**
   * One past the last byte of the log, from the segment table, which counts every thread's
   * writes: exact whenever no write is in flight, as at open and under the exclusive hold.
   */
  get size(): number {
    return this.table.end;
  }

  /** The first byte the log holds: 0 until `truncateBefore` dropped a prefix. */
  get head(): number {
    return this.table.head;
  }

  /** Segment files the log's threads created since it was opened (for `Wal.stats`). */
  get segmentsCreated(): number {
    return this.table.created;
  }

  /** Segment files deleted since the log was opened (`truncateBefore`). */
  get segmentsDeleted(): number {
    return this.table.deleted;
  }

  read(target: Uint8Array, position: number): number {
    let done = 0;
    while (done < target.length) {
      const at = position + done;
      const index = Math.floor(at / this.segmentSize);
      const local = at - index * this.segmentSize;
      const want = Math.min(target.length - done, this.segmentSize - local);
      const fd = this.files.descriptor(index);
      if (fd < 0) break;
      let got: number;
      try {
        got = readAt(this.fs, fd, target.subarray(done, done + want), local);
      } catch (error) {
        throw ioErrorFrom("read", this.files.path(index), error);
      }
      done += got;
      if (got < want) break;
    }
    return done;
  }

  /** Writes through the table's descriptors, rolling the log as needed (segment-writer.ts). */
  write(source: Uint8Array, length: number, position: number): void {
    this.writer.write(source, length, position);
  }

  /**
   * Cuts the log to `size` bytes, durably, under the owner's exclusive hold (no write or barrier
   * in flight in any thread). Segments wholly past the cut are deleted from the last down, the
   * directory synced after each, so a crash midway leaves a shorter log without a gap; then the
   * segment holding the new end is cut and synced. That segment stays even when the cut leaves
   * it empty (a cut at its start): the log's end is read from the newest segment file, by this
   * store and by the Rust crate.
   */
  truncate(size: number): void {
    if (size > this.size || size < this.head) {
      throw invalidArgument(
        `cannot truncate ${this.directory} to ${size}: it holds bytes ${this.head} to ${this.size}`,
      );
    }
    try {
      this.cutTo(size);
    } catch (error) {
      this.table.breakTable();
      throw error;
    }
  }

  /**
   * Makes `head` the first byte of the log, durably (temp file, barrier, rename, directory
   * barrier), then deletes every segment wholly below the segment holding it, including those
   * an interrupted earlier call left (so a call at the current head only does that), but for
   * those an archiver has not uploaded yet ({@link SegmentedStore.archiveHold}). The caller
   * holds the log exclusively, has made every byte written so far durable, and checked `head` is
   * a record boundary.
   */
  truncateBefore(head: number): void {
    if (head < this.head || head > this.size) {
      throw invalidArgument(
        `cannot move the head of ${this.directory} to ${head}: it holds bytes ${this.head} to ${this.size}`,
      );
    }
    if (head !== this.head) this.writer.writeHead(head);
    const exists = this.highest >= this.firstLive;
    this.table.head = head;
    // The newest segment stays even when the head is at its end (the invariants above).
    const headSegment = Math.floor(head / this.segmentSize);
    this.firstLiveKept = exists ? Math.min(headSegment, this.highest) : headSegment;
    if (!exists) this.table.reset(this.firstLiveKept - 1, this.segmentSize);
    let deleted = false;
    for (const index of this.segmentIndices()) {
      if (index >= this.firstLiveKept || index >= this.table.keep) continue;
      this.writer.deleteSegment(index);
      deleted = true;
    }
    if (deleted) this.writer.syncDirectory();
  }

  /**
   * The barrier. With a range, syncs only the segment holding its last byte, and only while it
   * is the newest: every older segment was synced full when the next one was created. It runs
   * on the table's descriptor, opened before any write to the segment (segment-table.ts, rule
   * 4). Without one (recovery), syncs every live segment and the directory, since a crashed
   * writer, or the Rust crate, which does not sync on a roll, may have left any of them unsynced.
   */
  sync(from?: number, to?: number): BarrierStrength {
    // fdatasync works on a read-only descriptor: refuse here, so no reader can issue one.
    if (this.readOnly) throw readOnlyLog("sync", this.directory);
    if (from !== undefined && to !== undefined) return to <= from ? "full" : this.writer.syncTo(to);
    let strength: BarrierStrength = "full";
    for (let index = this.firstLive; index <= this.highest; index++) {
      const fd = this.files.descriptor(index);
      if (fd < 0) continue;
      strength = weakerBarrier(strength, this.writer.barrierOn(fd, this.files.path(index)));
    }
    // Recovery's barrier reports open's sync of the parent directory too, so that what
    // recovery reports covers everything open made durable.
    return weakerBarrier(weakerBarrier(strength, this.writer.syncDirectory()), this.parentBarrier);
  }

  /** Drops every live segment's clean pages from the page cache (see `Platform.dropCache`). */
  dropCache(): void {
    for (let index = this.firstLive; index <= this.highest; index++) {
      const fd = this.files.descriptor(index);
      if (fd >= 0) this.platform.dropCache(fd, this.files.path(index));
    }
  }

  /**
   * Releases this thread's descriptors; the owner's also closes the table's and the lock.
   * An attached store leaves the table to the owner, whose log it writes.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    let failure = this.files.closeAll();
    if (this.role === "owner") {
      failure = this.table.closeAll() ?? failure;
      try {
        // Closing the lock file's descriptor releases the lock.
        this.fs.closeSync(this.lockFd);
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw ioErrorFrom("close", this.directory, failure);
  }

  /** The newest segment of the log; `firstLive - 1` when none exists. */
  private get highest(): number {
    return this.table.highest;
  }

  /**
   * The lowest segment that is part of the log: the head's, or the newest one when the head
   * lies past its end (see the invariants above). Lower ones are leftovers.
   */
  private get firstLive(): number {
    const headSegment = Math.floor(this.head / this.segmentSize);
    return Math.max(this.firstLiveKept, Math.min(headSegment, this.highest));
  }

  /** {@link SegmentedStore.truncate}'s work, once `size` is checked. */
  private cutTo(size: number): void {
    const newest = this.highest;
    const keep = Math.max(Math.ceil(size / this.segmentSize) - 1, this.firstLive);
    for (let index = newest; index > keep; index--) {
      this.writer.deleteSegment(index);
      this.writer.syncDirectory();
    }
    if (keep > newest) return;
    // Sealed segments' descriptors may have left the table; one opened now is as good, since
    // every write into a sealed segment was synced when the next one was created.
    if (this.table.descriptors(keep) === null) this.writer.installFresh(keep);
    const fd = this.table.descriptors(keep)?.fd ?? -1;
    const path = this.files.path(keep);
    try {
      this.fs.ftruncateSync(fd, size - keep * this.segmentSize);
    } catch (error) {
      throw ioErrorFrom("ftruncate", path, error);
    }
    this.writer.barrierOn(fd, path);
    this.table.reset(keep, size - keep * this.segmentSize);
  }

  /**
   * The index of every segment file in the directory, in order: the log's, and leftovers below
   * its head (an interrupted compaction's, or those kept for an archiver).
   */
  segmentIndices(): number[] {
    return listSegments(this.fs, this.directory).map((segment) => segment.index);
  }

  /**
   * The lowest segment that retention keeps although it lies below the head, with every one
   * after it: the first one the log's archiver has not uploaded yet, shared with every thread's
   * roll through the segment table. `NO_HOLD` (the default) while no archiver runs.
   */
  get archiveHold(): number {
    return this.table.keep;
  }

  /** The archiver uploaded every segment below `index` (or a cut moved it back). */
  set archiveHold(index: number) {
    this.table.keep = index;
  }
}
