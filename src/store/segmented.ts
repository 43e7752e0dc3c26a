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
 *   recovers from the right record; segments left below the head's segment are ignored.
 * - Never destroy on doubt: a missing segment or a damaged `head` is an error at open, and
 *   nothing is deleted or cut (the Rust crate reads both as "the log ends here" and cuts).
 *
 * The second invariant needs the log written in LSN order, by one thread: when a write reaches
 * segment k + 1, every byte of segment k is written. That is why `share()` refuses segmented
 * logs for now; Workers writing in parallel would need segments preallocated to S instead.
 */

import { closeSync, constants, openSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { crc32c } from "../crc32c.ts";
import {
  damagedLayout,
  describeValue,
  invalidArgument,
  ioErrorFrom,
  locked,
  readOnlyLog,
  segmentSizeMismatch,
} from "../errors.ts";
import { currentPlatform, type Platform } from "../platform/index.ts";
import { type FileSystem, nodeFileSystem } from "./file-system.ts";
import type { WalStore } from "./store.ts";

/** Segment file names: the index as 20 zero-padded decimal digits, then `.wal`. */
const SEGMENT_NAME = /^(\d{20})\.wal$/;
const HEAD_FILE = "head";
/** Where a new head is written before it is renamed over `head`. */
const HEAD_TEMP_FILE = "head.tmp";
/** The head file: the LSN (u64 LE), then CRC-32C of those 8 bytes (u32 LE). */
const HEAD_FILE_SIZE = 12;
const LOCK_FILE = "LOCK";
/**
 * Descriptors kept open at once. Only the last segment takes writes that are not yet durable
 * (each one is synced full before the next is created), so closing an older segment's
 * descriptor loses nothing; the bound keeps a log of many small segments within the process's
 * file limit.
 */
const OPEN_SEGMENTS = 16;

/** The file name of segment `index`. */
export function segmentName(index: number): string {
  return `${String(index).padStart(20, "0")}.wal`;
}

/** The 12 bytes of a `head` file that names `head`. */
export function encodeHead(head: number): Uint8Array {
  const bytes = new Uint8Array(HEAD_FILE_SIZE);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(head), true);
  view.setUint32(8, crc32c(bytes, 0, 8), true);
  return bytes;
}

/**
 * The one segment a barrier over bytes `[from, to)` must sync, or -1 when the range is empty:
 * the segment holding byte `to - 1`. Every segment before it was synced full when the next one
 * was created (the invariants above), so its bytes are durable already.
 */
export function segmentToSync(from: number, to: number, segmentSize: number): number {
  return to > from ? Math.ceil(to / segmentSize) - 1 : -1;
}

/**
 * Makes bytes `[from, to)` of the segmented log in `directory` durable by opening the segment
 * that needs it (see {@link segmentToSync}) and running `platform`'s barrier on it: what a
 * sync thread, which shares no descriptors with the store, does. A descriptor opened after a
 * write still reports that write's failure: Linux reports a writeback error to the next
 * barrier on the file from any descriptor until some descriptor has seen it (and one that has
 * seen it poisoned the log).
 */
export function syncSegments(
  platform: Platform,
  directory: string,
  segmentSize: number,
  from: number,
  to: number,
): void {
  const index = segmentToSync(from, to, segmentSize);
  if (index < 0) return;
  const path = join(directory, segmentName(index));
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY);
  } catch (error) {
    throw ioErrorFrom("open", path, error);
  }
  try {
    platform.barrier(fd, path);
  } finally {
    closeSync(fd);
  }
}

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
}

/** A {@link WalStore} over a directory of segment files, locked exclusively while open. */
export class SegmentedStore implements WalStore {
  /** The absolute path of the directory. */
  readonly description: string;
  /** Open descriptors, by segment index, oldest first; opened on first use. */
  private readonly descriptors = new Map<number, number>();
  private currentSize: number;
  private currentHead: number;
  /**
   * The highest segment index that exists from the head's segment on; one below the head's
   * segment when none does. Every index between the two exists.
   */
  private highest: number;
  private closed = false;
  /** Segment files this store created since it was opened (for `Wal.stats`). */
  segmentsCreated = 0;
  /** Segment files this store deleted since it was opened (`truncateBefore`). */
  segmentsDeleted = 0;

  private constructor(
    directory: string,
    /** Bytes per segment. */
    readonly segmentSize: number,
    /** The lock file's descriptor; -1 for a read-only store, which takes no lock. */
    private readonly lockFd: number,
    private readonly platform: Platform,
    private readonly fs: FileSystem,
    layout: Layout,
  ) {
    this.description = directory;
    this.currentSize = layout.end;
    this.currentHead = layout.head;
    this.highest = layout.highest;
  }

