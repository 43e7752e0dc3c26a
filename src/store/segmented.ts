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
 * - The descriptor of the newest segment stays open from its creation (or the open) on, and
 *   a second one is handed to the sync thread (see barrier-handoff.ts): every barrier runs on
 *   a descriptor opened before the writes it covers, so it hears of their writeback errors.
 *
 * The second invariant needs the log written in LSN order, by one thread: when a write reaches
 * segment k + 1, every byte of segment k is written. That is why `share()` refuses segmented
 * logs for now; Workers writing in parallel would need segments preallocated to S instead.
 */

import { constants } from "node:fs";
import { join, resolve } from "node:path";
import { describeValue, invalidArgument, ioErrorFrom, locked, readOnlyLog } from "../errors.ts";
import { checkInteger } from "../options.ts";
import {
  type BarrierStrength,
  currentPlatform,
  isCurrentPlatform,
  type Platform,
  weakerBarrier,
} from "../platform/index.ts";
import { BarrierHandoff } from "./barrier-handoff.ts";
import { type FileSystem, nodeFileSystem, openRegularFile } from "./file-system.ts";
import { type PartialWrite, readAt, writeAt } from "./positioned-io.ts";
import type { RemoteBarrier } from "./remote-barrier.ts";
import { SegmentFiles } from "./segment-files.ts";
import {
  encodeHead,
  HEAD_FILE,
  HEAD_TEMP_FILE,
  type Layout,
  listSegments,
  readLayout,
  requireDirectory,
  segmentSizeOfFiles,
} from "./segment-layout.ts";
import { openLockFile, readyDirectory } from "./segment-open.ts";
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
}

/** A {@link WalStore} over a directory of segment files, locked exclusively while open. */
export class SegmentedStore implements WalStore {
  /** The segment files and the descriptors open on them. */
  private readonly files: SegmentFiles;
  private currentSize: number;
  private currentHead: number;
  /**
   * The lowest segment that is part of the log: the head's, or the newest one when the head
   * lies past its end (see the invariants above). Lower ones are leftovers.
   */
  private firstLive: number;
  /**
   * The newest segment of the log; `firstLive - 1` when none exists. Every index between the
   * two exists. Its descriptor is never closed while it is the newest.
   */
  private highest: number;
  /**
   * Where the sync thread takes a descriptor of the newest segment opened before its writes;
   * null when there is no sync thread to serve (a read-only store, an injected platform).
   */
  private readonly handoff: BarrierHandoff | null;
  /**
   * Opened with `readOnly`: no lock, segments opened with descriptors that cannot write,
   * nothing posted for a sync thread, and `sync` refuses.
   */
  private readonly readOnly: boolean;
  private closed = false;
  /**
   * What the last barrier on a file of the log (a segment, `head.tmp`) returned, passed back to
   * the next one: `"fsync"` once their file system refused the full barrier (macOS:
   * `F_FULLFSYNC` answered ENOTSUP or EINVAL), so that it is not asked again on every barrier.
   * One for all of them: they live in one directory, so on one file system, and it is the file
   * system that refuses.
   */
  private fileBarrier: BarrierStrength = "full";
  /** The same for the syncs of the log's directory, which a file system may treat apart. */
  private directoryBarrier: BarrierStrength = "full";
  /** Segment files this store created since it was opened (for `Wal.stats`). */
  segmentsCreated = 0;
  /** Segment files this store deleted since it was opened (`truncateBefore`). */
  segmentsDeleted = 0;

