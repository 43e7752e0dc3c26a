/**
 * @module
 * Windows: the barrier is `FlushFileBuffers(HANDLE)` from kernel32, which writes the file's
 * data and metadata through the OS cache and asks the drive to flush its own.
 *
 * Handles. The numbers `node:fs` returns on Windows are C-runtime descriptors, and the C
 * runtime that made them is linked statically into `bun.exe` (libuv's `_open_osfhandle`):
 * `ucrtbase.dll`'s `_get_osfhandle` does not know them, and on a real Windows its default
 * invalid-parameter handler ends the process. `bun.exe` exports libuv's own
 * `uv_get_osfhandle`, which asks that same runtime, so the handle comes from there. Bun means
 * to leave libuv on Windows, after which its descriptors may be something else again; so the
 * handle is checked before it is trusted. At open (the lock) it must name a disk file and
 * the very file `fstat` reports for the descriptor (same volume serial number and file
 * index), or the open fails with `UNSUPPORTED_PLATFORM`; at every barrier it must at least
 * be a handle, or the barrier fails with `IO` (`ERROR_INVALID_HANDLE`). Only descriptors the
 * store holds open are ever asked about, so no invalid-parameter path is ever reached.
 *
 * Locks. Windows byte-range locks are mandatory: a locked range cannot be read through any
 * other handle. So the lock is one byte no record can ever occupy, at offset 2^62 (as SQLite
 * locks bytes past its data), and readers in other
 * processes (`Wal.openReadOnly`, `wal-db verify`, `tail --follow`) read the live log freely.
 * Locks beyond the end of the file are allowed and never extend it.
 *
 * `GetLastError` is a separate FFI call, and the runtime may make Win32 calls of its own
 * between it and the call that failed: a code of 0 there means "unknown", never "held".
 *
 * Directory sync is a no-op. Windows has no call that makes one directory's entries durable
 * through a plain handle; NTFS keeps names in its metadata journal, which `FlushFileBuffers`
 * on a file commits up to that file's own changes (its creation and size included). A rename
 * or delete is durable only once a later flush commits the journal past it; wal-db never
 * needs a rename durable before the next barrier of the file it concerns. This is NTFS's
 * documented behaviour, relied on and not tested: Wine runs over a Linux file system.
 *
 * Windows offers no call that evicts one file's cached pages (only unbuffered handles bypass
 * the cache, and they need sector-aligned I/O), so `dropCache` does nothing either.
 */

import { dlopen, FFIType, ptr } from "bun:ffi";
import { fstatSync } from "node:fs";
import { IoError, unsupportedRuntime } from "../errors.ts";
import type { BarrierStrength, Platform } from "./platform.ts";

// BOOL LockFileEx(HANDLE hFile, DWORD dwFlags, DWORD dwReserved, DWORD nNumberOfBytesToLockLow,
//   DWORD nNumberOfBytesToLockHigh, LPOVERLAPPED lpOverlapped);  <fileapi.h>, flags <minwinbase.h>
const LOCKFILE_FAIL_IMMEDIATELY = 0x1;
const LOCKFILE_EXCLUSIVE_LOCK = 0x2;
/**
 * The lock byte: offset 2^62 (4 EiB, past any file a disk can hold), split as OVERLAPPED's
 * Offset (low) and OffsetHigh. Not the last byte a signed offset can address: a range there
 * ends at 2^63, past what a file system or server reading offsets as signed accepts; this
 * one starts and ends far inside both the signed and the unsigned range.
 */
const LOCK_OFFSET_LOW = 0;
const LOCK_OFFSET_HIGH = 0x4000_0000;
/** sizeof(OVERLAPPED) on 64-bit Windows: Internal, InternalHigh (8 each), Offset, OffsetHigh (4 each), hEvent (8). */
const OVERLAPPED_SIZE = 32;
/** sizeof(BY_HANDLE_FILE_INFORMATION); dwVolumeSerialNumber at 28, nFileIndexHigh/Low at 44/48. */
const FILE_INFORMATION_SIZE = 52;
/** `GetFileType`'s answer for a file on a disk <fileapi.h>. */
const FILE_TYPE_DISK = 1;

