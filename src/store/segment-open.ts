/**
 * @module
 * The steps of a writable segmented open that come before its lock: readying the directory,
 * and opening the `LOCK` file, which is created only once the checks that can refuse the open
 * have passed, so that a refused open leaves a directory as it found it.
 */

import { constants } from "node:fs";
import { dirname, join } from "node:path";
import { ioErrorFrom } from "../errors.ts";
import type { BarrierStrength, Platform } from "../platform/index.ts";
import { type FileSystem, openRegularFile } from "./file-system.ts";
import {
  createDirectory,
  holdsSegmentedLog,
  LOCK_FILE,
  noLogHere,
  requireDirectory,
  requireLog,
} from "./segment-layout.ts";

/**
 * Readies the directory of a writable open, before its `LOCK` file: with `segmentSize`, creates
 * it when missing (unless `create` is false); without, it must hold a log already, whose files
 * give the size, for a new log needs one. Nothing is created when this throws.
 * @returns what the sync of the directory's parent was (see `createDirectory`).
 * @throws WalError `INVALID_ARGUMENT` without `segmentSize` when no log is there; as
 * `createDirectory` and `requireLog` otherwise.
 */
export function readyDirectory(
  fs: FileSystem,
  directory: string,
  platform: Platform,
  segmentSize: number | undefined,
  create: boolean,
): BarrierStrength {
  if (!create) {
    requireLog(fs, directory);
    return "full";
  }
  if (segmentSize !== undefined) return createDirectory(fs, directory, platform);
  if (!requireDirectory(fs, directory, "create") || !holdsSegmentedLog(fs, directory)) {
    throw noLogHere(directory);
  }
  // Synced on every open, as createDirectory says: a crashed writer may have left the name
  // of the directory not yet durable.
  return platform.syncDirectory(dirname(directory));
}

/**
 * Opens the `LOCK` file of the log in `directory`, read-write. When it is missing, `check`
 * runs before it is created, so an open that `check` refuses leaves a directory without one
 * (a log the Rust crate wrote, a directory never opened by wal-db) as it was. Either way the
 * caller runs the checks again under the lock, where they cannot race a writer.
 * @throws WalError `IO`; `NOT_A_LOG` when `LOCK` is not a regular file; what `check` throws.
 */
export function openLockFile(fs: FileSystem, directory: string, check: () => void): number {
  const path = join(directory, LOCK_FILE);
  try {
    return openRegularFile(fs, path, constants.O_RDWR);
  } catch (error) {
    if ((error as { code?: string }).code !== "ENOENT") throw ioErrorFrom("open", path, error);
  }
  check();
  try {
    return openRegularFile(fs, path, constants.O_RDWR | constants.O_CREAT, 0o644);
  } catch (error) {
    throw ioErrorFrom("open", path, error);
  }
}
