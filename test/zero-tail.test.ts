/**
 * The zero-filled tail of a single-file log (`preallocate`): appends keep zeros written past the
 * last record, so that a barrier overwrites space the file already holds. What must hold:
 * - the file is the log's records, then zeros only, and the records are the bytes a log without
 *   the tail holds (the Rust crate's format);
 * - reopening keeps the tail and reports a clean log;
 * - a torn record in the tail, and damage that valid records follow, are cut with the tail, and
 *   no stale valid record beyond the logical end ever comes back, after recovery or after
 *   `truncateAfter`, even when later appends end exactly where one started;
 * - zeros are written only by the first fill and by fills after a barrier, so appends without
 *   syncs write each byte once; large writes get no zeros after them; bad values are refused
 *   before anything is created.
 * Crash images (test/crash-images.test.ts) and faults (test/faults.test.ts) run every workload
 * with a 256-byte fill, so crash points fall inside fills; test/workers.test.ts runs Workers
 * racing to fill.
 */

import { describe, expect, test } from "bun:test";
import { closeSync, existsSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import { Wal } from "../src/index.ts";
import { walErrorOf } from "./support/errors.ts";
import { mulberry32, randomBytes, seededRecords } from "./support/random.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();
const PREALLOCATE = 4096;

/** Twelve payloads of 0 to 199 seeded bytes. */
const { payloads, lsns, total } = seededRecords(0x2e70, 12, 200);

/** A closed log of the twelve records at `path`, written with `options`; returns its bytes. */
function writeLog(path: string, preallocate: number): Uint8Array {
  using wal = Wal.open(path, { preallocate });
  for (const payload of payloads) wal.append(payload);
  wal.sync();
  return new Uint8Array(readFileSync(path));
}

function overwrite(path: string, bytes: Uint8Array, position: number): void {
  const fd = openSync(path, "r+");
  try {
    writeSync(fd, bytes, 0, bytes.length, position);
  } finally {
    closeSync(fd);
  }
}

const isZero = (bytes: Uint8Array) => bytes.every((byte) => byte === 0);

/** The records of the log at `path`, reopened with the tail on. */
function records(path: string): { lsn: number; data: Uint8Array }[] {
  using wal = Wal.open(path, { preallocate: PREALLOCATE });
  return [...wal.iter()];
}

describe("the zero-filled tail", () => {
  test("the file holds the records, byte for byte those of a log without it, then zeros", () => {
    const withTail = writeLog(logPath(dir), PREALLOCATE);
    const without = writeLog(logPath(dir), 0);
    expect(without.length).toBe(total);
    expect(withTail.length).toBeGreaterThanOrEqual(total + PREALLOCATE);
    expect(withTail.length % 4096).toBe(0); // filled to a whole page
    expect(Buffer.from(withTail.subarray(0, total)).equals(without)).toBe(true);
    expect(isZero(withTail.subarray(total))).toBe(true);
  });

  test("the default fills 1 MiB past the records; preallocate: 0 fills nothing", () => {
    const path = logPath(dir);
    {
      using wal = Wal.open(path);
      wal.appendAndSync("one");
      expect(statSync(path).size).toBe(1024 * 1024 + 4096);
    }
    const bare = logPath(dir);
    using wal = Wal.open(bare, { preallocate: 0 });
    wal.appendAndSync("one");
    expect(statSync(bare).size).toBe(11);
  });

  test("a reopen keeps the tail and reports a clean log; appends overwrite the zeros", () => {
    const path = logPath(dir);
    const image = writeLog(path, PREALLOCATE);
    for (let round = 0; round < 3; round++) {
      using wal = Wal.open(path, { preallocate: PREALLOCATE });
      expect(wal.recovery).toEqual({
        head: 0,
        records: payloads.length + round,
        storeSize: image.length,
        end: total + round * 13,
        bytesDropped: 0,
        reason: null,
        recordsDropped: 0,
        damagedRegions: 0,
        barrier: "full",
      });
      expect(wal.append("round")).toBe(total + round * 13);
      wal.sync();
      // Inside the tail: the file does not grow.
      expect(statSync(path).size).toBe(image.length);
    }
    expect(records(path).map((r) => r.lsn)).toEqual([...lsns, total, total + 13, total + 26]);
  });

  test("the appends that cross the tail fill again, and every record reads back", () => {
    const path = logPath(dir);
    const next = mulberry32(7);
    const written: Uint8Array[] = [];
    {
      using wal = Wal.open(path, { preallocate: 512 });
      for (let i = 0; i < 300; i++) {
        const payload = randomBytes(next, next() % 300);
        written.push(payload);
        wal.append(payload);
      }
      wal.appendBatch(written.slice(0, 40));
      wal.sync(); // zeros are written again only after a barrier
      wal.append(Uint8Array.of(1)); // small again: zeros follow it
      const file = readFileSync(path);
      expect(file.length).toBeGreaterThan(wal.len);
      expect(isZero(file.subarray(wal.len))).toBe(true);
    }
    const found = records(path);
    expect(found).toHaveLength(341);
    const expected = [...written, ...written.slice(0, 40), Uint8Array.of(1)];
    expect(found.every((r, i) => Buffer.from(r.data).equals(expected[i]!))).toBe(true);
  });

  test("zeros are written again only after a barrier: appends alone write each byte once", () => {
    const path = logPath(dir);
    using wal = Wal.open(path, { preallocate: PREALLOCATE });
    const record = new Uint8Array(100).fill(7);
    wal.append(record); // the first fill always writes zeros
    const firstFill = statSync(path).size;
    expect(firstFill).toBeGreaterThanOrEqual(wal.len + PREALLOCATE);
    while (wal.len <= firstFill) wal.append(record);
    // Five more fills' worth of appends, no barrier: the file ends at the last record.
    const unsynced = wal.len + 5 * PREALLOCATE;
    while (wal.len < unsynced) {
      wal.append(record);
      if (wal.len > firstFill) expect(statSync(path).size).toBe(wal.len);
    }
    wal.sync();
    // The next fill follows a barrier: zeros again, within one fill's worth of appends.
    const bound = wal.len + 2 * PREALLOCATE;
    while (statSync(path).size === wal.len && wal.len < bound) wal.append(record);
    expect(statSync(path).size).toBeGreaterThanOrEqual(wal.len + PREALLOCATE);
    expect(isZero(readFileSync(path).subarray(wal.len))).toBe(true);
  });

  test("a write of at least a quarter of preallocate gets no zeros after it", () => {
    const path = logPath(dir);
    using wal = Wal.open(path, { preallocate: PREALLOCATE });
    wal.append(new Uint8Array(PREALLOCATE / 4));
    expect(statSync(path).size).toBe(8 + PREALLOCATE / 4);
    wal.appendBatch(Array.from({ length: 16 }, () => new Uint8Array(100)));
    expect(statSync(path).size).toBe(wal.len);
    wal.append("small");
    expect(statSync(path).size).toBeGreaterThanOrEqual(wal.len + PREALLOCATE);
  });

  test("a torn record in the tail is cut with the tail, and the next append lands there", () => {
    const path = logPath(dir);
    const image = writeLog(path, PREALLOCATE);
    // The first 100 bytes of a 140-byte frame, then the zeros it did not reach.
    const torn = new Uint8Array(100).fill(0x5a);
    new DataView(torn.buffer).setUint32(4, 132, true);
    overwrite(path, torn, total);
    {
      using wal = Wal.open(path, { preallocate: PREALLOCATE });
      expect(wal.recovery.end).toBe(total);
      expect(wal.recovery.bytesDropped).toBe(image.length - total);
      expect(wal.recovery.reason).not.toBeNull();
      expect(wal.recovery.recordsDropped).toBe(0);
      expect(statSync(path).size).toBe(total);
      expect(wal.appendAndSync("after")).toBe(total);
    }
    const found = records(path);
    expect(found.map((r) => r.lsn)).toEqual([...lsns, total]);
  });

  test("a hole in the records is cut with everything after it: no stale record comes back", () => {
    const path = logPath(dir);
    writeLog(path, PREALLOCATE);
    // Records 5 and 6 never reached the disk (zeros), records 7.. did: a crash's reordering.
    overwrite(path, new Uint8Array(lsns[7]! - lsns[5]!), lsns[5]!);
    {
      using wal = Wal.open(path, { preallocate: PREALLOCATE });
      expect(wal.recovery.end).toBe(lsns[5]!);
      expect(wal.recovery.recordsDropped).toBe(payloads.length - 7);
      expect(statSync(path).size).toBe(lsns[5]!);
      // Appends that end exactly where stale record 7 started: were it still on disk, it and
      // every record after it would now chain on as valid.
      wal.append(payloads[5]!);
      wal.append(payloads[6]!);
      expect(wal.len).toBe(lsns[7]!);
      wal.sync();
    }
    expect(records(path).map((r) => r.lsn)).toEqual(lsns.slice(0, 7));
  });

  test("truncateAfter cuts the tail durably: appends after it never reach a dropped record", () => {
    const path = logPath(dir);
    writeLog(path, PREALLOCATE);
    {
      using wal = Wal.open(path, { preallocate: PREALLOCATE });
      wal.truncateAfter(lsns[3]!);
      expect(statSync(path).size).toBe(lsns[4]!);
      // The same bytes again, so the next append ends where dropped record 5 started.
      expect(wal.append(payloads[4]!)).toBe(lsns[4]!);
      expect(wal.len).toBe(lsns[5]!);
      const file = readFileSync(path);
      expect(isZero(file.subarray(wal.len))).toBe(true);
      wal.sync();
    }
    expect(records(path).map((r) => r.lsn)).toEqual(lsns.slice(0, 5));
  });

  test('recovery "skip" keeps damage in the middle and the tail after the last record', () => {
    const path = logPath(dir);
    const image = writeLog(path, PREALLOCATE);
    overwrite(path, Uint8Array.of(image[lsns[4]! + 9]! ^ 0xff), lsns[4]! + 9);
    using wal = Wal.open(path, { preallocate: PREALLOCATE, recovery: "skip" });
    expect(wal.recovery.damagedRegions).toBe(1);
    expect(wal.recovery.end).toBe(total);
    expect(wal.recovery.bytesDropped).toBe(0);
    expect(statSync(path).size).toBe(image.length);
  });

  test("a log that keeps no tail (preallocate: 0) cuts one it finds, as a torn tail", () => {
    const path = logPath(dir);
    const image = writeLog(path, PREALLOCATE);
    using wal = Wal.open(path, { preallocate: 0 });
    expect(wal.recovery.end).toBe(total);
    expect(wal.recovery.bytesDropped).toBe(image.length - total);
    expect(wal.recovery.reason).toBe("zero-filled header (space never written)");
    expect(statSync(path).size).toBe(total);
  });

  test("bad values of preallocate throw INVALID_ARGUMENT before any file is created", () => {
    for (const preallocate of [-1, 1.5, 2 ** 30 + 1, "1024", null]) {
      const path = logPath(dir);
      const error = walErrorOf(() => Wal.open(path, { preallocate } as never));
      expect(error.code).toBe("INVALID_ARGUMENT");
      expect(error.message).toContain("preallocate");
      expect(existsSync(path)).toBe(false);
    }
    const directory = logPath(dir, "segments");
    const error = walErrorOf(() => Wal.open(directory, { segmentSize: 4096, preallocate: 4096 }));
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toContain("segmented");
    expect(existsSync(directory)).toBe(false);
    // 0 is the segmented default, and accepted.
    using wal = Wal.open(directory, { segmentSize: 4096, preallocate: 0 });
    expect(wal.len).toBe(0);
  });
});
