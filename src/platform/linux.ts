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
import { posixPlatform } from "./posix.ts";

/** Linux's platform table: glibc or musl, `fdatasync`, `flock`. */
export function linuxPlatform(): Platform {
  return posixPlatform({
    libraries: ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1", "libc.so"],
    errnoFunction: "__errno_location",
    wouldBlock: 11, // EWOULDBLOCK == EAGAIN
    barrierName: "fdatasync",
    barrierSymbol: "fdatasync",
    barrierSignature: { args: [FFIType.i32], returns: FFIType.i32 },
    callBarrier: (fdatasync, fd) => fdatasync(fd),
    fadvise: true,
  });
}