  private constructor(
    /** The absolute path of the log's directory. */
    private readonly directory: string,
    /** Bytes per segment. */
    readonly segmentSize: number,
    /** The lock file's descriptor; -1 for a read-only store, which takes no lock. */
    private readonly lockFd: number,
    private readonly platform: Platform,
    private readonly fs: FileSystem,
    layout: Layout,
    /**
     * What open's sync of the directory that holds the log's directory was ("full" when open
     * synced none). Not a memory for later barriers: a log directory that is a mount point
     * lies on another file system than its parent.
     */
    private readonly parentBarrier: BarrierStrength = "full",
  ) {
    this.readOnly = lockFd < 0;
    this.files = new SegmentFiles(fs, directory, this.readOnly, () => this.highest);
    this.currentSize = layout.end;
    this.currentHead = layout.head;
    this.firstLive = layout.first;
    this.highest = layout.highest;
    const shared = !this.readOnly && isCurrentPlatform(platform) && fs === nodeFileSystem;
    this.handoff = shared ? BarrierHandoff.create() : null;
    this.postBarrierDescriptor();
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
      return new SegmentedStore(absolute, size, -1, platform, fs, layout);
    }
    const create = options.create !== false;
    const parentBarrier = readyDirectory(fs, absolute, platform, segmentSize, create);
    const lockFd = openLockFile(fs, absolute, () => layoutFor("write"));
    try {
      if (!platform.tryLockExclusive(lockFd, absolute)) throw locked(absolute);
      const { size, layout } = layoutFor("write");
      return new SegmentedStore(absolute, size, lockFd, platform, fs, layout, parentBarrier);
    } catch (error) {
      fs.closeSync(lockFd);
      throw error;
    }
  }

  /**
   * How another thread (the sync thread) runs this log's barriers: through the mailbox in
   * which this store hands it a descriptor of the newest segment (see barrier-handoff.ts and
   * remote-barrier.ts). Null when the store is read-only or runs on an injected platform or
   * file system.
   */
  remoteBarrier(): RemoteBarrier | null {
    if (this.handoff === null) return null;
    return { kind: "segments", description: this.directory, handoff: this.handoff.buffer };
  }

  /** The log's directory: what the store holds, for error messages. */
  get description(): string {
    return this.directory;
  }

  get size(): number {
    return this.currentSize;
  }

  /** The first byte the log holds: 0 until `truncateBefore` dropped a prefix. */
  get head(): number {
    return this.currentHead;
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

  write(source: Uint8Array, length: number, position: number): void {
    let done = 0;
    try {
      while (done < length) {
        const at = position + done;
        const index = Math.floor(at / this.segmentSize);
        const local = at - index * this.segmentSize;
        const want = Math.min(length - done, this.segmentSize - local);
        // A write that crosses into a new segment rolls the log into it.
        const fd = index > this.highest ? this.roll(index) : this.files.descriptor(index, "throw");
        try {
          writeAt(this.fs, fd, source, done, want, local);
          done += want;
        } catch (error) {
          const partial = error as PartialWrite;
          done += partial.written;
          throw ioErrorFrom("write", this.files.path(index), partial.cause);
        }
      }
    } finally {
      this.currentSize = Math.max(this.currentSize, position + done);
    }
  }

  /**
   * Cuts the log to `size` bytes, durably. Segments wholly past the cut are deleted from the
   * last down, the directory synced after each, so a crash midway leaves a shorter log without
   * a gap; then the segment holding the new end is cut and synced. That segment stays even
   * when the cut leaves it empty (a cut at its start): the log's end is read from the newest
   * segment file, by this store and by the Rust crate.
   */
  truncate(size: number): void {
    if (size > this.currentSize || size < this.currentHead) {
      throw invalidArgument(
        `cannot truncate ${this.directory} to ${size}: it holds bytes ${this.currentHead} to ${this.currentSize}`,
      );
    }
    const newest = this.highest;
    const keep = Math.max(Math.ceil(size / this.segmentSize) - 1, this.firstLive);
    for (let index = this.highest; index > keep; index--) {
      this.deleteSegment(index);
      this.syncLogDirectory();
      this.highest = index - 1;
    }
    this.currentSize = size;
    if (keep > this.highest) return;
    const fd = this.files.descriptor(keep);
    if (fd < 0) return;
    const path = this.files.path(keep);
    try {
      this.fs.ftruncateSync(fd, size - keep * this.segmentSize);
    } catch (error) {
      throw ioErrorFrom("ftruncate", path, error);
    }
    this.barrierOn(fd, path);
    if (this.highest !== newest) this.postBarrierDescriptor();
  }

  /**
   * Makes `head` the first byte of the log, durably (temp file, barrier, rename, directory
   * barrier), then deletes every segment wholly below the segment holding it, including those
   * an interrupted earlier call left (so a call at the current head only does that). The caller has
   * made every byte written so far durable, and checked `head` is a record boundary.
   */
  truncateBefore(head: number): void {
    if (head < this.currentHead || head > this.currentSize) {
      throw invalidArgument(
        `cannot move the head of ${this.directory} to ${head}: it holds bytes ${this.currentHead} to ${this.currentSize}`,
      );
    }
    if (head !== this.currentHead) this.writeHead(head);
    this.currentHead = head;
    // The newest segment stays even when the head is at its end (the invariants above).
    const headSegment = Math.floor(head / this.segmentSize);
    this.firstLive =
      this.highest >= this.firstLive ? Math.min(headSegment, this.highest) : headSegment;
    if (this.highest < this.firstLive) this.highest = this.firstLive - 1;
    let deleted = false;
    for (const index of this.segmentIndices()) {
      if (index >= this.firstLive) continue;
      this.deleteSegment(index);
      deleted = true;
    }
    if (deleted) this.syncLogDirectory();
  }

  /**
   * The barrier. With a range, syncs only the newest segment: every segment before it was
   * synced full when the next one was created, so only it can hold writes not yet durable,
   * and its descriptor was opened before them. Without one (recovery), syncs every live segment
   * and the directory, since a crashed writer, or the Rust crate, which does not sync on a
   * roll, may have left any of them unsynced.
   */
  sync(from?: number, to?: number): BarrierStrength {
    // fdatasync works on a read-only descriptor: refuse here, so no reader can issue one.
    if (this.readOnly) throw readOnlyLog("sync", this.directory);
    const whole = from === undefined || to === undefined;
    if (!whole && to <= from) return "full";
    let strength: BarrierStrength = "full";
    const first = whole ? this.firstLive : this.highest;
    for (let index = first; index <= this.highest; index++) {
      const fd = this.files.descriptor(index);
      if (fd < 0) continue;
      strength = weakerBarrier(strength, this.barrierOn(fd, this.files.path(index)));
    }
    if (!whole) return strength;
    // Recovery's barrier reports open's sync of the parent directory too, so that what
    // recovery reports covers everything open made durable.
    return weakerBarrier(weakerBarrier(strength, this.syncLogDirectory()), this.parentBarrier);
  }

  /** Drops every live segment's clean pages from the page cache (see `Platform.dropCache`). */
  dropCache(): void {
    for (let index = this.firstLive; index <= this.highest; index++) {
      const fd = this.files.descriptor(index);
      if (fd >= 0) this.platform.dropCache(fd, this.files.path(index));
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    let failure = this.files.closeAll();
    const posted = this.handoff?.take();
    if (posted) {
      try {
        this.fs.closeSync(posted.fd);
      } catch (error) {
        failure ??= error;
      }
    }
    try {
      // Closing the lock file's descriptor releases the lock (a read-only store holds none).
      if (!this.readOnly) this.fs.closeSync(this.lockFd);
    } catch (error) {
      failure ??= error;
    }
    if (failure !== undefined) throw ioErrorFrom("close", this.directory, failure);
  }

  /**
   * Rolls the log into segment `index`, for the first write past the newest segment: syncs the
   * one before it (full by now: the log is written in order), then creates the new one and
   * syncs the directory before any byte is written to it, keeping the invariants at the top.
   * @returns the new segment's descriptor.
   */
  private roll(index: number): number {
    const previous = this.files.descriptor(index - 1);
    if (previous >= 0) this.barrierOn(previous, this.files.path(index - 1));
    const fd = this.files.open(index, constants.O_RDWR | constants.O_CREAT, 0o644);
    this.highest = index;
    this.files.keep(index, fd);
    this.syncLogDirectory();
    this.segmentsCreated++;
    // A segment kept below the head only for being the newest is a leftover now: its name is
    // no longer needed to find the log's end, so it goes (a crash that brings it back leaves a
    // leftover that open ignores).
    const headSegment = Math.floor(this.currentHead / this.segmentSize);
    for (; this.firstLive < headSegment; this.firstLive++) this.deleteSegment(this.firstLive);
    this.postBarrierDescriptor();
    return fd;
  }

  /**
   * Opens a second descriptor of the newest segment, before any write this store makes to it,
   * and posts it for the sync thread (see barrier-handoff.ts), closing one it never took.
   */
  private postBarrierDescriptor(): void {
    if (this.handoff === null || this.highest < this.firstLive) return;
    const fd = this.files.open(this.highest, constants.O_RDWR);
    const replaced = this.handoff.post(fd, this.highest);
    if (replaced >= 0) this.fs.closeSync(replaced);
  }

  private deleteSegment(index: number): void {
    if (this.files.delete(index)) this.segmentsDeleted++;
  }

  private writeHead(head: number): void {
    const temp = join(this.directory, HEAD_TEMP_FILE);
    const final = join(this.directory, HEAD_FILE);
    let fd: number;
    try {
      const flags = constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC;
      fd = openRegularFile(this.fs, temp, flags, 0o644);
    } catch (error) {
      throw ioErrorFrom("open", temp, error);
    }
    try {
      const bytes = encodeHead(head);
      if (this.fs.writeSync(fd, bytes, 0, bytes.length, 0) !== bytes.length) {
        throw Object.assign(new Error("short write"), { code: "EIO" });
      }
      this.barrierOn(fd, temp);
    } catch (error) {
      throw ioErrorFrom("write", temp, error);
    } finally {
      this.fs.closeSync(fd);
    }
    try {
      this.fs.renameSync(temp, final);
    } catch (error) {
      throw ioErrorFrom("rename", temp, error);
    }
    this.syncLogDirectory();
  }

  /** The platform's barrier on `fd`, a file of the log, told what the last one was. */
  private barrierOn(fd: number, path: string): BarrierStrength {
    this.fileBarrier = this.platform.barrier(fd, path, this.fileBarrier);
    return this.fileBarrier;
  }

  /** Syncs the log's directory, telling the platform what the last such sync was. */
  private syncLogDirectory(): BarrierStrength {
    this.directoryBarrier = this.platform.syncDirectory(this.directory, this.directoryBarrier);
    return this.directoryBarrier;
  }

  private segmentIndices(): number[] {
    return listSegments(this.fs, this.directory).map((segment) => segment.index);
  }
}
