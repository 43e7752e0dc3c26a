/**
 * @module
 * The single-file store: one log file, positioned reads and writes through `node:fs`, and the
 * platform's barrier and lock through `bun:ffi`. It holds the exclusive lock for as long as it
 * is open, so two `Wal`s can never write the same file.
 */

import { constants } from "node:fs";
import { dirname, resolve } from "node:path";
import {
  describeValue,
  invalidArgument,
  ioErrorFrom,
  locked,
  missingLog,
  readOnlyLog,
  type WalError,
} from "../errors.ts";
import { checkInteger } from "../options.ts";
import {
  type BarrierStrength,
  currentPlatform,
  isCurrentPlatform,
  type Platform,
  weakerBarrier,
} from "../platform/index.ts";
import { type FileSystem, isOpenOn, nodeFileSystem, openRegularFile } from "./file-system.ts";
import { type PartialWrite, readAt, writeAt } from "./positioned-io.ts";
import { refuseFileOfSegmentedLog } from "./segment-layout.ts";
import type { FileShare } from "./share.ts";
import type { WalStore } from "./store.ts";

/** Options for {@link FileStore.open}. */
export interface FileStoreOptions {
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
   * Opens an existing file for reading only: no lock, no create, no directory sync, and the
   * descriptor cannot write, so nothing this store does can change the file.
   * @default false
   */
  readOnly?: boolean;
  /**
   * Creates the file when it does not exist. With `false`, a missing file is `NOT_FOUND` and
   * nothing is created, so a mistyped path is not silently a new empty log.
   * @default true
   */
  create?: boolean;
}

/** A {@link WalStore} over one file, locked exclusively while open. */
export class FileStore implements WalStore {
  private currentSize: number;
  private closed = false;
  /**
   * What the last barrier on the log file returned, passed back to the next one: `"fsync"`
   * once the file system refused the full barrier (macOS: `F_FULLFSYNC` answered ENOTSUP or
   * EINVAL), so that it is not asked again on every barrier. The file system of an open file
   * does not change, so neither does its answer.
   */
  private fileBarrier: BarrierStrength = "full";

  private constructor(
    private readonly fd: number,
    /** The absolute path of the log file. */
    private readonly path: string,
    /** Whether `open` created the file (it did not exist before). */
    readonly created: boolean,
    private readonly platform: Platform,
    private readonly fs: FileSystem,
    /** False for a store attached to another store's descriptor: its `close` leaves it open. */
    private readonly ownsDescriptor: boolean,
    /** Opened with `readOnly`: writes and cuts fail on the descriptor, and `sync` refuses. */
    private readonly readOnly = false,
    /** What open's sync of the file's directory was; "full" when open synced none. */
    private readonly directoryBarrier: BarrierStrength = "full",
  ) {
    this.currentSize = statSize(fs, fd, path);
  }

