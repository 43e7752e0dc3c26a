/**
 * One process owns a log at a time: a second Wal.open of the same file, from this process or
 * another, fails with LOCKED while the first holder lives, and succeeds once it closes or dies.
 */

import { describe, expect, test } from "bun:test";
import { Wal, type WalError } from "../src/index.ts";
import { startFixture } from "./support/child.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();

function openError(path: string): WalError {
  try {
    Wal.open(path).close();
  } catch (error) {
    return error as WalError;
  }
  throw new Error(`Wal.open(${path}) succeeded while the log was locked`);
}

describe("Wal.open() takes an exclusive lock", () => {
  test("a second open in the same process gets LOCKED naming the path, until close", () => {
    const path = logPath(dir);
    const first = Wal.open(path);
    const error = openError(path);
    expect(error.code).toBe("LOCKED");
    expect(error.message).toContain(path);

    // The failed open changed nothing: the holder still writes, and its records are there.
    first.appendAndSync("still mine");
    first.close();
    using second = Wal.open(path);
    expect([...second.iter()].map((r) => new TextDecoder().decode(r.data))).toEqual(["still mine"]);
  });

  test("another process gets LOCKED while this one holds the log", async () => {
    const path = logPath(dir);
    using wal = Wal.open(path);
    const child = startFixture("lock-fixture.ts", ["try", path]);
    const result = await child.exited();
    expect(result.code).toBe(0);
    expect(result.stdout[0]).toStartWith("ERROR LOCKED ");
    expect(result.stdout[0]).toContain(path);
    expect(wal.len).toBe(0);
  });

  test("a process that holds the log blocks this one, until it is SIGKILLed", async () => {
    const path = logPath(dir);
    const holder = startFixture("lock-fixture.ts", ["hold", path]);
    await holder.line("HOLDING");
    expect(openError(path).code).toBe("LOCKED");

    holder.process.kill("SIGKILL");
    const result = await holder.exited();
    expect(result.signal).toBe("SIGKILL");

    // The kernel drops a dead process's flock: the log opens, with the holder's record in it.
    using wal = Wal.open(path);
    expect([...wal.iter()].map((r) => new TextDecoder().decode(r.data))).toEqual([
      "held by the fixture",
    ]);
  });

  test("another process can open the log after this one closes it", async () => {
    const path = logPath(dir);
    Wal.open(path).close();
    const result = await startFixture("lock-fixture.ts", ["try", path]).exited();
    expect(result.stdout).toEqual(["OPENED"]);
  });
});
