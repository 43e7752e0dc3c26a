/**
 * @module
 * What Linux and macOS share: libc through `bun:ffi`, errno read right after the failing call,
 * `flock` for the process lock, and directory sync by opening the directory and applying the
 * platform's barrier to it. `linux.ts` and `darwin.ts` supply the library and the barrier.
 */

import { dlopen, type FFIFunction, FFIType, read } from "bun:ffi";
import { closeSync, constants, openSync } from "node:fs";
import { ioErrorFrom, ioErrorFromErrno } from "../errors.ts";
import type { Platform } from "./platform.ts";

const LOCK_EX = 2;
const LOCK_NB = 4;

/** What differs between the POSIX systems we support. */
export interface PosixFlavour {
  /** Candidate file names of the C library, tried in order. */
  readonly libraries: readonly string[];
  /** The function returning the address of this thread's errno. */
  readonly errnoFunction: string;
  /** errno when `flock(LOCK_NB)` finds the lock taken (EWOULDBLOCK). */
  readonly wouldBlock: number;
  /** The barrier's name in error messages: "fdatasync", "F_FULLFSYNC". */
  readonly barrierName: string;
  /** The barrier's FFI signature, and how to call it on a descriptor: returns -1 on failure. */
  readonly barrierSymbol: string;
  readonly barrierSignature: FFIFunction;
  readonly callBarrier: (symbol: (...args: number[]) => number, fd: number) => number;
  /**
   * Whether libc has `posix_fadvise`, through which `dropCache` evicts a file's clean pages
   * (`POSIX_FADV_DONTNEED`). Without it `dropCache` does nothing; the flavour's file says why.
   */
  readonly fadvise: boolean;
}

/** `POSIX_FADV_DONTNEED` from <fcntl.h> (Linux): drop the range's clean cached pages. */
const POSIX_FADV_DONTNEED = 4;

/** Binds the C library for `flavour` and returns the platform table built on it. */
export function posixPlatform(flavour: PosixFlavour): Platform {
  const libc = openLibrary(flavour);
  const barrierSymbol = libc.symbols[flavour.barrierSymbol] as unknown as (
    ...args: number[]
  ) => number;
  const flock = libc.symbols.flock as unknown as (fd: number, operation: number) => number;
  const errnoAddress = libc.symbols[flavour.errnoFunction] as () => number;
  const fadvise = flavour.fadvise
    ? (libc.symbols.posix_fadvise as unknown as (
        fd: number,
        offset: number,
        length: number,
        advice: number,
      ) => number)
    : undefined;
  // errno is thread-local and read straight after the call returns -1, before any other
  // libc call on this thread could overwrite it.
  const errno = (): number => read.i32(errnoAddress(), 0);

  const barrier = (fd: number, target: string): void => {
    // A failed barrier is never retried, not even on EINTR: after a failed flush the kernel
    // may have dropped the dirty pages, and a second call could "succeed" over lost data.
    if (flavour.callBarrier(barrierSymbol, fd) !== 0) {
      throw ioErrorFromErrno(flavour.barrierName, target, errno());
    }
  };

  return {
    barrier,
    syncDirectory(path: string): void {
      let fd: number;
      try {
        fd = openSync(path, constants.O_RDONLY | (constants.O_DIRECTORY ?? 0));
      } catch (error) {
        throw ioErrorFrom("open", path, error);
      }
      try {
        barrier(fd, path);
      } finally {
        closeSync(fd);
      }
    },
    dropCache(fd: number, target: string): void {
      if (fadvise === undefined) return;
      // posix_fadvise returns the error number itself and leaves errno alone. Length 0 means
      // "to the end of the file". Dirty pages are not dropped (the caller has just synced), and
      // neither are pages another process has mapped, which only that process could have written.
      const code = fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
      if (code !== 0) throw ioErrorFromErrno("posix_fadvise", target, code);
    },
    tryLockExclusive(fd: number, target: string): boolean {
      if (flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
      const code = errno();
      if (code === flavour.wouldBlock) return false;
      throw ioErrorFromErrno("flock", target, code);
    },
  };
}

function openLibrary(flavour: PosixFlavour) {
  const symbols: Record<string, FFIFunction> = {
    [flavour.barrierSymbol]: flavour.barrierSignature,
    flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    [flavour.errnoFunction]: { args: [], returns: FFIType.ptr },
  };
  if (flavour.fadvise) {
    symbols.posix_fadvise = {
      args: [FFIType.i32, FFIType.i64, FFIType.i64, FFIType.i32],
      returns: FFIType.i32,
    };
  }
  const failures: string[] = [];
  for (const library of flavour.libraries) {
    try {
      return dlopen(library, symbols);
    } catch (error) {
      failures.push(`${library}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  throw ioErrorFrom("dlopen", "the C library", {
    code: "ENOENT",
    message: `could not load libc (${failures.join("; ")})`,
  });
}