  /**
   * Opens the segmented log in `directory` (created if missing), takes its exclusive lock and
   * checks that its files form one log of `segmentSize`-byte segments. Changes nothing on disk
   * but the lock file and the directory itself.
   *
   * @throws WalError `SEGMENT_SIZE_MISMATCH` when a segment's length contradicts
   * `segmentSize`; `CORRUPTION` when a segment is missing or `head` is damaged; `LOCKED`;
   * `INVALID_ARGUMENT` when `directory` is a file; `IO`.
   */
  static open(
    directory: string,
    segmentSize: number,
    options: SegmentedStoreOptions = {},
  ): SegmentedStore {
    if (typeof directory !== "string" || directory.length === 0) {
      throw invalidArgument(`path must be a non-empty string, got ${describeValue(directory)}`);
    }
    const absolute = resolve(directory);
    const platform = options.platform ?? currentPlatform();
    const fs = options.fileSystem ?? nodeFileSystem;
    if (options.readOnly === true) {
      const layout = readLayout(fs, absolute, segmentSize);
      return new SegmentedStore(absolute, segmentSize, -1, platform, fs, layout);
    }
    createDirectory(fs, absolute, platform);
    const lockPath = join(absolute, LOCK_FILE);
    let lockFd: number;
    try {
      lockFd = fs.openSync(lockPath, constants.O_RDWR | constants.O_CREAT, 0o644);
    } catch (error) {
      throw ioErrorFrom("open", lockPath, error);
    }
    try {
      if (!platform.tryLockExclusive(lockFd, absolute)) throw locked(absolute);
      const layout = readLayout(fs, absolute, segmentSize);
      return new SegmentedStore(absolute, segmentSize, lockFd, platform, fs, layout);
    } catch (error) {
      fs.closeSync(lockFd);
      throw error;
    }
  }

