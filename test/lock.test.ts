/**
 * One process owns a log at a time: a second Wal.open of the same log, from this process or
 * another, fails with LOCKED while the first holder lives, and succeeds once it closes or dies
 * (SIGKILL: the kernel drops a dead process's flock). Closing some other descriptor of the
 * log's files in the holder does not drop the lock, as it would with POSIX fcntl locks. Every
 * case runs over a single-file log (locked through its own descriptor) and a segmented log
 * (locked through the LOCK file in its directory).
 */

import { describe, expect, test } from "bun:test";
import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Wal, type WalError, type WalOptions } from "../src/index.ts";
import { startFixture } from "./support/child.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();
const SEGMENT_SIZE = 4096;
const text = (data: Uint8Array) => new TextDecoder().decode(data);

interface LogKind {
  readonly name: string;
  /** A path for a new log of this kind. */
  readonly newPath: () => string;
  readonly options: WalOptions;
  /** The fixture's extra arguments for this kind. */
  readonly args: string[];
  /** The files of the log at `path` another descriptor could be opened on. */
  readonly files: (path: string) => string[];
}

let segmented = 0;
const kinds: LogKind[] = [
  {
    name: "a single-file log",
    newPath: () => logPath(dir),
    options: {},
    args: [],
    files: (path) => [path],
  },
  {
    name: "a segmented log",
    newPath: () => join(dir, `segments-${++segmented}`),
    options: { segmentSize: SEGMENT_SIZE },
    args: [String(SEGMENT_SIZE)],
    files: (path) => [join(path, "LOCK"), join(path, "00000000000000000000.wal")],
  },
];

function openError(path: string, options: WalOptions): WalError {
  try {
    Wal.open(path, options).close();
  } catch (error) {
    return error as WalError;
  }
  throw new Error(`Wal.open(${path}) succeeded while the log was locked`);
}

/** What another process gets when it tries to open the log: "OPENED" or "ERROR <code> ...". */
async function tryFromAnotherProcess(kind: LogKind, path: string): Promise<string> {
  const result = await startFixture("lock-fixture.ts", ["try", path, ...kind.args]).exited();
  expect(result.code).toBe(0);
  expect(result.stderr).toBe("");
  return result.stdout[0]!;
}

for (const kind of kinds) {
  describe(`Wal.open() of ${kind.name} takes an exclusive lock`, () => {
    test("a second open in the same process gets LOCKED naming the path, until close", () => {
      const path = kind.newPath();
      const first = Wal.open(path, kind.options);
      const error = openError(path, kind.options);
      expect(error.code).toBe("LOCKED");
      expect(error.message).toContain(path);

      // The failed open changed nothing: the holder still writes, and its records are there.
      first.appendAndSync("still mine");
      first.close();
      using second = Wal.open(path, kind.options);
      expect([...second.iter()].map((r) => text(r.data))).toEqual(["still mine"]);
    });

    test("another process gets LOCKED naming the path while this one holds the log", async () => {
      const path = kind.newPath();
      using wal = Wal.open(path, kind.options);
      const line = await tryFromAnotherProcess(kind, path);
      expect(line).toStartWith("ERROR LOCKED ");
      expect(line).toContain(path);
      expect(wal.len).toBe(0);
    });

    test("closing another descriptor of the log's files in this process keeps the lock", async () => {
      const path = kind.newPath();
      using wal = Wal.open(path, kind.options);
      wal.appendAndSync("mine");
      for (const file of kind.files(path)) {
        const reader = openSync(file, "r");
        readFileSync(reader);
        closeSync(reader);
        closeSync(openSync(file, "r+"));
      }
      expect(await tryFromAnotherProcess(kind, path)).toStartWith("ERROR LOCKED ");
      expect(openError(path, kind.options).code).toBe("LOCKED");
      wal.appendAndSync("still mine");
    });

    test("a process that holds the log refuses this one until it is SIGKILLed, then the open succeeds", async () => {
      const path = kind.newPath();
      const holder = startFixture("lock-fixture.ts", ["hold", path, ...kind.args]);
      await holder.line("HOLDING");
      expect(openError(path, kind.options).code).toBe("LOCKED");
      expect(await tryFromAnotherProcess(kind, path)).toStartWith("ERROR LOCKED ");

      holder.process.kill("SIGKILL");
      const result = await holder.exited();
      expect(result.signal).toBe("SIGKILL");

      // The kernel drops a dead process's flock: the log opens, with the holder's record in it.
      using wal = Wal.open(path, kind.options);
      expect([...wal.iter()].map((r) => text(r.data))).toEqual(["held by the fixture"]);
    });

    test("a holder process that closes other descriptors of the log's files keeps the lock", async () => {
      const path = kind.newPath();
      const holder = startFixture("lock-fixture.ts", ["hold-close", path, ...kind.args]);
      try {
        await holder.line("HOLDING");
        expect(openError(path, kind.options).code).toBe("LOCKED");
        expect(await tryFromAnotherProcess(kind, path)).toStartWith("ERROR LOCKED ");
      } finally {
        holder.process.kill("SIGKILL");
      }
      expect((await holder.exited()).signal).toBe("SIGKILL");
      expect(await tryFromAnotherProcess(kind, path)).toBe("OPENED");
    });

    test("another process can open the log after this one closes it", async () => {
      const path = kind.newPath();
      Wal.open(path, kind.options).close();
      expect(await tryFromAnotherProcess(kind, path)).toBe("OPENED");
    });
  });
}
