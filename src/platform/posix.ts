/**
 * @module
 * What Linux and macOS share: libc through `bun:ffi`, errno read right after the failing call,
 * `flock` for the process lock, and directory sync by opening the directory and applying the
 * platform's barrier to it. `linux.ts` and `darwin.ts` supply the library and the barrier.
 *
 * The platform logic runs over {@link PosixCalls}, the handful of libc functions it calls, so a
 * test can build the real logic of either flavour over fakes (an `fcntl` that answers ENOTSUP,
 * then EIO) on any OS; {@link bindLibc} binds the real ones.
 */

import { dlopen, type FFIFunction, FFIType, read } from "bun:ffi";
import { closeSync, constants, openSync } from "node:fs";
import { errnoName, ioErrorFrom, ioErrorFromErrno } from "../errors.ts";
import type { BarrierStrength, Platform } from "./platform.ts";

/** `LOCK_EX` from <sys/file.h>: the same on Linux and Darwin. */
const LOCK_EX = 2;
/** `LOCK_NB` from <sys/file.h>: the same on Linux and Darwin. */
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
   * The errnos with which a file system refuses the barrier command itself, so that nothing
   * was attempted: then, and only then, the platform falls back to plain `fsync` for that file
   * and reports `"fsync"`. Empty where the barrier has no weaker stand-in (Linux: `fdatasync`
   * failing is a failed flush, whatever its errno). Every other errno throws.
   */
  readonly refusals: readonly number[];
  /**
   * The flavour's errno names by number, from its <sys/errno.h>, for error messages. Absent
   * when the names of the OS running the code (`node:os` constants) are the flavour's own.
   */
  readonly errnoNames?: ReadonlyMap<number, string>;
  /**
   * Whether libc has `posix_fadvise`, through which `dropCache` evicts a file's clean pages
   * (`POSIX_FADV_DONTNEED`). Without it `dropCache` does nothing; the flavour's file says why.
   */
  readonly fadvise: boolean;
}

/**
 * The libc functions the POSIX platform calls, as plain functions: bound through `bun:ffi` by
 * {@link bindLibc}, or fakes in tests. Each returns what the C function returns.
 */
export interface PosixCalls {
  /** The flavour's barrier on `fd` (`fdatasync`, `fcntl(F_FULLFSYNC)`): 0, or -1 and errno. */
  readonly barrier: (fd: number) => number;
  /** `fsync(fd)`: the fallback where the file system refuses the barrier. 0, or -1 and errno. */
  readonly fsync: (fd: number) => number;
  /** `flock(fd, operation)`: 0, or -1 and errno. */
  readonly flock: (fd: number, operation: number) => number;
  /** This thread's errno; meaningful only straight after a call returned -1. */
  readonly errno: () => number;
  /**
   * `posix_fadvise(fd, offset, length, advice)`, where the flavour has it: 0 or the error
   * number itself (it leaves errno alone).
   */
  readonly fadvise?: (fd: number, offset: number, length: number, advice: number) => number;
}

/** `POSIX_FADV_DONTNEED` from <fcntl.h> (Linux): drop the range's clean cached pages. */
const POSIX_FADV_DONTNEED = 4;

/**
 * The platform table for `flavour`, over `calls`: by default the C library's, bound here, or
 * the fakes a test passes.
 */
