/**
 * @module
 * The writing side of a segmented log, as every thread that writes it runs it: pieces written
 * into the newest segment, the roll into the next one when that falls to this thread, the
 * barriers, and the `head` file. What the threads share is in segment-table.ts; the owner's
 * store (segmented.ts) adds the lock, reads and truncations.
 */

import { constants } from "node:fs";
import { join } from "node:path";
import { ioErrorFrom } from "../errors.ts";
import type { BarrierStrength, Platform } from "../platform/index.ts";
import { type FileSystem, openRegularFile } from "./file-system.ts";
import { type PartialWrite, writeAt } from "./positioned-io.ts";
import type { SegmentFiles } from "./segment-files.ts";
import { encodeHead, HEAD_FILE, HEAD_TEMP_FILE } from "./segment-layout.ts";
import type { SegmentDescriptors, SegmentTable } from "./segment-table.ts";

/** One thread's writer into a segmented log's files. */
export class SegmentWriter {
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
  /** Rolls the log into a new segment, for {@link SegmentTable.writable}: bound once. */
  private readonly rollInto = (index: number): SegmentDescriptors => this.roll(index);

  constructor(
    private readonly directory: string,
    private readonly segmentSize: number,
    private readonly table: SegmentTable,
    private readonly files: SegmentFiles,
    private readonly platform: Platform,
    private readonly fs: FileSystem,
  ) {}

  /**
   * Writes `source[0..length)` at `position`, each piece into its segment once that is the
   * newest, rolling the log into it when that falls to this thread (segment-table.ts, rules 1
   * to 3).
   */
  write(source: Uint8Array, length: number, position: number): void {
    let done = 0;
    try {
      while (done < length) {
        const at = position + done;
        const index = Math.floor(at / this.segmentSize);
        const local = at - index * this.segmentSize;
        const want = Math.min(length - done, this.segmentSize - local);
        const fd = this.table.writable(index, this.rollInto);
        try {
          writeAt(this.fs, fd, source, done, want, local);
        } catch (error) {
          throw ioErrorFrom("write", this.files.path(index), (error as PartialWrite).cause);
        }
        done += want;
        this.table.wrote(want);
      }
    } catch (error) {
      // Its segment will never be whole: every thread waiting to roll past it stops now.
      this.table.breakTable();
      throw error;
    }
  }

  /**
   * The barrier over the log's bytes ending at `to`: on the segment holding the last of them,
   * through the table's descriptor opened before any write to it, and only while it is the
   * newest: every older segment was synced whole when the next one was created (rule 4).
   */
  syncTo(to: number): BarrierStrength {
    const last = Math.floor((to - 1) / this.segmentSize);
    if (last < this.table.highest) return "full";
    const path = this.files.path(last);
    return this.table.pinned(last, (fd) => this.barrierOn(fd, path)) ?? "full";
  }

  /**
   * Opens both descriptors of segment `index` and puts them in the table: at open, before any
   * write to the newest segment, or for a sealed segment that a cut makes the newest again.
   */
  installFresh(index: number): void {
    const fd = this.files.open(index, constants.O_RDWR);
    try {
      this.table.install(index, { fd, rollFd: this.files.open(index, constants.O_RDWR) });
    } catch (error) {
      this.fs.closeSync(fd);
      throw error;
    }
  }

  /** Deletes segment `index`, closing every descriptor of it this thread or the table has. */
  deleteSegment(index: number): void {
    this.table.forget(index);
    if (this.files.delete(index)) this.table.countDeleted();
  }

  /**
   * Makes `head` the `head` file's LSN, durably: temp file, barrier, rename, directory barrier.
   */
  writeHead(head: number): void {
    const temp = join(this.directory, HEAD_TEMP_FILE);
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
      this.fs.renameSync(temp, join(this.directory, HEAD_FILE));
    } catch (error) {
      throw ioErrorFrom("rename", temp, error);
    }
    this.syncDirectory();
  }

  /** The platform's barrier on `fd`, a file of the log, told what the last one was. */
  barrierOn(fd: number, path: string): BarrierStrength {
    this.fileBarrier = this.platform.barrier(fd, path, this.fileBarrier);
    return this.fileBarrier;
  }

  /** Syncs the log's directory, telling the platform what the last such sync was. */
  syncDirectory(): BarrierStrength {
    this.directoryBarrier = this.platform.syncDirectory(this.directory, this.directoryBarrier);
    return this.directoryBarrier;
  }

  /**
   * Rolls the log into segment `index`, for the thread that holds the table's `ROLLER`: syncs
   * the one before it (whole by now: the table waited for it), creates the new one, syncs the
   * directory, and opens its descriptors before any byte is written to it.
   * @returns the new segment's descriptors, for the table.
   */
  private roll(index: number): SegmentDescriptors {
    this.seal(index - 1);
    const fd = this.files.open(index, constants.O_RDWR | constants.O_CREAT, 0o644);
    let rollFd: number;
    try {
      this.syncDirectory();
      rollFd = this.files.open(index, constants.O_RDWR);
    } catch (error) {
      this.fs.closeSync(fd);
      throw error;
    }
    // A segment kept below the head only for being the newest is a leftover now: its name is
    // no longer needed to find the log's end, so it goes (a crash that brings it back leaves a
    // leftover that open ignores), unless an archiver has yet to upload it.
    const leftover = index - 1;
    if (index > 0 && this.table.head >= index * this.segmentSize && leftover < this.table.keep)
      this.deleteSegment(leftover);
    return { fd, rollFd };
  }

  /**
   * Syncs segment `index`, whole, before the next one is created: through the descriptor the
   * table keeps for this one barrier (rule 4), or the table's other one when it has none.
   */
  private seal(index: number): void {
    const path = this.files.path(index);
    const rollFd = this.table.takeRollFd(index);
    if (rollFd < 0) {
      this.table.pinned(index, (fd) => this.barrierOn(fd, path));
      return;
    }
    try {
      this.barrierOn(rollFd, path);
    } finally {
      this.fs.closeSync(rollFd);
    }
  }
}
