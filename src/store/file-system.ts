/**
 * @module
 * The file calls the file-backed stores make, as a seam. Production passes `node:fs` through
 * unchanged; tests pass a simulated file system that records every call, so they can compute
 * what a power loss at any moment could leave on disk, or fail any call with any errno. With
 * the `Platform` (barrier, directory sync, lock) this is everything a store does to a disk.
 */

import * as fs from "node:fs";
import { ioErrorFrom, notARegularFile } from "../errors.ts";

/**
 * What `fstatSync` and `statSync` report. The type tests beyond `isFile` and `isDirectory`
 * are optional: a simulated file system has only regular files and directories.
 */
interface FileStat {
  readonly size: number;
  isFile(): boolean;
  isDirectory(): boolean;
  isFIFO?(): boolean;
  isCharacterDevice?(): boolean;
  isBlockDevice?(): boolean;
  isSocket?(): boolean;
}

/**
 * The subset of `node:fs` the stores use, with the exact argument shapes they pass. An
 * implementation throws errors carrying a string `code` (an errno name such as `ENOENT`), as
 * `node:fs` does; the stores turn them into `WalError`s.
 */
export interface FileSystem {
  /** Opens `path` with `fs.constants` flags (`O_RDWR`, `O_CREAT`, `O_EXCL`, `O_TRUNC`, `O_RDONLY`). */
  openSync(path: string, flags: number, mode?: number): number;
  closeSync(fd: number): void;
  /** The length and type of the open file `fd`. */
  fstatSync(fd: number): FileStat;
  statSync(path: string): FileStat;
  /** Reads up to `length` bytes at `position` into `buffer[offset..]`; 0 at the end. */
  readSync(
    fd: number,
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): number;
  /** Writes up to `length` bytes of `buffer[offset..]` at `position`; returns how many. */
  writeSync(
    fd: number,
    buffer: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): number;
  ftruncateSync(fd: number, length: number): void;
  /** The names in directory `path`. */
  readdirSync(path: string): string[];
  mkdirSync(path: string): void;
  renameSync(from: string, to: string): void;
  unlinkSync(path: string): void;
}

/** The real file system: `node:fs` itself. */
export const nodeFileSystem: FileSystem = {
  openSync: (path, flags, mode) => fs.openSync(path, flags, mode),
  closeSync: (fd) => fs.closeSync(fd),
  fstatSync: (fd) => fs.fstatSync(fd),
  statSync: (path) => fs.statSync(path),
  readSync: (fd, buffer, offset, length, position) =>
    fs.readSync(fd, buffer, offset, length, position),
  writeSync: (fd, buffer, offset, length, position) =>
    fs.writeSync(fd, buffer, offset, length, position),
  ftruncateSync: (fd, length) => fs.ftruncateSync(fd, length),
  readdirSync: (path) => fs.readdirSync(path),
  mkdirSync: (path) => {
    fs.mkdirSync(path);
  },
  renameSync: (from, to) => fs.renameSync(from, to),
  unlinkSync: (path) => fs.unlinkSync(path),
};

/** `O_NONBLOCK`, where the platform has it: opening a FIFO with it never waits for a writer. */
const NONBLOCK = fs.constants.O_NONBLOCK ?? 0;

/**
 * Opens `path` with `flags` and returns the descriptor only if it names a regular file.
 * The open never blocks (`O_NONBLOCK`, which does nothing to a regular file) and the type is
 * checked on the descriptor itself (`fstat`), so a FIFO, a device or a socket, or a name
 * swapped for one after a listing, is refused before a single byte is read or written.
 * @throws WalError `NOT_A_LOG` naming the path and what it is; the OS error as `IO` otherwise.
 */
export function openRegularFile(
  files: FileSystem,
  path: string,
  flags: number,
  mode?: number,
): number {
  const fd = files.openSync(path, flags | NONBLOCK, mode);
  let stat: FileStat;
  try {
    stat = files.fstatSync(fd);
  } catch (error) {
    files.closeSync(fd);
    throw ioErrorFrom("fstat", path, error);
  }
  if (!stat.isFile()) {
    files.closeSync(fd);
    throw notARegularFile(path, fileKind(stat));
  }
  return fd;
}

/** What a file that is not a regular file is, for error messages: "a FIFO", "a directory". */
export function fileKind(stat: FileStat): string {
  if (stat.isDirectory()) return "a directory";
  if (stat.isFIFO?.()) return "a FIFO";
  if (stat.isCharacterDevice?.()) return "a character device";
  if (stat.isBlockDevice?.()) return "a block device";
  if (stat.isSocket?.()) return "a socket";
  return stat.isFile() ? "a regular file" : "not a regular file";
}

/**
 * Whether `fd`, a descriptor of this process, is open on the file at `path` (same device and
 * inode): how a store attached from another thread checks the token it was given. False when
 * either cannot be looked at.
 */
export function isOpenOn(fd: number, path: string): boolean {
  try {
    const opened = fs.fstatSync(fd);
    const named = fs.statSync(path);
    return opened.ino === named.ino && opened.dev === named.dev;
  } catch {
    return false;
  }
}