export function posixPlatform(
  flavour: PosixFlavour,
  calls: PosixCalls = bindLibc(flavour),
): Platform {
  const ioError = (call: string, target: string, code: number) =>
    ioErrorFromErrno(call, target, code, flavour.errnoNames?.get(code) ?? errnoName(code));

  const barrier = (fd: number, target: string, strength?: BarrierStrength): BarrierStrength => {
    if (strength !== "fsync") {
      if (calls.barrier(fd) === 0) return "full";
      // errno is thread-local and read straight after the call returned -1, before any other
      // libc call on this thread could overwrite it.
      const code = calls.errno();
      // A failed barrier is never retried, not even on EINTR: after a failed flush the kernel
      // may have dropped the dirty pages, and a second call could "succeed" over lost data.
      if (!flavour.refusals.includes(code)) throw ioError(flavour.barrierName, target, code);
      // Refused, not failed: ENOTSUP or EINVAL say the file system does not carry out the
      // command at all, so no flush was attempted and nothing was dropped. The fsync below is
      // the first flush of these bytes, not a retry of a failed one. It is the weaker barrier
      // (the drive may keep the bytes in its cache), so it is reported, and the caller passes
      // "fsync" back next time rather than have the file system refuse on every barrier.
    }
    if (calls.fsync(fd) === 0) return "fsync";
    // Failed like any barrier: thrown, never retried, and the log is poisoned.
    throw ioError("fsync", target, calls.errno());
  };

  return {
    barrier,
    syncDirectory(path: string, strength?: BarrierStrength): BarrierStrength {
      let fd: number;
      try {
        fd = openSync(path, constants.O_RDONLY | (constants.O_DIRECTORY ?? 0));
      } catch (error) {
        throw ioErrorFrom("open", path, error);
      }
      try {
        return barrier(fd, path, strength);
      } finally {
        closeSync(fd);
      }
    },
    dropCache(fd: number, target: string): void {
      if (calls.fadvise === undefined) return;
      // posix_fadvise returns the error number itself and leaves errno alone. Length 0 means
      // "to the end of the file". Dirty pages are not dropped (the caller has just synced), and
      // neither are pages another process has mapped, which only that process could have written.
      const code = calls.fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
      if (code !== 0) throw ioError("posix_fadvise", target, code);
    },
    tryLockExclusive(fd: number, target: string): boolean {
      if (calls.flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
      const code = calls.errno();
      if (code === flavour.wouldBlock) return false;
      throw ioError("flock", target, code);
    },
  };
}

/**
 * Opens the flavour's C library and binds the calls the platform makes. The C prototypes, with
 * their headers, stand beside each declaration; the flavour's own file declares its barrier.
 */
function bindLibc(flavour: PosixFlavour): PosixCalls {
  const symbols: Record<string, FFIFunction> = {
    [flavour.barrierSymbol]: flavour.barrierSignature,
    // int fsync(int fd);  <unistd.h>
    fsync: { args: [FFIType.i32], returns: FFIType.i32 },
    // int flock(int fd, int operation);  <sys/file.h>, LOCK_EX 2, LOCK_NB 4
    flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    // glibc and musl: int *__errno_location(void);  Darwin: int *__error(void);  <errno.h>
    [flavour.errnoFunction]: { args: [], returns: FFIType.ptr },
  };
  if (flavour.fadvise) {
    // int posix_fadvise(int fd, off_t offset, off_t len, int advice);  <fcntl.h>
    // off_t is 64 bits on every 64-bit Linux (glibc and musl), hence i64.
    symbols.posix_fadvise = {
      args: [FFIType.i32, FFIType.i64, FFIType.i64, FFIType.i32],
      returns: FFIType.i32,
    };
  }
  const libc = openLibrary(flavour, symbols);
  const barrierSymbol = libc.symbols[flavour.barrierSymbol] as unknown as (
    ...args: number[]
  ) => number;
  const errnoAddress = libc.symbols[flavour.errnoFunction] as () => number;
  const fadvise = libc.symbols.posix_fadvise as unknown as PosixCalls["fadvise"];
  return {
    barrier: (fd) => flavour.callBarrier(barrierSymbol, fd),
    fsync: libc.symbols.fsync as unknown as (fd: number) => number,
    flock: libc.symbols.flock as unknown as (fd: number, operation: number) => number,
    errno: () => read.i32(errnoAddress(), 0),
    ...(flavour.fadvise && fadvise !== undefined ? { fadvise } : {}),
  };
}

function openLibrary(flavour: PosixFlavour, symbols: Record<string, FFIFunction>) {
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
