/**
 * @module
 * Linux: the barrier is `fdatasync(2)` from libc. It flushes the file's data and the metadata
 * needed to read it back (the size), skipping only timestamps, so it is the full barrier a log
 * needs at a lower cost than `fsync`. Called through `bun:ffi` because Node's `fdatasyncSync`
 * is not guaranteed to map to it on every runtime, and its errno must reach the poison logic.
 *
 * After a failed writeback Linux marks the lost pages clean and keeps serving their contents
 * from the page cache until they are evicted, and a descriptor opened after some other one saw
 * the error is never told of it: a reopen in the same boot would read those bytes back as if
 * they were on disk. So recovery, after its barrier, drops the file's clean cached pages with
 * `posix_fadvise(POSIX_FADV_DONTNEED)` and then reads what the disk really holds.
 */

import { FFIType } from "bun:ffi";
import type { Platform } from "./platform.ts";
import { type PosixCalls, type PosixFlavour, posixPlatform } from "./posix.ts";

/** What makes the POSIX platform Linux's: glibc or musl, `fdatasync`, `posix_fadvise`. */
const linuxFlavour: PosixFlavour = {
  libraries: ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1", "libc.so"],
  // int *__errno_location(void);  <errno.h> (glibc and musl)
  errnoFunction: "__errno_location",
  wouldBlock: 11, // EWOULDBLOCK == EAGAIN == 11 in <asm-generic/errno-base.h>
  barrierName: "fdatasync",
  // int fdatasync(int fd);  <unistd.h>
  barrierSymbol: "fdatasync",
  barrierSignature: { args: [FFIType.i32], returns: FFIType.i32 },
  callBarrier: (fdatasync, fd) => fdatasync(fd),
  // fdatasync is the real barrier on every Linux file system that has one; any error it
  // returns is a failed flush (or a descriptor that cannot be synced), never a refusal that a
  // weaker call could stand in for. So Linux never falls back, and its barriers are all "full".
  refusals: [],
  fadvise: true,
};

/** Linux's platform table: glibc or musl, `fdatasync`, `flock`. `calls` replaces libc's (tests). */
export function linuxPlatform(calls?: PosixCalls): Platform {
  return posixPlatform(linuxFlavour, calls);
}