  /**
   * Where another thread (the sync thread) runs this log's barriers: by directory, since it
   * opens each segment itself. Null when the store runs on an injected platform or file system.
   */
  barrierTarget(): { kind: "segments"; directory: string; segmentSize: number } | null {
    if (this.platform !== currentPlatform() || this.fs !== nodeFileSystem) return null;
    return { kind: "segments", directory: this.description, segmentSize: this.segmentSize };
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
      const fd = this.descriptor(index, false);
      if (fd < 0) break;
      const got = this.readSegment(fd, index, target.subarray(done, done + want), local);
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
        const fd = this.descriptor(index, true);
        let written = 0;
        try {
          while (written < want) {
            const count = this.fs.writeSync(
              fd,
              source,
              done + written,
              want - written,
              local + written,
            );
            if (count === 0)
              throw Object.assign(new Error("write made no progress"), { code: "ENOSPC" });
            written += count;
          }
        } catch (error) {
          throw ioErrorFrom("write", join(this.description, segmentName(index)), error);
        } finally {
          done += written;
        }
      }
    } finally {
      this.currentSize = Math.max(this.currentSize, position + done);
    }
  }

  /**
   * Cuts the log to `size` bytes, durably. Segments wholly past the cut are deleted from the
   * last down, the directory synced after each, so a crash midway leaves a shorter log without
   * a gap; then the segment holding the new end is cut and synced.
   */
  truncate(size: number): void {
    if (size > this.currentSize || size < this.currentHead) {
      throw invalidArgument(
        `cannot truncate ${this.description} to ${size}: it holds bytes ${this.currentHead} to ${this.currentSize}`,
      );
    }
    const keep = Math.ceil(size / this.segmentSize) - 1;
    const firstKept = Math.floor(this.currentHead / this.segmentSize);
    for (let index = this.highest; index > Math.max(keep, firstKept - 1); index--) {
      this.deleteSegment(index);
      this.platform.syncDirectory(this.description);
      this.highest = index - 1;
    }
    this.currentSize = size;
    if (keep < firstKept) return;
    const fd = this.descriptor(keep, false);
    if (fd < 0) return;
    const path = join(this.description, segmentName(keep));
    try {
      this.fs.ftruncateSync(fd, size - keep * this.segmentSize);
    } catch (error) {
      throw ioErrorFrom("ftruncate", path, error);
    }
    this.platform.barrier(fd, path);
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
        `cannot move the head of ${this.description} to ${head}: it holds bytes ${this.currentHead} to ${this.currentSize}`,
      );
    }
    if (head !== this.currentHead) this.writeHead(head);
    this.currentHead = head;
    const keepFrom = Math.floor(head / this.segmentSize);
    let deleted = false;
    for (const index of this.segmentIndices()) {
      if (index >= keepFrom) continue;
      this.deleteSegment(index);
      deleted = true;
    }
    if (deleted) this.platform.syncDirectory(this.description);
  }

  /**
   * The barrier. With a range, syncs only the segment holding its last byte: the one segment
   * with writes not yet durable (see {@link segmentToSync}). Without one (recovery), syncs every
   * segment and the directory, since a crashed writer, or the Rust crate, which does not sync
   * on a roll, may have left any of them unsynced.
   */
  sync(from?: number, to?: number): void {
    // fdatasync works on a read-only descriptor: refuse here, so no reader can issue one.
    if (this.lockFd < 0) throw readOnlyLog("sync", this.description);
    const whole = from === undefined || to === undefined;
    const last = whole ? this.highest : segmentToSync(from, to, this.segmentSize);
    const first = whole ? Math.floor(this.currentHead / this.segmentSize) : last;
    for (let index = first; index <= last; index++) {
      const fd = this.descriptor(index, false);
      if (fd >= 0) this.platform.barrier(fd, join(this.description, segmentName(index)));
    }
    if (whole) this.platform.syncDirectory(this.description);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    let failure: unknown;
    for (const fd of this.descriptors.values()) {
      try {
        this.fs.closeSync(fd);
      } catch (error) {
        failure ??= error;
      }
    }
    this.descriptors.clear();
    try {
      // Closing the lock file's descriptor releases the lock.
      if (this.lockFd >= 0) this.fs.closeSync(this.lockFd);
    } catch (error) {
      failure ??= error;
    }
    if (failure !== undefined) throw ioErrorFrom("close", this.description, failure);
  }

  /**
   * The descriptor of segment `index`, opened on first use; -1 when the segment does not exist
   * and `create` is false. Creating a segment first syncs the one before it (full by now: the
   * log is written in order) and then the directory, keeping the invariants at the top.
   */
  private descriptor(index: number, create: boolean): number {
    const open = this.descriptors.get(index);
    if (open !== undefined) return open;
    const path = join(this.description, segmentName(index));
    if (index <= this.highest || !create) {
      try {
        // A read-only store (no lock) opens nothing it could write through.
        const access = this.lockFd < 0 ? constants.O_RDONLY : constants.O_RDWR;
        return this.keep(index, this.fs.openSync(path, access));
      } catch (error) {
        if ((error as { code?: string }).code === "ENOENT" && !create) return -1;
        throw ioErrorFrom("open", path, error);
      }
    }
    const previous = this.descriptor(index - 1, false);
    if (previous >= 0)
      this.platform.barrier(previous, join(this.description, segmentName(index - 1)));
    let fd: number;
    try {
      fd = this.fs.openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
    } catch (error) {
      throw ioErrorFrom("open", path, error);
    }
    this.keep(index, fd);
    this.highest = index;
    this.platform.syncDirectory(this.description);
    this.segmentsCreated++;
    return fd;
  }

  /** Remembers `fd` as segment `index`'s, closing the oldest beyond the bound; returns `fd`. */
  private keep(index: number, fd: number): number {
    this.descriptors.set(index, fd);
    if (this.descriptors.size > OPEN_SEGMENTS) {
      const [oldest, oldestFd] = this.descriptors.entries().next().value!;
      this.descriptors.delete(oldest);
      this.fs.closeSync(oldestFd);
    }
    return fd;
  }

  private readSegment(fd: number, index: number, target: Uint8Array, local: number): number {
    let done = 0;
    try {
      while (done < target.length) {
        const count = this.fs.readSync(fd, target, done, target.length - done, local + done);
        if (count === 0) break;
        done += count;
      }
    } catch (error) {
      throw ioErrorFrom("read", join(this.description, segmentName(index)), error);
    }
    return done;
  }

  private deleteSegment(index: number): void {
    const fd = this.descriptors.get(index);
    if (fd !== undefined) {
      this.descriptors.delete(index);
      this.fs.closeSync(fd);
    }
    const path = join(this.description, segmentName(index));
    try {
      this.fs.unlinkSync(path);
      this.segmentsDeleted++;
    } catch (error) {
      if ((error as { code?: string }).code !== "ENOENT") throw ioErrorFrom("unlink", path, error);
    }
  }

  private writeHead(head: number): void {
    const temp = join(this.description, HEAD_TEMP_FILE);
    const final = join(this.description, HEAD_FILE);
    let fd: number;
    try {
      fd = this.fs.openSync(temp, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC, 0o644);
    } catch (error) {
      throw ioErrorFrom("open", temp, error);
    }
    try {
      const bytes = encodeHead(head);
      if (this.fs.writeSync(fd, bytes, 0, bytes.length, 0) !== bytes.length) {
        throw Object.assign(new Error("short write"), { code: "EIO" });
      }
      this.platform.barrier(fd, temp);
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
    this.platform.syncDirectory(this.description);
  }

  private segmentIndices(): number[] {
    return listSegments(this.fs, this.description).map((segment) => segment.index);
  }
}

/** What the files of a segmented log say, checked. */
interface Layout {
  readonly head: number;
  readonly end: number;
  readonly highest: number;
}

