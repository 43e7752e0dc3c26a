/**
 * The Windows platform's logic over a fake kernel32, so it runs on every OS (the real calls run
 * under Wine: test/windows/): how each LockFileEx and FlushFileBuffers answer is read, above all
 * that a GetLastError of 0 (reset by the runtime between the two FFI calls) is an unknown
 * error, never "held"; and that a handle is checked at open against the descriptor's file.
 */

import { toArrayBuffer } from "bun:ffi";
import { describe, expect, test } from "bun:test";
import { fstatSync } from "node:fs";
import { FileStore, IoError, Wal } from "../src/index.ts";
import { type Kernel32, windowsPlatform } from "../src/platform/windows.ts";
import { walErrorOf } from "./support/errors.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();
const FAKE_HANDLE = 0x1234;

interface FakeAnswers {
  lock?: { ok: boolean; lastError: number };
  flush?: { ok: boolean; lastError: number };
  fileType?: number;
  /** Whether GetFileInformationByHandle describes the descriptor's own file. */
  sameFile?: boolean;
}

/** A kernel32 answering as told, describing the file of whatever descriptor was last looked up. */
function fakeWindows(answers: FakeAnswers) {
  let lastError = 0;
  let fd = -1;
  const calls: string[] = [];
  const kernel32: Kernel32 = {
    FlushFileBuffers(handle) {
      calls.push(`FlushFileBuffers ${handle}`);
      const { ok, lastError: code } = answers.flush ?? { ok: true, lastError: 0 };
      lastError = code;
      return ok ? 1 : 0;
    },
    LockFileEx(handle) {
      calls.push(`LockFileEx ${handle}`);
      const { ok, lastError: code } = answers.lock ?? { ok: true, lastError: 0 };
      lastError = code;
      return ok ? 1 : 0;
    },
    GetFileType: () => answers.fileType ?? 1,
    GetFileInformationByHandle(_handle, information) {
      const stat = fstatSync(fd, { bigint: true });
      const ino = answers.sameFile === false ? stat.ino + 1n : stat.ino;
      const view = new DataView(toArrayBuffer(information, 0, 52));
      view.setUint32(28, Number(stat.dev & 0xffff_ffffn), true);
      view.setUint32(44, Number(ino >> 32n), true);
      view.setUint32(48, Number(ino & 0xffff_ffffn), true);
      return 1;
    },
    GetLastError: () => lastError,
  };
  const handleOf = (descriptor: number) => {
    fd = descriptor;
    return FAKE_HANDLE;
  };
  return { platform: windowsPlatform({ kernel32, handleOf }), calls };
}

describe("LockFileEx's answer", () => {
  test("success takes the log; the handle was checked and used", () => {
    const { platform, calls } = fakeWindows({});
    const store = FileStore.open(logPath(dir), { platform });
    expect(calls).toEqual([`LockFileEx ${FAKE_HANDLE}`]);
    const wal = Wal.withStore(store);
    calls.length = 0;
    wal.appendAndSync("x");
    expect(calls).toEqual([`FlushFileBuffers ${FAKE_HANDLE}`]);
    wal.close();
  });

  test("ERROR_LOCK_VIOLATION is another holder: LOCKED", () => {
    const { platform } = fakeWindows({ lock: { ok: false, lastError: 33 } });
    expect(walErrorOf(() => FileStore.open(logPath(dir), { platform })).code).toBe("LOCKED");
  });

  test("a GetLastError of 0 is an unknown failure, never LOCKED", () => {
    const { platform } = fakeWindows({ lock: { ok: false, lastError: 0 } });
    const error = walErrorOf(() => FileStore.open(logPath(dir), { platform }));
    expect(error).toBeInstanceOf(IoError);
    expect((error as IoError).syscall).toBe("LockFileEx");
    expect((error as IoError).errno).toBe("ERROR_UNKNOWN");
  });

  test("any other code is an IO error named after it", () => {
    const { platform } = fakeWindows({ lock: { ok: false, lastError: 5 } });
    const error = walErrorOf(() => FileStore.open(logPath(dir), { platform }));
    expect((error as IoError).errno).toBe("ERROR_ACCESS_DENIED");
    const unnamed = fakeWindows({ lock: { ok: false, lastError: 4242 } });
    const other = walErrorOf(() => FileStore.open(logPath(dir), { platform: unnamed.platform }));
    expect((other as IoError).errno).toBe("WIN32_ERROR_4242");
  });
});

describe("the handle's check at open", () => {
  test("a handle that is not a disk file is UNSUPPORTED_PLATFORM, and no lock is tried", () => {
    const { platform, calls } = fakeWindows({ fileType: 2 }); // FILE_TYPE_CHAR
    const error = walErrorOf(() => FileStore.open(logPath(dir), { platform }));
    expect(error.code).toBe("UNSUPPORTED_PLATFORM");
    expect(error.message).toContain("not a file on a disk");
    expect(calls).toEqual([]);
  });

  test("a handle of another file is UNSUPPORTED_PLATFORM, and no lock is tried", () => {
    const { platform, calls } = fakeWindows({ sameFile: false });
    const error = walErrorOf(() => FileStore.open(logPath(dir), { platform }));
    expect(error.code).toBe("UNSUPPORTED_PLATFORM");
    expect(error.message).toContain("names another file");
    expect(calls).toEqual([]);
  });
});

test("a failed FlushFileBuffers is an IO error named after its code, and poisons the log", () => {
  const answers: FakeAnswers = {};
  const { platform } = fakeWindows(answers);
  const wal = Wal.withStore(FileStore.open(logPath(dir), { platform }));
  answers.flush = { ok: false, lastError: 112 }; // ERROR_DISK_FULL, after the open's own barrier
  wal.append("lost");
  const error = walErrorOf(() => wal.sync());
  expect((error as IoError).syscall).toBe("FlushFileBuffers");
  expect((error as IoError).errno).toBe("ERROR_DISK_FULL");
  expect(walErrorOf(() => wal.append("after")).code).toBe("POISONED");
  wal.close();
});
