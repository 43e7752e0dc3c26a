/**
 * Every file the library opens (a log, a segment, `head`, `LOCK`) is checked to be a regular
 * file before any read, and `head` is read only when it holds 12 bytes: a FIFO must not hang
 * an open, a device must not feed it bytes without end, a huge `head` must not be read whole.
 * Opens that could hang run in a child (test/open-fixture.ts) with a deadline, so a regression
 * fails here instead of stalling the suite. Linux and macOS only (FIFOs, /dev).
 */

import { describe, expect, test } from "bun:test";
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { Wal } from "../src/index.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();
const posix = process.platform !== "win32";
/** Far longer than any of these opens takes; a hang is killed at it and fails the test. */
const DEADLINE_MS = 15_000;
/** What an open may allocate, whatever the file claims: a few scan buffers, not a file. */
const RSS_BOUND = 64 * 1024 * 1024;

interface Outcome {
  readonly code: string | null;
  readonly message: string;
  readonly rssGrowth: number;
}

/** Runs `call` on `path` in a child and returns what it printed; a hang fails the test. */
async function openInChild(
  call: "open" | "openReadOnly",
  path: string,
  segmentSize?: number,
): Promise<Outcome> {
  const args = [call, path, ...(segmentSize === undefined ? [] : [String(segmentSize)])];
  const child = Bun.spawn([process.execPath, join(import.meta.dir, "open-fixture.ts"), ...args], {
    stdout: "pipe",
    stderr: "pipe",
    timeout: DEADLINE_MS,
    killSignal: "SIGKILL",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  expect(child.signalCode, `${call}(${path}) hung and was killed; stderr: ${stderr}`).toBeNull();
  expect(code, stderr).toBe(0);
  return JSON.parse(stdout.trim()) as Outcome;
}

function mkfifo(path: string): void {
  const made = Bun.spawnSync(["mkfifo", path]);
  if (made.exitCode !== 0) throw new Error(`mkfifo ${path}: ${made.stderr.toString()}`);
}

/** A segmented log of a few records in `path`, closed. */
function segmentedLog(path: string): void {
  using wal = Wal.open(path, { segmentSize: 4096 });
  for (let i = 0; i < 10; i++) wal.append(`record ${i}`);
  wal.sync();
}

describe.if(posix)("open of a path that is not a regular file", () => {
  test("Wal.open() of a FIFO as the log is NOT_A_LOG, without waiting for a writer", async () => {
    const path = logPath(dir, "fifo");
    mkfifo(path);
    for (const call of ["open", "openReadOnly"] as const) {
      const outcome = await openInChild(call, path);
      expect(outcome.code).toBe("NOT_A_LOG");
      expect(outcome.message).toContain(`${path} is not a wal-db log: it is a FIFO`);
    }
    expect(statSync(path).isFIFO()).toBe(true);
  });

  test("Wal.open() of /dev/null is NOT_A_LOG naming a character device, not an fdatasync failure", async () => {
    for (const call of ["open", "openReadOnly"] as const) {
      const outcome = await openInChild(call, "/dev/null");
      expect(outcome.code).toBe("NOT_A_LOG");
      expect(outcome.message).toContain("it is a character device");
    }
  });

  test("Wal.open() of a directory whose head is a FIFO is NOT_A_LOG, read-only too", async () => {
    const path = join(dir, "fifo-head");
    segmentedLog(path);
    mkfifo(join(path, "head"));
    for (const call of ["open", "openReadOnly"] as const) {
      const outcome = await openInChild(call, path, 4096);
      expect(outcome.code).toBe("NOT_A_LOG");
      expect(outcome.message).toContain(`${join(path, "head")} is not a wal-db log: it is a FIFO`);
    }
  });

  test("Wal.open() of a directory whose head links to /dev/zero reads nothing from it", async () => {
    const path = join(dir, "zero-head");
    segmentedLog(path);
    symlinkSync("/dev/zero", join(path, "head"));
    const outcome = await openInChild("open", path, 4096);
    expect(outcome.code).toBe("NOT_A_LOG");
    expect(outcome.message).toContain("it is a character device");
    expect(outcome.rssGrowth).toBeLessThan(RSS_BOUND);
  });

  test("Wal.open() of a directory with a 3 GiB sparse head says its size without reading it", async () => {
    const path = join(dir, "huge-head");
    segmentedLog(path);
    const fd = openSync(join(path, "head"), "w");
    writeSync(fd, new Uint8Array(1), 0, 1, 3 * 1024 ** 3 - 1);
    closeSync(fd);
    const outcome = await openInChild("openReadOnly", path, 4096);
    expect(outcome.code).toBe("CORRUPTION");
    expect(outcome.message).toContain(`holds ${3 * 1024 ** 3} bytes, not 12`);
    expect(outcome.rssGrowth).toBeLessThan(RSS_BOUND);
  });

  test("Wal.open() of a directory whose LOCK is a FIFO is NOT_A_LOG", async () => {
    const path = join(dir, "fifo-lock");
    mkdirSync(path);
    mkfifo(join(path, "LOCK"));
    const outcome = await openInChild("open", path, 4096);
    expect(outcome.code).toBe("NOT_A_LOG");
    expect(outcome.message).toContain(`${join(path, "LOCK")} is not a wal-db log: it is a FIFO`);
    expect(readdirSync(path)).toEqual(["LOCK"]);
  });
});