/** One segment file of a segmented log, as listed. */
export interface SegmentFile {
  readonly index: number;
  /** Its length in bytes. */
  readonly length: number;
}

function createDirectory(fs: FileSystem, path: string, platform: Platform): void {
  let exists = true;
  try {
    if (!fs.statSync(path).isDirectory()) {
      throw invalidArgument(
        `${path} is a file, not a segmented log's directory; open a single-file log without segmentSize`,
      );
    }
  } catch (error) {
    if ((error as { code?: string }).code !== "ENOENT") throw ioErrorFrom("stat", path, error);
    exists = false;
  }
  if (!exists) {
    try {
      fs.mkdirSync(path);
    } catch (error) {
      throw ioErrorFrom("mkdir", path, error);
    }
  }
  // The directory's name must survive a power loss, or every segment in it is lost. Synced on
  // every open, as a single file's name is: a writer that crashed right after creating the
  // directory may have left a name that is not yet durable.
  platform.syncDirectory(dirname(path));
}

/**
 * The segment files in `directory`, by increasing index, with their lengths. Other names are
 * not the log's. A file gone between the listing and its stat is not listed: a read-only
 * reader lists while the writer deletes segments (the layout check then judges what is left).
 */
export function listSegments(fs: FileSystem, directory: string): SegmentFile[] {
  let names: string[];
  try {
    names = fs.readdirSync(directory);
  } catch (error) {
    throw ioErrorFrom("readdir", directory, error);
  }
  const segments: SegmentFile[] = [];
  for (const name of names) {
    const match = SEGMENT_NAME.exec(name);
    if (match === null) continue;
    const index = Number(match[1]);
    const path = join(directory, name);
    let length: number;
    try {
      const stat = fs.statSync(path);
      if (!stat.isFile()) continue;
      length = stat.size;
    } catch (error) {
      if ((error as { code?: string }).code === "ENOENT") continue;
      throw ioErrorFrom("stat", path, error);
    }
    segments.push({ index, length });
  }
  return segments.sort((a, b) => a.index - b.index);
}

/**
 * Reads and checks the layout: the head, the segments from the head's on (no gap), every
 * segment but the last exactly `segmentSize` bytes. Throws rather than guess.
 */
function readLayout(fs: FileSystem, directory: string, segmentSize: number): Layout {
  const segments = listSegments(fs, directory);
  const head = readHead(fs, directory);
  const highest = segments.at(-1);
  // Leftovers below the head's segment were full, non-last segments when they were written.
  const first = Math.floor((head ?? 0) / segmentSize);
  for (const segment of segments) {
    const last = segment === highest && segment.index >= first;
    if (last ? segment.length > segmentSize : segment.length !== segmentSize) {
      throw segmentSizeMismatch(
        join(directory, segmentName(segment.index)),
        segment.length,
        segmentSize,
      );
    }
  }
  if (head === null) {
    const lowest = segments[0];
    if (lowest !== undefined && lowest.index > 0) {
      throw damagedLayout(
        0,
        `${segmentName(0)} is missing and there is no head file to say the log starts later ` +
          `(the lowest segment is ${segmentName(lowest.index)})`,
      );
    }
  }
  const start = head ?? 0;
  // Segments below the head's are leftovers of a compaction a crash interrupted: ignored.
  const live = segments.filter((segment) => segment.index >= first);
  live.forEach((segment, k) => {
    if (segment.index !== first + k) {
      throw damagedLayout(
        (first + k) * segmentSize,
        `segment ${segmentName(first + k)} is missing, but ${segmentName(segment.index)} follows it`,
      );
    }
  });
  const last = live.at(-1);
  if (last === undefined && start % segmentSize !== 0) {
    throw damagedLayout(start, `segment ${segmentName(first)}, which holds the head, is missing`);
  }
  const end = last === undefined ? start : last.index * segmentSize + last.length;
  if (end < start) {
    throw damagedLayout(end, `the head file says the log starts at ${start}, past its end ${end}`);
  }
  return { head: start, end, highest: last?.index ?? first - 1 };
}

/** The head the `head` file names, or null when there is none. */
function readHead(fs: FileSystem, directory: string): number | null {
  const path = join(directory, HEAD_FILE);
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(path);
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return null;
    throw ioErrorFrom("read", path, error);
  }
  if (bytes.length !== HEAD_FILE_SIZE) {
    throw damagedLayout(0, `the head file ${path} holds ${bytes.length} bytes, not 12`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(8, true) !== crc32c(bytes, 0, 8)) {
    throw damagedLayout(0, `the head file ${path} fails its checksum`);
  }
  const head = view.getBigUint64(0, true);
  if (head > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw damagedLayout(0, `the head file ${path} names LSN ${head}, beyond 2^53 - 1`);
  }
  return Number(head);
}