/** Win32 error codes wal-db tells apart, with the names its messages give them <winerror.h>. */
const ERROR_NAMES: Readonly<Record<number, string>> = {
  0: "ERROR_UNKNOWN", // GetLastError was reset before it was read
  1: "ERROR_INVALID_FUNCTION",
  5: "ERROR_ACCESS_DENIED",
  6: "ERROR_INVALID_HANDLE",
  19: "ERROR_WRITE_PROTECT",
  21: "ERROR_NOT_READY",
  23: "ERROR_CRC",
  29: "ERROR_WRITE_FAULT",
  30: "ERROR_READ_FAULT",
  31: "ERROR_GEN_FAILURE",
  33: "ERROR_LOCK_VIOLATION",
  39: "ERROR_HANDLE_DISK_FULL",
  50: "ERROR_NOT_SUPPORTED",
  55: "ERROR_DEV_NOT_EXIST",
  87: "ERROR_INVALID_PARAMETER",
  112: "ERROR_DISK_FULL",
  1117: "ERROR_IO_DEVICE",
  1167: "ERROR_DEVICE_NOT_CONNECTED",
};
const ERROR_INVALID_HANDLE = 6;
const ERROR_LOCK_VIOLATION = 33;

/** The kernel32 calls wal-db makes, as `bun:ffi` binds them: a HANDLE or pointer is a number. */
export interface Kernel32 {
  FlushFileBuffers(handle: number): number;
  LockFileEx(
    handle: number,
    flags: number,
    reserved: number,
    lengthLow: number,
    lengthHigh: number,
    overlapped: number,
  ): number;
  GetFileType(handle: number): number;
  GetFileInformationByHandle(handle: number, information: number): number;
  GetLastError(): number;
}

/** What the Windows platform calls: kernel32, and the map from descriptors to HANDLEs. */
export interface WindowsCalls {
  readonly kernel32: Kernel32;
  /** The HANDLE behind a descriptor (`bun.exe`'s `uv_get_osfhandle`); a bigint when invalid. */
  readonly handleOf: (fd: number) => unknown;
}

/**
 * Windows's platform table: kernel32 `FlushFileBuffers` and `LockFileEx`, handles from libuv.
 * @param calls - the native calls; tests pass their own to record the calls or to play a
 * runtime whose descriptors map to other handles. Each one left out is bound from the system.
 */
export function windowsPlatform(calls: Partial<WindowsCalls> = {}): Platform {
  const kernel32 = calls.kernel32 ?? bindKernel32();
  const handles = calls.handleOf ?? bindHandleLookup();

  /** The HANDLE behind `fd` for a barrier; INVALID_HANDLE_VALUE arrives as a bigint. */
  const handleOf = (fd: number, target: string): number => {
    const handle: unknown = handles(fd);
    if (typeof handle !== "number" || handle <= 0) {
      throw windowsError("FlushFileBuffers", target, ERROR_INVALID_HANDLE);
    }
    return handle;
  };

  /**
   * The HANDLE behind `fd`, checked at open: it must be `fd`'s own file on a disk, the same
   * volume serial number and file index as `fstat` reports for the descriptor. Anything else
   * means this runtime's descriptors are not what `uv_get_osfhandle` maps, and nothing it
   * returns can be trusted.
   */
  const checkedHandleOf = (fd: number, target: string): number => {
    const handle: unknown = handles(fd);
    if (typeof handle !== "number" || handle <= 0) {
      throw unsupportedRuntime(
        `descriptor ${fd} for ${target} has no Windows handle (uv_get_osfhandle returned ${String(handle)})`,
      );
    }
    const type = kernel32.GetFileType(handle);
    if (type !== FILE_TYPE_DISK) {
      throw unsupportedRuntime(
        `the handle of descriptor ${fd} for ${target} is not a file on a disk (GetFileType ${type})`,
      );
    }
    const information = new Uint8Array(FILE_INFORMATION_SIZE);
    if (kernel32.GetFileInformationByHandle(handle, ptr(information)) === 0) {
      throw windowsError("GetFileInformationByHandle", target, kernel32.GetLastError());
    }
    const view = new DataView(information.buffer);
    const serial = BigInt(view.getUint32(28, true));
    const index = (BigInt(view.getUint32(44, true)) << 32n) | BigInt(view.getUint32(48, true));
    const stat = fstatSync(fd, { bigint: true });
    if (stat.dev !== serial || stat.ino !== index) {
      throw unsupportedRuntime(
        `the handle of descriptor ${fd} names another file than ${target} ` +
          `(volume ${serial}, file index ${index}; fstat says ${stat.dev}, ${stat.ino})`,
      );
    }
    return handle;
  };

  return {
    barrier(fd: number, target: string): BarrierStrength {
      if (kernel32.FlushFileBuffers(handleOf(fd, target)) === 0) {
        throw windowsError("FlushFileBuffers", target, kernel32.GetLastError());
      }
      return "full";
    },
    // No call makes one directory's entries durable; the module comment says why none is needed.
    syncDirectory(): BarrierStrength {
      return "full";
    },
    dropCache(): void {},
    tryLockExclusive(fd: number, target: string): boolean {
      const handle = checkedHandleOf(fd, target);
      const overlapped = new DataView(new ArrayBuffer(OVERLAPPED_SIZE));
      overlapped.setUint32(8, LOCK_OFFSET_LOW, true);
      overlapped.setUint32(12, LOCK_OFFSET_HIGH, true);
      const flags = LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY;
      if (kernel32.LockFileEx(handle, flags, 0, 1, 0, ptr(overlapped)) !== 0) return true;
      const code = kernel32.GetLastError();
      if (code === ERROR_LOCK_VIOLATION) return false;
      throw windowsError("LockFileEx", target, code);
    },
  };
}

