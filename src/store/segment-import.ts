/**
 * @module
 * Writing a whole segmented log from bytes that come from elsewhere (an archive's restore):
 * into a new directory beside the target, every file synced once on the descriptor that wrote
 * it (DESIGN rule 7), then moved into place with one rename, so a restore that fails or dies
 * midway leaves the target as it was, never a log that is shorter than it claims. It writes files and nothing more; what the bytes are, and where
 * the log ends, the caller checks by opening the directory as a `SegmentedStore` before
 * {@link SegmentImport.finish}.
 */

import { constants, rmdirSync, rmSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { describeValue, invalidArgument, ioErrorFrom, missingLog } from "../errors.ts";
import { currentPlatform, type Platform } from "../platform/index.ts";
import { type FileSystem, nodeFileSystem, openRegularFile } from "./file-system.ts";
import { type PartialWrite, writeAt } from "./positioned-io.ts";
import { encodeHead, HEAD_FILE, segmentName } from "./segment-layout.ts";

/** The seams a test replaces. */
export interface SegmentImportOptions {
  readonly platform?: Platform;
  readonly fileSystem?: FileSystem;
}

/** A segmented log being written beside its target, not yet in place. */
export class SegmentImport {
  private done = false;
  /**
   * The segment being written, kept open across its pieces (a sealed segment, or the partials
   * after it): it is synced once, on the descriptor that wrote it, when the next one starts.
   */
  private current: { readonly index: number; readonly fd: number; readonly path: string } | null =
    null;

  private constructor(
    /** Where the log goes once whole. */
    readonly target: string,
    /** Where it is written meanwhile: a new directory beside the target. */
    readonly directory: string,
    private readonly platform: Platform,
    private readonly fs: FileSystem,
  ) {}

  /**
   * Starts writing a log for `target`, which must not exist or be an empty directory, in a new
   * directory beside it. Nothing is created when this throws.
   * @throws WalError `INVALID_ARGUMENT` when `target` is a file or a directory that holds
   * anything; `NOT_FOUND` when its parent directory is missing; `IO`.
   */
  static begin(target: string, options: SegmentImportOptions = {}): SegmentImport {
    if (typeof target !== "string" || target.length === 0)
      throw invalidArgument(`a restore's target must be a path, got ${describeValue(target)}`);
    const absolute = resolve(target);
    const platform = options.platform ?? currentPlatform();
    const fs = options.fileSystem ?? nodeFileSystem;
    requireEmptyOrMissing(fs, absolute);
    const random = Math.floor(Math.random() * 2 ** 32).toString(16);
    const directory = join(dirname(absolute), `.${basename(absolute)}.restoring-${random}`);
    try {
      fs.mkdirSync(directory);
    } catch (error) {
      throw ioErrorFrom("mkdir", directory, error);
    }
    return new SegmentImport(absolute, directory, platform, fs);
  }

  /** Writes the `head` file naming `head`, synced. */
  writeHead(head: number): void {
    const path = join(this.directory, HEAD_FILE);
    const fd = this.open(path);
    try {
      this.writeThrough(fd, path, encodeHead(head), 0);
      this.platform.barrier(fd, path);
    } finally {
      this.fs.closeSync(fd);
    }
  }

  /**
   * Writes `bytes` into segment `index` at `offset` within it (created if new). Pieces come in
   * LSN order; a segment is synced when the first piece of another one comes, or at `syncFiles`.
   */
  write(index: number, offset: number, bytes: Uint8Array): void {
    if (this.current?.index !== index) {
      this.syncFiles();
      const path = join(this.directory, segmentName(index));
      this.current = { index, fd: this.open(path), path };
    }
    this.writeThrough(this.current.fd, this.current.path, bytes, offset);
  }

  /** Syncs and closes the segment being written: every byte written so far is then durable. */
  syncFiles(): void {
    const current = this.current;
    if (current === null) return;
    this.current = null;
    try {
      this.platform.barrier(current.fd, current.path);
    } finally {
      this.fs.closeSync(current.fd);
    }
  }

  /**
   * Moves the log into place: syncs its directory, renames it over the target (an empty
   * directory there is removed first), and syncs the parent.
   * @returns the target's absolute path.
   * @throws WalError `INVALID_ARGUMENT` when the target was filled meanwhile; `IO`.
   */
  finish(): string {
    this.syncFiles();
    this.platform.syncDirectory(this.directory);
    requireEmptyOrMissing(this.fs, this.target);
    try {
      // An empty directory there goes first: Windows renames no directory over another.
      rmdirSync(this.target);
    } catch (error) {
      if ((error as { code?: string }).code !== "ENOENT")
        throw ioErrorFrom("rmdir", this.target, error);
    }
    try {
      this.fs.renameSync(this.directory, this.target);
    } catch (error) {
      throw ioErrorFrom("rename", this.directory, error);
    }
    this.done = true;
    this.platform.syncDirectory(dirname(this.target));
    return this.target;
  }

  /** Removes what was written, unless it was moved into place. Idempotent. */
  abandon(): void {
    if (this.done) return;
    this.done = true;
    if (this.current !== null) this.fs.closeSync(this.current.fd);
    this.current = null;
    rmSync(this.directory, { recursive: true, force: true });
  }

  private open(path: string): number {
    try {
      return openRegularFile(this.fs, path, constants.O_RDWR | constants.O_CREAT, 0o644);
    } catch (error) {
      throw ioErrorFrom("open", path, error);
    }
  }

  private writeThrough(fd: number, path: string, bytes: Uint8Array, offset: number): void {
    try {
      writeAt(this.fs, fd, bytes, 0, bytes.length, offset);
    } catch (error) {
      throw ioErrorFrom("write", path, (error as PartialWrite).cause);
    }
  }
}

/** Refuses a `target` that holds anything: a restore never writes over data. */
function requireEmptyOrMissing(fs: FileSystem, target: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(target);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ENOENT") {
      try {
        fs.statSync(dirname(target));
      } catch {
        throw missingLog(target, dirname(target), "create");
      }
      return;
    }
    if (code === "ENOTDIR")
      throw invalidArgument(`cannot restore into ${target}: it is a file, not a directory`);
    throw ioErrorFrom("readdir", target, error);
  }
  if (entries.length > 0) {
    throw invalidArgument(
      `cannot restore into ${target}: it holds ${entries.length} entr${entries.length === 1 ? "y" : "ies"} (restore into a new or empty directory)`,
    );
  }
}
