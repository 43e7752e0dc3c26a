/**
 * @module
 * Windows: the barrier is `FlushFileBuffers(HANDLE)` from kernel32, which writes the file's
 * data and metadata through the OS cache and asks the drive to flush. The lock is `LockFileEx`
 * over the whole file range, exclusive, failing at once when held. NTFS journals directory
 * changes itself and offers no directory flush through a plain handle, so `syncDirectory` is
 * a no-op here. Descriptors from `node:fs` map to handles through the C runtime's
 * `_get_osfhandle`. Windows offers no call that evicts one file's cached pages (only unbuffered
 * handles bypass the cache, and they need sector-aligned I/O), so `dropCache` does nothing.
 */

import { dlopen, FFIType, ptr } from "bun:ffi";
import { IoError, ioErrorFromErrno } from "../errors.ts";
import type { BarrierStrength, Platform } from "./platform.ts";

const LOCKFILE_FAIL_IMMEDIATELY = 0x1;
const LOCKFILE_EXCLUSIVE_LOCK = 0x2;
const ERROR_LOCK_VIOLATION = 33;
const INVALID_HANDLE_VALUE = -1;

/** Windows's platform table: kernel32 `FlushFileBuffers` and `LockFileEx`. */
export function windowsPlatform(): Platform {
  const kernel32 = dlopen("kernel32.dll", {
    FlushFileBuffers: { args: [FFIType.i64], returns: FFIType.i32 },
    LockFileEx: {
      args: [FFIType.i64, FFIType.u32, FFIType.u32, FFIType.u32, FFIType.u32, FFIType.ptr],
      returns: FFIType.i32,
    },
    GetLastError: { args: [], returns: FFIType.u32 },
  }).symbols;
  const crt = dlopen("ucrtbase.dll", {
    _get_osfhandle: { args: [FFIType.i32], returns: FFIType.i64 },
  }).symbols;

  const handleOf = (fd: number, call: string, target: string): bigint | number => {
    const handle = crt._get_osfhandle(fd);
    if (Number(handle) === INVALID_HANDLE_VALUE) throw ioErrorFromErrno(call, target, 9); // EBADF
    return handle;
  };

  return {
    barrier(fd: number, target: string): BarrierStrength {
      if (kernel32.FlushFileBuffers(handleOf(fd, "FlushFileBuffers", target)) === 0) {
        throw windowsError("FlushFileBuffers", target, kernel32.GetLastError());
      }
      return "full";
    },
    syncDirectory(): BarrierStrength {
      return "full";
    },
    dropCache(): void {},
    tryLockExclusive(fd: number, target: string): boolean {
      const overlapped = new Uint8Array(32); // OVERLAPPED, zeroed: the range starts at offset 0
      const ok = kernel32.LockFileEx(
        handleOf(fd, "LockFileEx", target),
        LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY,
        0,
        0xffff_ffff,
        0xffff_ffff,
        ptr(overlapped),
      );
      if (ok !== 0) return true;
      const code = kernel32.GetLastError();
      if (code === ERROR_LOCK_VIOLATION) return false;
      throw windowsError("LockFileEx", target, code);
    },
  };
}

/** A kernel32 failure as an `IoError`; its errno is the Win32 error code's name. */
function windowsError(call: string, target: string, code: number): IoError {
  const name = `WIN32_ERROR_${code}`;
  return new IoError(
    call,
    target,
    name,
    Object.assign(new Error(`${call}: ${name}`), { code: name }),
  );
}
