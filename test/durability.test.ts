/**
 * Durability across a real process boundary: a child appends and syncs, then dies by SIGKILL;
 * this process reopens the log and must find every record, byte for byte, in order.
 */

import { describe, expect, test } from "bun:test";
import { Wal } from "../src/index.ts";
import { startFixture } from "./support/child.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();
const text = (data: Uint8Array) => new TextDecoder().decode(data);

async function runWriter(mode: "synced" | "unsynced") {
  const path = logPath(dir);
  const child = startFixture("durability-fixture.ts", [path, mode]);
  const result = await child.exited();
  // The child must have died by the signal, after printing what it acknowledged.
  expect(result.signal).toBe("SIGKILL");
  expect(result.stderr).toBe("");
  return { path, stdout: result.stdout };
}

describe("Wal.sync() across a process crash", () => {
  test("a child that syncs and is SIGKILLed leaves exactly its four records", async () => {
    const { path, stdout } = await runWriter("synced");
    expect(stdout).toEqual(["SYNCED 0 13 21 41"]);

    using wal = Wal.open(path);
    const records = [...wal.iter()];
    expect(records.map((r) => r.lsn)).toEqual([0, 13, 21, 41]);
    expect(text(records[0]!.data)).toBe("alpha");
    expect(records[1]!.data).toEqual(new Uint8Array(0));
    expect(text(records[2]!.data)).toBe("gamma record");
    expect(records[3]!.data).toEqual(new Uint8Array(200));
    expect(wal.len).toBe(41 + 8 + 200);
    expect(wal.recovery.bytesDropped).toBe(0);
  });

  test("Wal.append() alone survives a process crash: the bytes are in the OS page cache", async () => {
    const { path, stdout } = await runWriter("unsynced");
    expect(stdout).toEqual(["SYNCED 0 13 21 41", "APPENDED 249"]);

    using wal = Wal.open(path);
    const records = [...wal.iter()];
    expect(records.map((r) => r.lsn)).toEqual([0, 13, 21, 41, 249]);
    expect(text(records[4]!.data)).toBe("delta, appended and never synced");
  });

  test("Wal.open() after a crash can append, and the new record survives the next reopen", async () => {
    const { path } = await runWriter("synced");
    {
      using wal = Wal.open(path);
      expect(wal.appendAndSync("after the crash")).toBe(249);
    }
    using wal = Wal.open(path);
    expect([...wal.iter()].map((r) => r.lsn)).toEqual([0, 13, 21, 41, 249]);
  });
});
