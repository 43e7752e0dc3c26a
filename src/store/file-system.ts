/**
 * @module
 * The file calls the file-backed stores make, as a seam. Production passes `node:fs` through
 * unchanged; tests pass a simulated file system that records every call, so they can compute
 * what a power loss at any moment could leave on disk, or fail any call with any errno. With
 * the `Platform` (barrier, directory sync, lock) this is everything a store does to a disk.
 */

import * as fs from "node:fs";

/**
 * The subset of `node:fs` the stores use, with the exact argument shapes they pass. An
 * implementation throws errors carrying a string `code` (an errno name such as `ENOENT`), as
 * `node:fs` does; the stores turn them into `WalError`s.
 */
export interface FileSystem {
  /** Opens `path` with `fs.constants` flags (`O_RDWR`, `O_CREAT`, `O_EXCL`, `O_TRUNC`, `O_RDONLY`). */
  openSync(path: string, flags: number, mode?: number): number;
  closeSync(fd: number): void;
  /** The length of the open file `fd`. */
  fstatSync(fd: number): { readonly size: number };
  statSync(path: string): { readonly size: number; isFile(): boolean; isDirectory(): boolean };
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
  readFileSync(path: string): Uint8Array;
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
  readFileSync: (path) => fs.readFileSync(path),
  mkdirSync: (path) => {
    fs.mkdirSync(path);
  },
  renameSync: (from, to) => fs.renameSync(from, to),
  unlinkSync: (path) => fs.unlinkSync(path),
};
