/**
 * The Windows platform's handles and lock, checked with kernel32 itself: the HANDLE comes from
 * bun.exe's `uv_get_osfhandle` and is checked at open; a runtime whose descriptors map to no
 * handle, or to another file's, gets UNSUPPORTED_PLATFORM at open and leaves the file as it
 * was; a handle lost later fails the barrier (IO) and poisons the log; the lock is the one
 * byte at 2^62, past any data. Run under Wine by run.ts.
 */

import { read } from "bun:ffi";
import { describe, expect, test } from "bun:test";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { FileStore, IoError, Wal } from "../../src/index.ts";
import {
  bindHandleLookup,
  bindKernel32,
  type Kernel32,
  windowsPlatform,
} from "../../src/platform/windows.ts";
import { walErrorOf } from "../support/errors.ts";
import { logPath, tempDir } from "../support/temp.ts";

const dir = tempDir();

/** bun.exe's own descriptor-to-HANDLE map, as the platform binds it; a number for an open fd. */
const uvHandle = bindHandleLookup() as (fd: number) => number;

/** A log file with two synced records, and its bytes. */
function twoRecordLog(): { path: string; bytes: string } {
  const path = logPath(dir);
  const wal = Wal.open(path, { preallocate: 0 });
  wal.append("a");
  wal.append("b");
  wal.sync();
  wal.close();
  return { path, bytes: readFileSync(path, "hex") };
}

describe("the lock", () => {
  test("is one byte at 2^62, taken through kernel32's LockFileEx on the log's own handle", () => {
    // Wine applies no byte-range lock to reads or writes, and refuses any second LockFileEx on
    // a file that has one, whatever the ranges: where the lock lies can only be seen in the
    // call itself. So the real kernel32 is wrapped, and each LockFileEx call recorded.
    const calls: { handle: number; flags: number; low: number; high: number; offset: bigint }[] =
      [];
    const kernel32 = bindKernel32();
    const recording: Kernel32 = {
      ...kernel32,
      LockFileEx(handle, flags, reserved, low, high, overlapped) {
        const offset = (BigInt(read.u32(overlapped, 12)) << 32n) | BigInt(read.u32(overlapped, 8));
        calls.push({ handle, flags, low, high, offset });
        return kernel32.LockFileEx(handle, flags, reserved, low, high, overlapped);
      },
    };
    const path = logPath(dir);
    const platform = windowsPlatform({ kernel32: recording });
    const wal = Wal.withStore(FileStore.open(path, { platform }));
    try {
      const fd = openSync(path, "r");
      try {
        expect(calls).toHaveLength(1);
        const [call] = calls;
        expect(call?.flags).toBe(0x3); // LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY
        expect([call?.low, call?.high]).toEqual([1, 0]); // one byte
        expect(call?.offset).toBe(2n ** 62n);
        expect(call?.handle).toBeGreaterThan(0);
        // The second opener's LockFileEx on the same byte is refused: LOCKED.
        expect(walErrorOf(() => FileStore.open(path, { platform })).code).toBe("LOCKED");
        expect(calls).toHaveLength(2);
        expect(calls[1]?.offset).toBe(2n ** 62n);
        expect(uvHandle(fd)).toBeGreaterThan(0);
      } finally {
        closeSync(fd);
      }
    } finally {
      wal.close();
    }
  });
});

describe("handles", () => {
  test("a runtime whose descriptors map to no handle gets UNSUPPORTED_PLATFORM at open", () => {
    const { path, bytes } = twoRecordLog();
    const platform = windowsPlatform({ handleOf: () => 0xffff_ffff_ffff_ffffn }); // INVALID_HANDLE_VALUE
    const error = walErrorOf(() => FileStore.open(path, { platform }));
    expect(error.code).toBe("UNSUPPORTED_PLATFORM");
    expect(error.message).toContain("no Windows handle");
    expect(readFileSync(path, "hex")).toBe(bytes);
    Wal.open(path).close(); // the failed open kept no lock
  });

  test("a runtime whose descriptors map to another file's handle gets UNSUPPORTED_PLATFORM", () => {
    const { path, bytes } = twoRecordLog();
    const decoy = logPath(dir, "decoy");
    writeFileSync(decoy, "not the log");
    const decoyFd = openSync(decoy, "r+");
    try {
      const platform = windowsPlatform({ handleOf: () => uvHandle(decoyFd) });
      const error = walErrorOf(() => FileStore.open(path, { platform }));
      expect(error.code).toBe("UNSUPPORTED_PLATFORM");
      expect(error.message).toContain("names another file");
      expect(readFileSync(path, "hex")).toBe(bytes);
    } finally {
      closeSync(decoyFd);
    }
  });

  test("a handle lost after open fails the barrier with IO and poisons the log", () => {
    const path = logPath(dir);
    let lost = false;
    const platform = windowsPlatform({
      handleOf: (fd) => (lost ? 0xffff_ffff_ffff_ffffn : uvHandle(fd)),
    });
    const wal = Wal.withStore(FileStore.open(path, { platform }));
    wal.appendAndSync("durable");
    lost = true;
    wal.append("not durable");
    const error = walErrorOf(() => wal.sync());
    expect(error).toBeInstanceOf(IoError);
    expect((error as IoError).syscall).toBe("FlushFileBuffers");
    expect((error as IoError).errno).toBe("ERROR_INVALID_HANDLE");
    expect(walErrorOf(() => wal.append("after")).code).toBe("POISONED");
    wal.close();
    const again = Wal.open(path);
    expect([...again.iter()].length).toBeGreaterThanOrEqual(1);
    again.close();
  });
});
