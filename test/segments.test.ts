/**
 * Segmented logs on disk (docs/ON_DISK_FORMAT.md, "Segmented logs"): the same bytes as one
 * file, split every S bytes; a prefix dropped behind a durable `head`; a crash at any step of
 * that recovering from a real record; and every layout that is not one log refused at open
 * with a typed error and nothing changed.
 */

import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CorruptionError, Wal } from "../src/index.ts";
import { encodeHead, segmentName } from "../src/store/segment-layout.ts";
import { startFixture } from "./support/child.ts";
import { walErrorOf } from "./support/errors.ts";
import { seedFromEnv } from "./support/random.ts";
import { segmentFiles, snapshot, writeSegmented } from "./support/segments.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();
const SEED = seedFromEnv(0x5e9);
/** The smallest segment size; writeSegmented's records (up to 12,800 bytes) span up to four. */
const S = 4096;
/** A larger size, so that a wrong one can be tried on either side of it. */
const W = 2 * S;
const utf8 = new TextDecoder();

function expectLog(wal: Wal, lsns: number[], payloads: Uint8Array[], from: number): void {
  const records = [...wal.iter()];
  const kept = lsns.flatMap((lsn, i) => (lsn >= from ? [i] : []));
  expect(records.map((r) => r.lsn)).toEqual(kept.map((i) => lsns[i]!));
  records.forEach((r, k) => {
    expect(Buffer.from(r.data).equals(payloads[kept[k]!]!)).toBe(true);
  });
}

describe("the layout", () => {
  test(`records span ${S}-byte segments; the segments are the single-file log split every ${S} bytes (seed ${SEED})`, () => {
    const path = logPath(dir, "segments");
    const { lsns, payloads, end } = writeSegmented(path, S, 60, SEED);
    const single = logPath(dir);
    {
      using wal = Wal.open(single);
      for (const payload of payloads) wal.append(payload);
    }
    const names = segmentFiles(path);
    expect(names).toEqual(Array.from({ length: Math.ceil(end / S) }, (_, k) => segmentName(k)));
    for (const name of names) expect(name).toMatch(/^\d{20}\.wal$/);
    const files = names.map((name) => readFileSync(join(path, name)));
    for (const file of files.slice(0, -1)) expect(file.length).toBe(S);
    // The single file's records; after them it holds only its zero-filled tail.
    const file = readFileSync(single);
    expect(Buffer.concat(files).equals(file.subarray(0, end))).toBe(true);
    expect(file.subarray(end).every((byte) => byte === 0)).toBe(true);
    using wal = Wal.open(path, { segmentSize: S });
    expectLog(wal, lsns, payloads, 0);
  });

  test("segments are created as the log grows, not before", () => {
    const path = logPath(dir, "segments");
    using wal = Wal.open(path, { segmentSize: S });
    expect(segmentFiles(path)).toEqual([]);
    wal.append(new Uint8Array(S - 8)); // exactly one segment
    expect(segmentFiles(path)).toEqual([segmentName(0)]);
    wal.append(new Uint8Array(S - 8)); // exactly two
    expect(segmentFiles(path)).toEqual([segmentName(0), segmentName(1)]);
  });
});

