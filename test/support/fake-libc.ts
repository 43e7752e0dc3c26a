/**
 * A fake C library under the real POSIX platform logic (src/platform/posix.ts, through its
 * `PosixCalls` seam), so the darwin barrier and its fallback run on any OS.
 *
 * Fault model: each call answers what the test sets in `answers`, by the kind of descriptor it
 * is given (a regular file or a directory): 0, and then it really flushes through
 * `node:fs.fsyncSync`, so a log over it is as durable as on the real platform; or an errno
 * number, and then it returns -1 and `errno()` reads that number until the next call. The
 * numbers are the flavour's own (Darwin's for `darwinPlatform`), whatever OS runs the test.
 * `flock` always succeeds: the tests own their files. Every call is recorded, in order, as
 * "F_FULLFSYNC file", "fsync directory", "flock file" (the barrier is named by the flavour's
 * call: `barrierName`), so a test asserts what was called, not only what came back.
 */

import { fstatSync, fsyncSync } from "node:fs";
import type { PosixCalls } from "../../src/platform/posix.ts";

/** Darwin's errno numbers the tests use, from <sys/errno.h>. */
export const DARWIN = {
  EINTR: 4,
  EIO: 5,
  EBADF: 9,
  EINVAL: 22,
  ENOTTY: 25,
  ENOSPC: 28,
  EAGAIN: 35,
  ENOTSUP: 45,
  EOPNOTSUPP: 102,
} as const;

/** What a call answers: 0 for success (and a real flush), or the errno it fails with. */
export interface Answers {
  /** The barrier (`fcntl(F_FULLFSYNC)`, `fdatasync`) on a regular file. */
  barrierOnFile: number;
  /** The barrier on a directory. */
  barrierOnDirectory: number;
  /** `fsync` on a regular file. */
  fsyncOnFile: number;
  /** `fsync` on a directory. */
  fsyncOnDirectory: number;
}

/** The fake: the calls to hand to the platform, what they answer, and what was called. */
export interface FakeLibc {
  readonly calls: PosixCalls;
  /** Changed at any time; the next call answers the new value. */
  readonly answers: Answers;
  /** Every call so far, in order: "<call> file" or "<call> directory". */
  readonly log: string[];
}

/**
 * A fake libc whose barrier is named `barrierName` in the log; every call succeeds until a
 * test changes `answers` (or passes some in `initial`).
 */
export function fakeLibc(barrierName = "F_FULLFSYNC", initial: Partial<Answers> = {}): FakeLibc {
  const answers: Answers = {
    barrierOnFile: 0,
    barrierOnDirectory: 0,
    fsyncOnFile: 0,
    fsyncOnDirectory: 0,
    ...initial,
  };
  const log: string[] = [];
  let errno = 0;
  const kind = (fd: number) => (fstatSync(fd).isDirectory() ? "directory" : "file");
  /** Answers `code` for a call on `fd`: flushes for real on success. */
  const answer = (fd: number, code: number): number => {
    if (code === 0) {
      fsyncSync(fd);
      return 0;
    }
    errno = code;
    return -1;
  };
  const calls: PosixCalls = {
    barrier: (fd) => {
      const on = kind(fd);
      log.push(`${barrierName} ${on}`);
      return answer(fd, on === "file" ? answers.barrierOnFile : answers.barrierOnDirectory);
    },
    fsync: (fd) => {
      const on = kind(fd);
      log.push(`fsync ${on}`);
      return answer(fd, on === "file" ? answers.fsyncOnFile : answers.fsyncOnDirectory);
    },
    flock: (fd) => {
      log.push(`flock ${kind(fd)}`);
      return 0;
    },
    errno: () => errno,
  };
  return { calls, answers, log };
}
