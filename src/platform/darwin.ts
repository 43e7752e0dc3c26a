/**
 * @module
 * macOS: the barrier is `fcntl(fd, F_FULLFSYNC)`. Plain `fsync` on macOS only hands the data to
 * the drive, which may keep it in its volatile cache across a power loss; F_FULLFSYNC asks the
 * drive to flush that cache too. There is no silent fallback to `fsync`: if F_FULLFSYNC fails,
 * the failure is reported and the log is poisoned.
 *
 * macOS has no `posix_fadvise` and no call that evicts a file's cached pages (`F_NOCACHE`
 * only stops caching later reads and writes), so `dropCache` does nothing here: a reopen in the
 * same boot after a failed barrier reads what the unified buffer cache still holds.
 */

import { FFIType } from "bun:ffi";
import type { Platform } from "./platform.ts";
import { posixPlatform } from "./posix.ts";

/** `F_FULLFSYNC` from <sys/fcntl.h>. */
const F_FULLFSYNC = 51;

/** macOS's platform table: libSystem, `fcntl(F_FULLFSYNC)`, `flock`. */
export function darwinPlatform(): Platform {
  return posixPlatform({
    libraries: ["/usr/lib/libSystem.B.dylib", "libSystem.B.dylib"],
    errnoFunction: "__error",
    wouldBlock: 35, // EWOULDBLOCK == EAGAIN on Darwin
    barrierName: "F_FULLFSYNC",
    // fcntl is variadic; F_FULLFSYNC takes no third argument, so declaring only the two fixed
    // arguments passes them in the registers the variadic ABI expects on arm64 and x86-64.
    barrierSymbol: "fcntl",
    barrierSignature: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    callBarrier: (fcntl, fd) => fcntl(fd, F_FULLFSYNC),
    fadvise: false,
  });
}