describe("truncateBefore", () => {
  test("a head in the middle of a segment that starts mid-record survives a reopen", () => {
    const path = logPath(dir, "segments");
    const { lsns, payloads, end } = writeSegmented(path, S, 60, SEED);
    // A record whose segment starts inside the record before it.
    const k = lsns.findIndex(
      (lsn, i) => i > 10 && lsn % S !== 0 && lsns[i - 1]! < Math.floor(lsn / S) * S,
    );
    const head = lsns[k]!;
    const segment = Math.floor(head / S);
    {
      using wal = Wal.open(path, { segmentSize: S });
      expect(wal.truncateBefore(head)).toBe(head);
      expect(wal.head).toBe(head);
      expect(segmentFiles(path)[0]).toBe(segmentName(segment));
      expect(readFileSync(join(path, "head"))).toEqual(Buffer.from(encodeHead(head)));
    }
    using wal = Wal.open(path, { segmentSize: S });
    expect(wal.head).toBe(head);
    expect(wal.recovery.head).toBe(head);
    expect(wal.recovery.bytesDropped).toBe(0);
    expectLog(wal, lsns, payloads, head);
    expect(walErrorOf(() => wal.iterFrom(lsns[k - 1]!)).code).toBe("INVALID_ARGUMENT");
    expect(wal.append("next")).toBe(end);
  });

  test("a crash after the head is written but before any segment is deleted recovers from the head", () => {
    const path = logPath(dir, "segments");
    const { lsns, payloads } = writeSegmented(path, S, 40, SEED);
    const head = lsns[20]!;
    writeFileSync(join(path, "head"), encodeHead(head)); // the first step only
    const before = segmentFiles(path);
    {
      using wal = Wal.open(path, { segmentSize: S });
      expect(wal.head).toBe(head);
      expectLog(wal, lsns, payloads, head);
      expect(segmentFiles(path)).toEqual(before); // open deletes nothing
      // The next truncateBefore finishes the job.
      wal.truncateBefore(lsns[21]!);
    }
    expect(segmentFiles(path)[0]).toBe(segmentName(Math.floor(lsns[21]! / S)));
  });

  test("a crash in the middle of deleting, leaving a gap below the head's segment, recovers from the head", () => {
    const path = logPath(dir, "segments");
    const { lsns, payloads } = writeSegmented(path, S, 40, SEED);
    const head = lsns[30]!;
    writeFileSync(join(path, "head"), encodeHead(head));
    unlinkSync(join(path, segmentName(1))); // segments 0 and 2.. left, 1 gone
    unlinkSync(join(path, segmentName(3)));
    using wal = Wal.open(path, { segmentSize: S });
    expect(wal.head).toBe(head);
    expectLog(wal, lsns, payloads, head);
    wal.truncateBefore(head);
    expect(segmentFiles(path)[0]).toBe(segmentName(Math.floor(head / S)));
  });

  test("a stale head.tmp from a crash before the rename is ignored", () => {
    const path = logPath(dir, "segments");
    const { lsns, payloads } = writeSegmented(path, S, 10, SEED);
    writeFileSync(join(path, "head.tmp"), encodeHead(lsns[5]!));
    using wal = Wal.open(path, { segmentSize: S });
    expect(wal.head).toBe(0);
    expectLog(wal, lsns, payloads, 0);
  });

  test("on a single-file log it returns 0 and changes nothing", () => {
    const path = logPath(dir);
    using wal = Wal.open(path);
    const lsns = [wal.append("a"), wal.append("b")];
    const bytes = readFileSync(path);
    expect(wal.truncateBefore(lsns[1]!)).toBe(0);
    expect(wal.head).toBe(0);
    expect(readFileSync(path).equals(bytes)).toBe(true);
    expect([...wal.iter()].map((r) => r.lsn)).toEqual(lsns);
  });
});

describe("layouts that are not one log: open refuses and changes nothing", () => {
  /** Writes a 40-record log in segments of W = 2 × S bytes, damages it, and expects open to refuse. */
  function expectRefused(
    damage: (path: string, lsns: number[]) => void,
    segmentSize = W,
  ): ReturnType<typeof walErrorOf> {
    const path = logPath(dir, "segments");
    const { lsns } = writeSegmented(path, W, 40, SEED);
    damage(path, lsns);
    const before = snapshot(path);
    const error = walErrorOf(() => Wal.open(path, { segmentSize }));
    expect(snapshot(path)).toEqual(before);
    return error;
  }

  test.each([S, 4 * S])(
    `a segmentSize of %i for a log written with ${W}: SEGMENT_SIZE_MISMATCH naming both`,
    (size) => {
      const error = expectRefused(() => {}, size);
      expect(error.code).toBe("SEGMENT_SIZE_MISMATCH");
      expect(error.message).toContain(`segmentSize ${size}`);
      expect(error.message).toContain(`holds ${W} bytes`);
    },
  );

  test("a missing middle segment: CORRUPTION naming it", () => {
    const error = expectRefused((path) => unlinkSync(join(path, segmentName(2))));
    expect(error).toBeInstanceOf(CorruptionError);
    expect((error as CorruptionError).offset).toBe(2 * W);
    expect(error.message).toContain(segmentName(2));
  });

  test("a missing segment 0 with no head file: CORRUPTION", () => {
    const error = expectRefused((path) => unlinkSync(join(path, segmentName(0))));
    expect(error.code).toBe("CORRUPTION");
    expect(error.message).toContain(segmentName(0));
  });

  test.each([
    ["a flipped bit", (bytes: Uint8Array) => bytes.map((b, i) => (i === 3 ? b ^ 1 : b))],
    ["8 bytes (no checksum)", (bytes: Uint8Array) => bytes.subarray(0, 8)],
    ["0 bytes", () => new Uint8Array(0)],
    ["13 bytes", (bytes: Uint8Array) => new Uint8Array([...bytes, 0])],
  ])("a head file with %s: CORRUPTION", (_, mutate) => {
    const error = expectRefused((path, lsns) => {
      writeFileSync(join(path, "head"), mutate(encodeHead(lsns[10]!)));
    });
    expect(error.code).toBe("CORRUPTION");
    expect(error.message).toContain("head");
  });

  test("a head past the end of the segments: CORRUPTION", () => {
    const error = expectRefused((path) => {
      const end = segmentFiles(path).reduce((sum, n) => sum + statSync(join(path, n)).size, 0);
      writeFileSync(join(path, "head"), encodeHead(end + 3));
    });
    expect(error.code).toBe("CORRUPTION");
  });

  test("a directory opened without segmentSize: INVALID_ARGUMENT", () => {
    const path = logPath(dir, "segments");
    mkdirSync(path);
    expect(walErrorOf(() => Wal.open(path)).code).toBe("INVALID_ARGUMENT");
  });

  test("stray files and directories are ignored", () => {
    const path = logPath(dir, "segments");
    const { lsns, payloads } = writeSegmented(path, S, 20, SEED);
    writeFileSync(join(path, "notes.txt"), "not a segment");
    writeFileSync(join(path, "1.wal"), "short name");
    writeFileSync(join(path, "0000000000000000000x.wal"), "not digits");
    mkdirSync(join(path, "00000000000000000099.wal"));
    using wal = Wal.open(path, { segmentSize: S });
    expectLog(wal, lsns, payloads, 0);
    rmSync(join(path, "00000000000000000099.wal"), { recursive: true });
  });
});

