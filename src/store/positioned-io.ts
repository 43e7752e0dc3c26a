/**
 * @module
 * Positioned reads and writes that see a request through, over the {@link FileSystem} seam:
 * one `read` or `write` call may move fewer bytes than asked, so each of these loops until
 * the request is done, the file ends, or a call fails.
 */

import type { FileSystem } from "./file-system.ts";

/**
 * Reads from `position` of `fd` into `target` until it is full or the file ends.
 * @returns how many bytes were read; fewer than `target.length` only at the end of the file.
 * @throws what the file system throws, unwrapped.
 */
export function readAt(
  files: FileSystem,
  fd: number,
  target: Uint8Array,
  position: number,
): number {
  let done = 0;
  while (done < target.length) {
    const count = files.readSync(fd, target, done, target.length - done, position + done);
    if (count === 0) break;
    done += count;
  }
  return done;
}

/**
 * Why {@link writeAt} stopped: `written` bytes reached the file before the call that failed,
 * whose error is the `cause`. Those bytes count towards the file's size all the same.
 */
export class PartialWrite extends Error {
  constructor(
    readonly written: number,
    cause: unknown,
  ) {
    super(`positioned write stopped after ${written} bytes`, { cause });
  }
}

/**
 * Writes `source[offset, offset + length)` at `position` of `fd`, every byte of it: a short
 * write is followed by another for the rest.
 * @throws PartialWrite when a call fails, or makes no progress (`ENOSPC`: a regular file only
 * writes nothing when it cannot grow; said rather than spun on).
 */
export function writeAt(
  files: FileSystem,
  fd: number,
  source: Uint8Array,
  offset: number,
  length: number,
  position: number,
): void {
  let done = 0;
  try {
    while (done < length) {
      const count = files.writeSync(fd, source, offset + done, length - done, position + done);
      if (count === 0) {
        throw Object.assign(new Error("write made no progress"), { code: "ENOSPC" });
      }
      done += count;
    }
  } catch (error) {
    throw new PartialWrite(done, error);
  }
}
