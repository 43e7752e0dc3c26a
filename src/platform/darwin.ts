/**
 * @module
 * macOS: the barrier is `fcntl(fd, F_FULLFSYNC)`. Plain `fsync` on macOS only hands the data to
 * the drive, which may keep it in its volatile cache across a power loss; F_FULLFSYNC asks the
 * drive to flush that cache too.
 *
 * Some file systems refuse F_FULLFSYNC: SMB mounts, some FUSE and exFAT ones answer `ENOTSUP`,
 * and some `EINVAL`. There, and only for those two errnos, the barrier falls back to plain
 * `fsync` for that file, as SQLite (`full_fsync`), libuv (`uv__fs_fsync`) and Go
 * (`internal/poll`) do, and says so: the barrier returns `"fsync"`, which the stores remember
 * (so F_FULLFSYNC is not asked again on every barrier) and the log counts
 * (`Wal.stats().weakBarriers`, `Wal.recovery.barrier`). Nothing falls back silently. Every
 * other errno from F_FULLFSYNC, and any failure of the fallback `fsync`, throws and poisons
 * the log, as on every platform. `EOPNOTSUPP` is not a refusal here: on Darwin it is 102, the
 * socket errno, apart from `ENOTSUP` (45); a file system refusing the command answers ENOTSUP.
 *
 * macOS has no `posix_fadvise` and no call that evicts a file's cached pages (`F_NOCACHE`
 * only stops caching later reads and writes), so `dropCache` does nothing here: a reopen in the
 * same boot after a failed barrier reads what the unified buffer cache still holds.
 */

import { FFIType } from "bun:ffi";
import type { Platform } from "./platform.ts";
import { type PosixCalls, type PosixFlavour, posixPlatform } from "./posix.ts";

/** `F_FULLFSYNC` from <sys/fcntl.h>. */
const F_FULLFSYNC = 51;
/** `EINVAL` from Darwin's <sys/errno.h>: the file system rejects the command. */
const EINVAL = 22;
/** `ENOTSUP` from Darwin's <sys/errno.h>: the file system does not support the command. */
const ENOTSUP = 45;

/**
 * Darwin's errno names, numbers 1 to 106 (`ELAST`) in order, from <sys/errno.h>. The names of
 * the running OS would do on a Mac, but not where the darwin logic is tested (Linux numbers
 * 35 EDEADLK, 45 EL2NSYNC), and a wrong name in an I/O error misleads whoever reads it.
 */
const DARWIN_ERRNO_NAMES = new Map(
  (
    "EPERM ENOENT ESRCH EINTR EIO ENXIO E2BIG ENOEXEC EBADF ECHILD EDEADLK ENOMEM EACCES " +
    "EFAULT ENOTBLK EBUSY EEXIST EXDEV ENODEV ENOTDIR EISDIR EINVAL ENFILE EMFILE ENOTTY " +
    "ETXTBSY EFBIG ENOSPC ESPIPE EROFS EMLINK EPIPE EDOM ERANGE EAGAIN EINPROGRESS EALREADY " +
    "ENOTSOCK EDESTADDRREQ EMSGSIZE EPROTOTYPE ENOPROTOOPT EPROTONOSUPPORT ESOCKTNOSUPPORT " +
    "ENOTSUP EPFNOSUPPORT EAFNOSUPPORT EADDRINUSE EADDRNOTAVAIL ENETDOWN ENETUNREACH " +
    "ENETRESET ECONNABORTED ECONNRESET ENOBUFS EISCONN ENOTCONN ESHUTDOWN ETOOMANYREFS " +
    "ETIMEDOUT ECONNREFUSED ELOOP ENAMETOOLONG EHOSTDOWN EHOSTUNREACH ENOTEMPTY EPROCLIM " +
    "EUSERS EDQUOT ESTALE EREMOTE EBADRPC ERPCMISMATCH EPROGUNAVAIL EPROGMISMATCH " +
    "EPROCUNAVAIL ENOLCK ENOSYS EFTYPE EAUTH ENEEDAUTH EPWROFF EDEVERR EOVERFLOW EBADEXEC " +
    "EBADARCH ESHLIBVERS EBADMACHO ECANCELED EIDRM ENOMSG EILSEQ ENOATTR EBADMSG EMULTIHOP " +
    "ENODATA ENOLINK ENOSR ENOSTR EPROTO ETIME EOPNOTSUPP ENOPOLICY ENOTRECOVERABLE " +
    "EOWNERDEAD EQFULL"
  )
    .split(" ")
    .map((name, index) => [index + 1, name] as const),
);

/** What makes the POSIX platform macOS's: libSystem, `fcntl(F_FULLFSYNC)` and its fallback. */
export const darwinFlavour: PosixFlavour = {
  // libSystem lives in the dyld shared cache since macOS 11, not on disk; dlopen finds it there.
  libraries: ["/usr/lib/libSystem.B.dylib", "libSystem.B.dylib"],
  // int *__error(void);  <sys/errno.h>
  errnoFunction: "__error",
  wouldBlock: 35, // EWOULDBLOCK == EAGAIN == 35 in Darwin's <sys/errno.h>
  barrierName: "F_FULLFSYNC",
  // int fcntl(int fd, int cmd, ...);  <fcntl.h>, F_FULLFSYNC 51 <sys/fcntl.h>
  // fcntl is variadic. The two fixed arguments go where a non-variadic call puts them (the
  // first argument registers, on arm64 and x86-64 alike); libc's fcntl then reads a third
  // argument with va_arg (from the stack on Apple arm64, which passes variadic arguments
  // there), which F_FULLFSYNC ignores, so whatever that slot holds is harmless. On x86-64 the
  // callee reads %al only to decide whether to spill vector registers: harmless too.
  barrierSymbol: "fcntl",
  barrierSignature: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  callBarrier: (fcntl, fd) => fcntl(fd, F_FULLFSYNC),
  refusals: [ENOTSUP, EINVAL],
  errnoNames: DARWIN_ERRNO_NAMES,
  fadvise: false,
};

/**
 * macOS's platform table: libSystem, `fcntl(F_FULLFSYNC)` falling back to `fsync` where the
 * file system refuses it, `flock`. `calls` replaces libSystem's functions (tests).
 */
export function darwinPlatform(calls?: PosixCalls): Platform {
  return posixPlatform(darwinFlavour, calls);
}