  /**
   * Opens or creates the file at `path` and takes its exclusive lock.
   *
   * The parent directory is synced on every open, not only when this call creates the file:
   * a writer that crashed right after creating it may have left a name that is not yet
   * durable, and records synced into a file whose name is lost are lost too.
   *
   * Only a regular file is opened (never a FIFO or a device, which could block or feed
   * bytes without end), and never a file of a segmented log (a segment, its `head` or
   * `LOCK`), which a single-file open would misread and cut.
   *
   * @throws WalError `LOCKED` when another open store holds the file; `NOT_A_LOG` for a path
   * that is not a regular file or belongs to a segmented log; `NOT_FOUND` when the file (with
   * `create: false`) or its directory does not exist; `IO` when the OS refuses;
   * `UNSUPPORTED_PLATFORM` without `platform` on an OS with no known barrier, before anything
   * is opened or created.
   */
  static open(path: string, options: FileStoreOptions = {}): FileStore {
    if (typeof path !== "string" || path.length === 0) {
      throw invalidArgument(`path must be a non-empty string, got ${describeValue(path)}`);
    }
    const absolute = resolve(path);
    // Before anything touches the disk: on an OS with no known barrier this throws
    // UNSUPPORTED_PLATFORM, and no file is created or opened.
    const platform = options.platform ?? currentPlatform();
    const fs = options.fileSystem ?? nodeFileSystem;
    refuseFileOfSegmentedLog(fs, absolute);
    if (options.readOnly === true) {
      const fd = openForReading(fs, absolute);
      return new FileStore(fd, absolute, false, platform, fs, true, true);
    }
    const { fd, created } = openOrCreate(fs, absolute, options.create !== false);
    try {
      if (!platform.tryLockExclusive(fd, absolute)) throw locked(absolute);
      const directory = platform.syncDirectory(dirname(absolute));
      return new FileStore(fd, absolute, created, platform, fs, true, false, directory);
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  /**
   * The {@link FileShare} in `fields` (a handle's, received from another thread), checked for
   * its shape only: whether its descriptor is open on its path is `attach`'s check, made once
   * the caller knows the owner has not closed the log. `what` names the fields' owner in
   * messages ("the handle").
   * @throws WalError `INVALID_ARGUMENT` when `fd` is not a descriptor number or `path` is not
   * a string.
   */
  static checkShare(fields: Readonly<Record<string, unknown>>, what: string): FileShare {
    const fd = checkInteger(`${what}'s fd`, fields.fd, 0, 2 ** 31 - 1);
    if (typeof fields.path !== "string") throw invalidArgument(`${what}'s path is missing`);
    return { layout: "file", fd, path: fields.path };
  }

  /**
   * A store over the descriptor in `share`, from {@link FileStore.shareable} of a store open
   * in this process (another thread's), for `Wal.attach`. It takes no lock (the owner holds
   * it) and its `close` leaves the descriptor open; the caller guarantees it stays open while
   * it is used.
   * @throws WalError `INVALID_ARGUMENT` when the descriptor is not open on the file at the
   * share's path.
   */
  static attach(share: FileShare): FileStore {
    const { fd, path } = share;
    if (!isOpenOn(fd, path)) throw invalidArgument(`descriptor ${fd} is not open on ${path}`);
    return new FileStore(fd, path, false, currentPlatform(), nodeFileSystem, false);
  }

  /**
   * What another thread of this process needs to attach to this store (see
   * {@link FileShare}). Null when the store runs on an injected platform or file system, which
   * other threads cannot share.
   */
  shareable(): FileShare | null {
    if (!this.reachable()) return null;
    return { layout: "file", fd: this.fd, path: this.path };
  }

  /**
   * How another thread of this process (the sync thread) runs this store's barrier: through a
   * store attached to this one's descriptor, open before every write the barrier covers. Null
   * when the store is read-only (its `sync` refuses, and so must every barrier of it) or runs on
   * an injected platform or file system.
   */
  remoteBarrier(): FileShare | null {
    return this.readOnly ? null : this.shareable();
  }

  /** Whether another thread can reach this store: only over this OS's platform and `node:fs`. */
  private reachable(): boolean {
    return isCurrentPlatform(this.platform) && this.fs === nodeFileSystem;
  }

  /** The log file's path: what the store holds, for error messages. */
  get description(): string {
    return this.path;
  }

  get size(): number {
    return this.currentSize;
  }

  read(target: Uint8Array, position: number): number {
    try {
      return readAt(this.fs, this.fd, target, position);
    } catch (error) {
      throw ioErrorFrom("read", this.path, error);
    }
  }

  write(source: Uint8Array, length: number, position: number): void {
    try {
      writeAt(this.fs, this.fd, source, 0, length, position);
      this.currentSize = Math.max(this.currentSize, position + length);
    } catch (error) {
      const partial = error as PartialWrite;
      // Bytes that did reach the file count towards its size even when the rest failed.
      this.currentSize = Math.max(this.currentSize, position + partial.written);
      throw ioErrorFrom("write", this.path, partial.cause);
    }
  }

  truncate(size: number): void {
    // Other threads' stores write the same file (`Wal.share`): the file knows its length.
    this.currentSize = Math.max(this.currentSize, statSize(this.fs, this.fd, this.path));
    if (size > this.currentSize) {
      throw invalidArgument(
        `cannot truncate ${this.path} to ${size}: it holds ${this.currentSize} bytes`,
      );
    }
    try {
      this.fs.ftruncateSync(this.fd, size);
    } catch (error) {
      throw ioErrorFrom("ftruncate", this.path, error);
    }
    this.currentSize = size;
    // The new length is metadata the barrier flushes; until then a power loss could bring
    // the cut bytes back.
    this.barrier();
  }

  /**
   * The barrier on the log file. Without a range (recovery's barrier) it reports open's sync
   * of the directory too, so that what recovery reports covers everything open made durable.
   */
  sync(from?: number): BarrierStrength {
    // fdatasync works on a read-only descriptor: refuse here, so no reader can issue one.
    if (this.readOnly) throw readOnlyLog("sync", this.path);
    const strength = this.barrier();
    return from === undefined ? weakerBarrier(strength, this.directoryBarrier) : strength;
  }

  dropCache(): void {
    this.platform.dropCache(this.fd, this.path);
  }

  /** The platform's barrier on the log file, told what the last one was (see `fileBarrier`). */
  private barrier(): BarrierStrength {
    this.fileBarrier = this.platform.barrier(this.fd, this.path, this.fileBarrier);
    return this.fileBarrier;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.ownsDescriptor) return;
    // Closing the descriptor releases the flock, which belongs to this open file description.
    try {
      this.fs.closeSync(this.fd);
    } catch (error) {
      throw ioErrorFrom("close", this.path, error);
    }
  }
}

function openForReading(fs: FileSystem, path: string): number {
  let isDirectory: boolean;
  try {
    isDirectory = fs.statSync(path).isDirectory();
  } catch (error) {
    throw openError(path, error, "read");
  }
  // Opening a directory for reading succeeds; say what was meant instead of failing at a read.
  if (isDirectory) throw directoryWithoutSegmentSize(path);
  try {
    return openRegularFile(fs, path, constants.O_RDONLY);
  } catch (error) {
    throw openError(path, error, "read");
  }
}

function openOrCreate(
  fs: FileSystem,
  path: string,
  create: boolean,
): { fd: number; created: boolean } {
  if (create) {
    try {
      const flags = constants.O_RDWR | constants.O_CREAT | constants.O_EXCL;
      return { fd: openRegularFile(fs, path, flags, 0o644), created: true };
    } catch (error) {
      if ((error as { code?: string }).code !== "EEXIST") throw openError(path, error, "create");
    }
  }
  try {
    return { fd: openRegularFile(fs, path, constants.O_RDWR), created: false };
  } catch (error) {
    if ((error as { code?: string }).code === "EISDIR") throw directoryWithoutSegmentSize(path);
    throw openError(path, error, create ? "create" : "existing");
  }
}

/** An open's failure as a `WalError`: a missing file or directory is `NOT_FOUND`. */
function openError(path: string, error: unknown, open: "create" | "existing" | "read"): WalError {
  if ((error as { code?: string }).code !== "ENOENT") return ioErrorFrom("open", path, error);
  return missingLog(path, dirname(path), open, error);
}

function directoryWithoutSegmentSize(path: string): WalError {
  return invalidArgument(
    `${path} is a directory: open a segmented log with its segmentSize option`,
  );
}

function statSize(fs: FileSystem, fd: number, path: string): number {
  try {
    return fs.fstatSync(fd).size;
  } catch (error) {
    throw ioErrorFrom("fstat", path, error);
  }
}