describe("truncateAfter", () => {
  test("deletes the segments past the cut and shortens the one holding it", () => {
    const path = logPath(dir, "segments");
    const { lsns, payloads } = writeSegmented(path, S, 40, SEED);
    using wal = Wal.open(path, { segmentSize: S });
    wal.truncateAfter(lsns[9]!);
    const end = lsns[9]! + 8 + payloads[9]!.length;
    expect(wal.len).toBe(end);
    const names = segmentFiles(path);
    expect(names.at(-1)).toBe(segmentName(Math.ceil(end / S) - 1));
    expect(statSync(join(path, names.at(-1)!)).size).toBe(end - (names.length - 1) * S);
  });

  test.each([
    ["a single file", undefined],
    [`${S}-byte segments`, S],
  ])(
    "on %s, then an append, then SIGKILL: no dropped record comes back",
    async (_, segmentSize) => {
      const path = logPath(dir, segmentSize === undefined ? "log" : "segments");
      const args = [path, String(segmentSize ?? 0)];
      const child = startFixture("truncate-fixture.ts", args);
      const kept = Number((await child.line("KEPT ")).split(" ")[1]);
      const after = Number((await child.line("APPENDED ")).split(" ")[1]);
      const { signal } = await child.exited();
      expect(signal).toBe("SIGKILL");
      using wal = Wal.open(path, segmentSize === undefined ? {} : { segmentSize });
      const texts = [...wal.iter()].map((r) => utf8.decode(r.data).replace(/\.+$/, ""));
      expect(texts).toEqual([
        ...Array.from({ length: kept + 1 }, (_, i) => `record ${i}`),
        "after the cut",
      ]);
      expect([...wal.iter()].at(-1)!.lsn).toBe(after);
    },
  );

  test.each([
    ["inside a record", (lsns: number[]) => lsns[3]! + 1],
    ["at the end", (_: number[], end: number) => end],
    ["past the end", (_: number[], end: number) => end + 100],
    ["negative", () => -8],
    ["fractional", (lsns: number[]) => lsns[3]! + 0.5],
  ])("an LSN %s: INVALID_ARGUMENT, nothing changed", (_, pick) => {
    const path = logPath(dir, "segments");
    const { lsns, end } = writeSegmented(path, S, 10, SEED);
    const before = snapshot(path);
    using wal = Wal.open(path, { segmentSize: S });
    expect(walErrorOf(() => wal.truncateAfter(pick(lsns, end))).code).toBe("INVALID_ARGUMENT");
    expect(walErrorOf(() => wal.truncateBefore(pick(lsns, end) + 0.25)).code).toBe(
      "INVALID_ARGUMENT",
    );
    expect(snapshot(path)).toEqual(before);
  });

  test("both ends on a closed log throw CLOSED", () => {
    const path = logPath(dir, "segments");
    const wal = Wal.open(path, { segmentSize: S });
    const lsn = wal.append("x");
    wal.close();
    expect(walErrorOf(() => wal.truncateAfter(lsn)).code).toBe("CLOSED");
    expect(walErrorOf(() => wal.truncateBefore(lsn)).code).toBe("CLOSED");
    expect(walErrorOf(() => wal.head).code).toBe("CLOSED");
  });
});
