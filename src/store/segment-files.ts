/**
 * @module
 * The segment files of a live segmented log, as `SegmentedStore` uses them: their paths, the
 * descriptors it holds open on them (opened on first use, bounded) and their deletion. What the
 * files say, and whether they form a log, is segment-layout.ts.
 */

import { constants } from "node:fs";
import { join } from "node:path";
import { ioErrorFrom } from "../errors.ts";
import { type FileSystem, openRegularFile } from "./file-system.ts";
import { segmentName } from "./segment-layout.ts";

/**
 * Descriptors kept open at once. Only the last segment takes writes that are not yet durable
 * (each one is synced full before the next is created), so closing an older segment's
 * descriptor loses nothing; the bound keeps a log of many small segments within the process's
 * file limit.
 */
const OPEN_SEGMENTS = 16;

/** The segment files in one directory, and the descriptors open on them. */
export class SegmentFiles {
  /** Open descriptors, by segment index, oldest first; opened on first use. */
  private readonly descriptors = new Map<number, number>();

  /**
   * @param readOnly - opens nothing it could write through: for a read-only store.
   * @param newest - the log's newest segment now, whose descriptor {@link SegmentFiles.keep}
   * never closes.
   */
  constructor(
    private readonly fs: FileSystem,
    private readonly directory: string,
    private readonly readOnly: boolean,
    private readonly newest: () => number,
  ) {}

  /** The path of segment `index`'s file. */
  path(index: number): string {
    return join(this.directory, segmentName(index));
  }

  /**
   * The descriptor of segment `index`, opened on first use. A segment that does not exist is
   * -1, or with `ifMissing: "throw"` an `IO` error (for a segment the log holds).
   */
  descriptor(index: number, ifMissing: -1 | "throw" = -1): number {
    const open = this.descriptors.get(index);
    if (open !== undefined) return open;
    const path = this.path(index);
    try {
      // A read-only store opens nothing it could write through.
      const access = this.readOnly ? constants.O_RDONLY : constants.O_RDWR;
      return this.keep(index, openRegularFile(this.fs, path, access));
    } catch (error) {
      if ((error as { code?: string }).code === "ENOENT" && ifMissing === -1) return -1;
      throw ioErrorFrom("open", path, error);
    }
  }

  /**
   * Opens segment `index`'s file with `flags` (and `mode`, for `O_CREAT`): a descriptor of the
   * caller's, not kept here until it calls {@link SegmentFiles.keep}.
   */
  open(index: number, flags: number, mode?: number): number {
    const path = this.path(index);
    try {
      return openRegularFile(this.fs, path, flags, mode);
    } catch (error) {
      throw ioErrorFrom("open", path, error);
    }
  }

  /**
   * Remembers `fd` as segment `index`'s, closing the oldest beyond the bound, but never the
   * newest segment's: its barrier must run on the descriptor its writes went through (a
   * descriptor opened later is not told of a writeback error another one already saw).
   */
  keep(index: number, fd: number): number {
    this.descriptors.set(index, fd);
    if (this.descriptors.size > OPEN_SEGMENTS) {
      for (const [older, olderFd] of this.descriptors) {
        if (older === this.newest()) continue;
        this.descriptors.delete(older);
        this.fs.closeSync(olderFd);
        break;
      }
    }
    return fd;
  }

  /**
   * Deletes segment `index`'s file, closing its descriptor first.
   * @returns whether there was a file to delete.
   */
  delete(index: number): boolean {
    const fd = this.descriptors.get(index);
    if (fd !== undefined) {
      this.descriptors.delete(index);
      this.fs.closeSync(fd);
    }
    const path = this.path(index);
    try {
      this.fs.unlinkSync(path);
      return true;
    } catch (error) {
      if ((error as { code?: string }).code !== "ENOENT") throw ioErrorFrom("unlink", path, error);
      return false;
    }
  }

  /**
   * Closes every descriptor, each one even when another's close fails.
   * @returns the first error a close threw, or undefined.
   */
  closeAll(): unknown {
    let failure: unknown;
    for (const fd of this.descriptors.values()) {
      try {
        this.fs.closeSync(fd);
      } catch (error) {
        failure ??= error;
      }
    }
    this.descriptors.clear();
    return failure;
  }
}