/** kernel32's calls through `bun:ffi`, each declared as <fileapi.h> and <errhandlingapi.h> do. */
export function bindKernel32(): Kernel32 {
  return dlopen("kernel32.dll", {
    // BOOL FlushFileBuffers(HANDLE hFile);  <fileapi.h>
    FlushFileBuffers: { args: [FFIType.ptr], returns: FFIType.i32 },
    // LockFileEx: see LOCKFILE_EXCLUSIVE_LOCK above for its prototype
    LockFileEx: {
      args: [FFIType.ptr, FFIType.u32, FFIType.u32, FFIType.u32, FFIType.u32, FFIType.ptr],
      returns: FFIType.i32,
    },
    // DWORD GetFileType(HANDLE hFile);  <fileapi.h>
    GetFileType: { args: [FFIType.ptr], returns: FFIType.u32 },
    // BOOL GetFileInformationByHandle(HANDLE hFile, LPBY_HANDLE_FILE_INFORMATION info);  <fileapi.h>
    GetFileInformationByHandle: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
    // DWORD GetLastError(void);  <errhandlingapi.h>
    GetLastError: { args: [], returns: FFIType.u32 },
  }).symbols as unknown as Kernel32;
}

/**
 * `bun.exe`'s export `uv_get_osfhandle(int fd)`, returning the HANDLE (`uv_os_fd_t`, a pointer)
 * behind a C-runtime descriptor of the runtime linked into it. A Bun without it fails here,
 * with a typed error at the first open, rather than with a wrong handle later.
 */
export function bindHandleLookup(): (fd: number) => unknown {
  try {
    return dlopen(process.execPath, {
      // uv_os_fd_t uv_get_osfhandle(int fd);  <uv.h>, uv_os_fd_t is HANDLE on Windows
      uv_get_osfhandle: { args: [FFIType.i32], returns: FFIType.ptr },
    }).symbols.uv_get_osfhandle as (fd: number) => unknown;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw unsupportedRuntime(`${process.execPath} exports no uv_get_osfhandle (${reason})`);
  }
}

/** A kernel32 failure as an `IoError`; its errno is the Win32 error code's name. */
function windowsError(call: string, target: string, code: number): IoError {
  const name = ERROR_NAMES[code] ?? `WIN32_ERROR_${code}`;
  return new IoError(call, target, name, Object.assign(new Error(`${call}: ${name}`), { code }));
}
