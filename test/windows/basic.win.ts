/**
 * A log on Windows: open, append, sync, iterate, reopen; a torn tail cut at reopen; and every
 * record a killed writer was told is durable found by the next open. Run under Wine by run.ts.
 */

import { describe, expect, test } from "bun:test";
import { appendFileSync, statSync } from "node:fs";
import { Wal } from "../../src/index.ts";
import { startFixture } from "../support/child.ts";
import { logPath, tempDir } from "../support/temp.ts";

const dir = tempDir();
const text = (data: Uint8Array) => new TextDecoder().decode(data);

test("this suite runs on Windows", () => {
  expect(process.platform).toBe("win32");
});

describe("a single-file log", () => {
  test("appends, syncs, iterates and reads back after a reopen", () => {
    const path = logPath(dir);
    const wal = Wal.open(path);
    const lsns = ["one", "two", "three"].map((payload) => wal.append(payload));
    wal.sync();
    expect(wal.stats().barriers).toBe(1);
    expect([...wal.iter()].map(({ lsn }) => lsn)).toEqual(lsns);
    expect([...wal.iter()].map(({ data }) => text(data))).toEqual(["one", "two", "three"]);
    wal.close();
    const again = Wal.open(path);
    expect(again.recovery.records).toBe(3);
    expect([...again.iter()].map(({ data }) => text(data))).toEqual(["one", "two", "three"]);
    again.append("four");
    again.sync();
    again.close();
    const third = Wal.open(path);
    expect([...third.iter()].map(({ data }) => text(data))).toEqual([
      "one",
      "two",
      "three",
      "four",
    ]);
    third.close();
  });

  test("a torn tail is cut at reopen and the records before it kept", () => {
    const path = logPath(dir);
    const wal = Wal.open(path, { preallocate: 0 });
    wal.append("kept 1");
    const end = wal.append("kept 2") + 8 + "kept 2".length;
    wal.sync();
    wal.close();
    expect(statSync(path).size).toBe(end);
    // Half a frame: a header announcing 100 bytes, then 5 of them.
    const torn = new Uint8Array(13);
    new DataView(torn.buffer).setUint32(4, 100, true);
    appendFileSync(path, torn);
    const again = Wal.open(path, { preallocate: 0 });
    expect(again.recovery.end).toBe(end);
    expect(again.recovery.bytesDropped).toBe(13);
    expect([...again.iter()].map(({ data }) => text(data))).toEqual(["kept 1", "kept 2"]);
    again.close();
    expect(statSync(path).size).toBe(end);
  });
});

test.each([
  ["a single-file log", undefined],
  ["a segmented log", 4096],
])("%s: a writer killed hard loses no record it was told was durable", async (_, segmentSize) => {
  const path = logPath(dir);
  const writer = startFixture("windows/writer-fixture.ts", [
    path,
    ...(segmentSize === undefined ? [] : [String(segmentSize)]),
  ]);
  await writer.line("ACK 300 ");
  writer.process.kill("SIGKILL");
  const { stdout } = await writer.exited();
  const acked = stdout.filter((line) => line.startsWith("ACK ")).map((line) => line.split(" "));
  expect(acked.length).toBeGreaterThan(300);
  const wal = Wal.open(path, segmentSize === undefined ? {} : { segmentSize });
  const found = new Map([...wal.iter()].map(({ lsn, data }) => [lsn, text(data)]));
  for (const [, i, lsn] of acked) expect(found.get(Number(lsn))).toBe(`record ${i}`);
  wal.close();
});
