/**
 * The macOS barrier and its fallback, on any OS: the real darwin platform logic
 * (src/platform/darwin.ts over posix.ts) runs over a fake libc (test/support/fake-libc.ts)
 * whose `fcntl(F_FULLFSYNC)` and `fsync` answer what each test says.
 *
 * What must hold: only ENOTSUP and EINVAL from F_FULLFSYNC (the file system refused the
 * command) fall back to plain `fsync`, which is then reported ("fsync"), remembered by the
 * caller so F_FULLFSYNC is not asked again for that file, and counted by the log
 * (`stats().weakBarriers`, `recovery.barrier`). Every other errno, and a failing fallback,
 * throws an `IoError` named with Darwin's errno names and poisons the log; nothing is retried.
 */

import { describe, expect, test } from "bun:test";
import { closeSync as closeFd, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { FileStore, IoError, SegmentedStore, Wal } from "../src/index.ts";
import { darwinFlavour, darwinPlatform } from "../src/platform/darwin.ts";
import { linuxPlatform } from "../src/platform/linux.ts";
import { walErrorOf, walRejectionOf } from "./support/errors.ts";
import { DARWIN, fakeLibc } from "./support/fake-libc.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();

/** A regular file's descriptor, open for the test's barriers, closed after `body`. */
function withFile<T>(body: (fd: number, path: string) => T): T {
  const path = logPath(dir, "barrier");
  const fd = openSync(path, "w+");
  try {
    return body(fd, path);
  } finally {
    closeFd(fd);
  }
}

/** The IoError `run` throws. */
function ioErrorOf(run: () => unknown): IoError {
  const error = walErrorOf(run);
  expect(error).toBeInstanceOf(IoError);
  return error as IoError;
}

const refusals = [
  ["ENOTSUP", DARWIN.ENOTSUP],
  ["EINVAL", DARWIN.EINVAL],
] as const;

/** Errnos that are failures, not refusals, named as Darwin's <sys/errno.h> names them. */
const failures = [
  ["EIO", DARWIN.EIO],
  ["ENOSPC", DARWIN.ENOSPC],
  ["EINTR", DARWIN.EINTR],
  ["EBADF", DARWIN.EBADF],
  ["ENOTTY", DARWIN.ENOTTY],
  ["EAGAIN", DARWIN.EAGAIN],
  // Darwin's EOPNOTSUPP is the socket errno, apart from ENOTSUP: not a refusal.
  ["EOPNOTSUPP", DARWIN.EOPNOTSUPP],
] as const;

describe("Platform.barrier() on darwin", () => {
  test("F_FULLFSYNC that succeeds: 'full', and fsync is never called", () => {
    const libc = fakeLibc();
    const platform = darwinPlatform(libc.calls);
    withFile((fd, path) => {
      expect(platform.barrier(fd, path)).toBe("full");
      expect(platform.barrier(fd, path, "full")).toBe("full");
    });
    expect(libc.log).toEqual(["F_FULLFSYNC file", "F_FULLFSYNC file"]);
  });

  test.each(refusals)(
    "F_FULLFSYNC refused with %s: falls back to fsync, 'fsync'; passed back, goes straight to fsync",
    (_name, errno) => {
      const libc = fakeLibc("F_FULLFSYNC", { barrierOnFile: errno });
      const platform = darwinPlatform(libc.calls);
      withFile((fd, path) => {
        const strength = platform.barrier(fd, path);
        expect(strength).toBe("fsync");
        expect(libc.log).toEqual(["F_FULLFSYNC file", "fsync file"]);
        libc.log.length = 0;
        // The caller remembers the answer: F_FULLFSYNC is not asked again for this file.
        expect(platform.barrier(fd, path, strength)).toBe("fsync");
        expect(platform.barrier(fd, path, strength)).toBe("fsync");
        expect(libc.log).toEqual(["fsync file", "fsync file"]);
      });
    },
  );

  test.each(failures)(
    "F_FULLFSYNC failing with %s: IoError named so, and fsync is never called",
    (name, errno) => {
      const libc = fakeLibc("F_FULLFSYNC", { barrierOnFile: errno });
      const platform = darwinPlatform(libc.calls);
      withFile((fd, path) => {
        const error = ioErrorOf(() => platform.barrier(fd, path));
        expect(error.syscall).toBe("F_FULLFSYNC");
        expect(error.errno).toBe(name);
        expect(error.message).toBe(`F_FULLFSYNC failed on ${path}: ${name}`);
      });
      // Never retried, and never "rescued" by the weaker call.
      expect(libc.log).toEqual(["F_FULLFSYNC file"]);
    },
  );

  test.each(refusals)(
    "F_FULLFSYNC refused with %s, then fsync failing with EIO: IoError from fsync, not retried",
    (_name, errno) => {
      const libc = fakeLibc("F_FULLFSYNC", { barrierOnFile: errno, fsyncOnFile: DARWIN.EIO });
      const platform = darwinPlatform(libc.calls);
      withFile((fd, path) => {
        const error = ioErrorOf(() => platform.barrier(fd, path));
        expect(error.syscall).toBe("fsync");
        expect(error.errno).toBe("EIO");
      });
      expect(libc.log).toEqual(["F_FULLFSYNC file", "fsync file"]);
    },
  );

  test("a file known to refuse F_FULLFSYNC whose fsync fails: IoError, one fsync, no F_FULLFSYNC", () => {
    const libc = fakeLibc("F_FULLFSYNC", { fsyncOnFile: DARWIN.ENOSPC });
    const platform = darwinPlatform(libc.calls);
    withFile((fd, path) => {
      const error = ioErrorOf(() => platform.barrier(fd, path, "fsync"));
      expect([error.syscall, error.errno]).toEqual(["fsync", "ENOSPC"]);
    });
    expect(libc.log).toEqual(["fsync file"]);
  });
});

describe("Platform.syncDirectory() on darwin", () => {
  test("F_FULLFSYNC that succeeds on the directory: 'full'", () => {
    const libc = fakeLibc();
    expect(darwinPlatform(libc.calls).syncDirectory(dir)).toBe("full");
    expect(libc.log).toEqual(["F_FULLFSYNC directory"]);
  });

  test.each(refusals)(
    "F_FULLFSYNC refused with %s: falls back to fsync of the directory; passed back, goes straight to fsync",
    (_name, errno) => {
      const libc = fakeLibc("F_FULLFSYNC", { barrierOnDirectory: errno });
      const platform = darwinPlatform(libc.calls);
      const strength = platform.syncDirectory(dir);
      expect(strength).toBe("fsync");
      expect(platform.syncDirectory(dir, strength)).toBe("fsync");
      expect(libc.log).toEqual(["F_FULLFSYNC directory", "fsync directory", "fsync directory"]);
    },
  );

  test.each(failures)(
    "F_FULLFSYNC failing with %s on the directory: IoError, and fsync is never called",
    (name, errno) => {
      const libc = fakeLibc("F_FULLFSYNC", { barrierOnDirectory: errno });
      const error = ioErrorOf(() => darwinPlatform(libc.calls).syncDirectory(dir));
      expect([error.syscall, error.errno]).toEqual(["F_FULLFSYNC", name]);
      expect(error.message).toContain(dir);
      expect(libc.log).toEqual(["F_FULLFSYNC directory"]);
    },
  );

  test("F_FULLFSYNC refused, then fsync of the directory failing with EIO: IoError", () => {
    const libc = fakeLibc("F_FULLFSYNC", {
      barrierOnDirectory: DARWIN.ENOTSUP,
      fsyncOnDirectory: DARWIN.EIO,
    });
    const error = ioErrorOf(() => darwinPlatform(libc.calls).syncDirectory(dir));
    expect([error.syscall, error.errno]).toEqual(["fsync", "EIO"]);
    expect(libc.log).toEqual(["F_FULLFSYNC directory", "fsync directory"]);
  });
});

describe("Platform.barrier() on linux never falls back", () => {
  // Linux numbers: EINVAL 22, EOPNOTSUPP == ENOTSUP 95, EIO 5.
  test.each([22, 95, 5])(
    "fdatasync failing with errno %d: IoError, and fsync is never called",
    (errno) => {
      const libc = fakeLibc("fdatasync", { barrierOnFile: errno, barrierOnDirectory: errno });
      const platform = linuxPlatform(libc.calls);
      withFile((fd, path) => {
        expect(ioErrorOf(() => platform.barrier(fd, path)).syscall).toBe("fdatasync");
      });
      expect(ioErrorOf(() => platform.syncDirectory(dir)).syscall).toBe("fdatasync");
      expect(libc.log).toEqual(["fdatasync file", "fdatasync directory"]);
    },
  );
});

describe("a log on a file system that refuses F_FULLFSYNC", () => {
  test("Wal over a FileStore: recovery.barrier and stats().weakBarriers report every fsync barrier; F_FULLFSYNC is asked once per file", async () => {
    const libc = fakeLibc("F_FULLFSYNC", {
      barrierOnFile: DARWIN.ENOTSUP,
      barrierOnDirectory: DARWIN.ENOTSUP,
    });
    const path = logPath(dir);
    {
      using wal = Wal.withStore(FileStore.open(path, { platform: darwinPlatform(libc.calls) }));
      // Open: the lock, the directory's sync, then recovery's barrier on the file, each refused
      // once and then remembered.
      expect(libc.log).toEqual([
        "flock file",
        "F_FULLFSYNC directory",
        "fsync directory",
        "F_FULLFSYNC file",
        "fsync file",
      ]);
      expect(wal.recovery.barrier).toBe("fsync");
      // Recovery's barrier is not one of `barriers`; recovery.barrier reports it.
      expect(wal.stats()).toMatchObject({ barriers: 0, weakBarriers: 0 });
      libc.log.length = 0;
      wal.append("one");
      wal.sync();
      expect(wal.stats()).toMatchObject({ barriers: 1, weakBarriers: 1 });
      wal.appendAndSync("two");
      expect(wal.stats()).toMatchObject({ barriers: 2, weakBarriers: 2 });
      await wal.commit("three");
      await Promise.all([wal.commit("four"), wal.commit("five")]);
      const stats = wal.stats();
      expect(stats.weakBarriers).toBe(stats.barriers);
      expect(stats.barriers).toBeGreaterThanOrEqual(3);
      // F_FULLFSYNC was never asked again: every barrier since open went straight to fsync.
      expect(libc.log).toEqual(Array(stats.barriers).fill("fsync file"));
    }
    // The fallback fsync really ran: the records are there after a reopen.
    using reopened = Wal.open(path);
    expect([...reopened.iter()].map((r) => new TextDecoder().decode(r.data))).toEqual([
      "one",
      "two",
      "three",
      "four",
      "five",
    ]);
    expect(reopened.recovery.barrier).toBe("full"); // this OS's own platform
    expect(reopened.stats().weakBarriers).toBe(0);
  });

  test("Wal over a FileStore whose directory alone refuses: the open reports 'fsync', the file's barriers stay full", () => {
    const libc = fakeLibc("F_FULLFSYNC", { barrierOnDirectory: DARWIN.EINVAL });
    using wal = Wal.withStore(
      FileStore.open(logPath(dir), { platform: darwinPlatform(libc.calls) }),
    );
    expect(wal.recovery.barrier).toBe("fsync");
    wal.appendAndSync("one");
    wal.appendAndSync("two");
    expect(wal.stats()).toMatchObject({ barriers: 2, weakBarriers: 0 });
    expect(libc.log.slice(-2)).toEqual(["F_FULLFSYNC file", "F_FULLFSYNC file"]);
  });

  test("Wal over a FileStore that accepts F_FULLFSYNC: recovery.barrier 'full', no weak barrier, fsync never called", async () => {
    const libc = fakeLibc();
    using wal = Wal.withStore(
      FileStore.open(logPath(dir), { platform: darwinPlatform(libc.calls) }),
    );
    expect(wal.recovery.barrier).toBe("full");
    wal.appendAndSync("one");
    await wal.commit("two");
    expect(wal.stats()).toMatchObject({ barriers: 2, weakBarriers: 0 });
    expect(libc.log.filter((call) => call.startsWith("fsync"))).toEqual([]);
  });

  test("Wal over a SegmentedStore: rolls, syncs and truncateBefore all go straight to fsync once refused, and each counted barrier is weak", () => {
    const libc = fakeLibc("F_FULLFSYNC", {
      barrierOnFile: DARWIN.ENOTSUP,
      barrierOnDirectory: DARWIN.ENOTSUP,
    });
    const path = join(dir, "segments-refused");
    using wal = Wal.withStore(
      SegmentedStore.open(path, 64, { platform: darwinPlatform(libc.calls) }),
    );
    // A new log has no segment yet: open syncs the parent, then recovery the log's directory.
    expect(libc.log).toEqual([
      "F_FULLFSYNC directory",
      "fsync directory",
      "flock file",
      "F_FULLFSYNC directory",
      "fsync directory",
    ]);
    expect(wal.recovery.barrier).toBe("fsync");
    libc.log.length = 0;
    const lsns = Array.from({ length: 6 }, () => wal.append("twenty-four bytes each.."));
    wal.sync(); // 192 bytes: segments 0 to 2, two rolls
    expect(wal.stats()).toMatchObject({ barriers: 1, weakBarriers: 1 });
    wal.append("twenty-four bytes each..");
    wal.truncateBefore(lsns[4]!); // makes the new record durable first: a counted barrier
    expect(wal.stats()).toMatchObject({ barriers: 2, weakBarriers: 2 });
    // The first segment was refused F_FULLFSYNC at its roll: from then on, every file's barrier
    // is fsync, and so is every sync of the directory.
    expect(libc.log.filter((call) => call.startsWith("F_FULLFSYNC"))).toEqual(["F_FULLFSYNC file"]);
    expect(libc.log.length).toBeGreaterThan(6);
  });

  test("a segmented log reopened on a refusing file system reports 'fsync' at recovery, which syncs every segment", () => {
    const path = join(dir, "segments-reopened");
    mkdirSync(path);
    {
      using wal = Wal.withStore(SegmentedStore.open(path, 64));
      for (let i = 0; i < 5; i++) wal.append("twenty-four bytes each..");
    }
    const libc = fakeLibc("F_FULLFSYNC", { barrierOnFile: DARWIN.ENOTSUP });
    using wal = Wal.withStore(
      SegmentedStore.open(path, 64, { platform: darwinPlatform(libc.calls) }),
    );
    expect(wal.recovery.barrier).toBe("fsync");
    expect(wal.recovery.records).toBe(5);
    // Segments 0, 1 and 2: the first is refused, the others go straight to fsync.
    expect(libc.log.filter((call) => call.endsWith("file") && !call.startsWith("flock"))).toEqual([
      "F_FULLFSYNC file",
      "fsync file",
      "fsync file",
      "fsync file",
    ]);
  });

  test("Wal.sync() whose F_FULLFSYNC fails with EIO throws IO and poisons the log: fsync is never tried", async () => {
    const libc = fakeLibc();
    using wal = Wal.withStore(
      FileStore.open(logPath(dir), { platform: darwinPlatform(libc.calls) }),
    );
    wal.append("one");
    libc.answers.barrierOnFile = DARWIN.EIO;
    libc.log.length = 0;
    const error = walErrorOf(() => wal.sync());
    expect(error).toBeInstanceOf(IoError);
    expect([(error as IoError).syscall, (error as IoError).errno]).toEqual(["F_FULLFSYNC", "EIO"]);
    expect(libc.log).toEqual(["F_FULLFSYNC file"]);
    // Poisoned: no later write or barrier, even though the disk would answer again.
    libc.answers.barrierOnFile = 0;
    expect(walErrorOf(() => wal.append("two")).code).toBe("POISONED");
    expect(walErrorOf(() => wal.sync()).code).toBe("POISONED");
    expect((await walRejectionOf(wal.commit("three"))).code).toBe("POISONED");
    expect(libc.log).toEqual(["F_FULLFSYNC file"]);
    expect(wal.stats()).toMatchObject({ barriers: 0, weakBarriers: 0 });
  });

  test("Wal.commit() on a refusing file system whose fsync then fails with EIO rejects with IO and poisons the log", async () => {
    const libc = fakeLibc("F_FULLFSYNC", { barrierOnFile: DARWIN.ENOTSUP });
    using wal = Wal.withStore(
      FileStore.open(logPath(dir), { platform: darwinPlatform(libc.calls) }),
    );
    await wal.commit("one");
    expect(wal.stats()).toMatchObject({ barriers: 1, weakBarriers: 1 });
    libc.answers.fsyncOnFile = DARWIN.EIO;
    const error = await walRejectionOf(wal.commit("two"));
    expect(error).toBeInstanceOf(IoError);
    expect([(error as IoError).syscall, (error as IoError).errno]).toEqual(["fsync", "EIO"]);
    libc.answers.fsyncOnFile = 0;
    expect(walErrorOf(() => wal.append("three")).code).toBe("POISONED");
    expect(walErrorOf(() => wal.sync()).code).toBe("POISONED");
    expect(wal.stats()).toMatchObject({ barriers: 1, weakBarriers: 1 });
  });

  test("Wal.withStore() whose recovery barrier fails with EIO throws IO: the log never opens", () => {
    const libc = fakeLibc("F_FULLFSYNC", { barrierOnFile: DARWIN.EIO });
    const store = FileStore.open(logPath(dir), { platform: darwinPlatform(libc.calls) });
    try {
      const error = walErrorOf(() => Wal.withStore(store));
      expect([(error as IoError).syscall, (error as IoError).errno]).toEqual([
        "F_FULLFSYNC",
        "EIO",
      ]);
    } finally {
      store.close();
    }
    expect(libc.log.filter((call) => call.endsWith("file"))).toEqual([
      "flock file",
      "F_FULLFSYNC file",
    ]);
  });
});

describe("Darwin's errno names", () => {
  test("the darwin table holds <sys/errno.h>'s 106 names at their numbers", () => {
    const names = darwinFlavour.errnoNames!;
    expect(names.size).toBe(106);
    const pinned = Object.fromEntries(
      ["EIO", "EINVAL", "EAGAIN", "ENOTSUP", "EDQUOT", "ENOLCK", "EOPNOTSUPP", "EQFULL"].map(
        (name) => [name, [...names].find(([, n]) => n === name)?.[0]],
      ),
    );
    expect(pinned).toEqual({
      EIO: 5,
      EINVAL: 22,
      EAGAIN: 35,
      ENOTSUP: 45,
      EDQUOT: 69,
      ENOLCK: 77,
      EOPNOTSUPP: 102,
      EQFULL: 106,
    });
  });
});
