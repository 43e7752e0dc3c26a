/**
 * The segment size of an existing segmented log, read from its files (issue 21): every segment
 * but the newest holds exactly the size, so `Wal.open(dir)` and `Wal.openReadOnly(dir)` need no
 * `segmentSize` once two segments show it. It is needed to create a log and where the files
 * cannot tell (one segment, or none), and the error says why and what to pass; segments that
 * disagree with each other are damage (CORRUPTION), a given size the files contradict is
 * SEGMENT_SIZE_MISMATCH naming both sizes, and a size below 4 KiB is refused. Every refusal
 * leaves the directory as it was, LOCK file included. The CLI reads the size the same way.
 */

import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, statSync, truncateSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { CorruptionError, SegmentedStore, Wal } from "../src/index.ts";
import { segmentSizeEvidence, segmentsDisagree } from "../src/store/segment-layout.ts";
import { runScript } from "./support/child.ts";
import { walErrorOf } from "./support/errors.ts";
import { segmentFiles, snapshot } from "./support/segments.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir("wal-db-segment-size-");
const MAIN = join(import.meta.dir, "..", "src", "cli", "main.ts");
const SIZE = 4096;
/** Payload bytes of one record: frames of 1,000 bytes, so records straddle segment ends. */
const PAYLOAD = 992;

/** Segment `index`'s file name, spelled out here rather than taken from src. */
const name = (index: number) => `${String(index).padStart(20, "0")}.wal`;

/** A new log in `path` of `count` 1,000-byte frames in `segmentSize`-byte segments, synced. */
function writeLog(path: string, count: number, segmentSize = SIZE): number[] {
  using wal = Wal.open(path, { segmentSize });
  const lsns = Array.from({ length: count }, (_, i) => wal.append(new Uint8Array(PAYLOAD).fill(i)));
  wal.sync();
  return lsns;
}

const lsnsOf = (wal: { iter(): Iterable<{ lsn: number }> }) =>
  [...wal.iter()].map((record) => record.lsn);

describe("Wal.open(dir) without segmentSize", () => {
  test("reopens a log of several segments with the size they show, and rolls at it", () => {
    const path = logPath(dir, "segments");
    const lsns = writeLog(path, 10); // 10,000 bytes: segments 0 and 1 full, 2 partial
    expect(segmentFiles(path)).toEqual([name(0), name(1), name(2)]);
    {
      using wal = Wal.open(path);
      expect(lsnsOf(wal)).toEqual(lsns);
      for (let i = 0; i < 3; i++) lsns.push(wal.append(new Uint8Array(PAYLOAD).fill(i)));
      wal.sync();
    }
    // 13,000 bytes: the roll into segment 3 came at 3 × 4096, as the size the files showed.
    expect(segmentFiles(path)).toEqual([name(0), name(1), name(2), name(3)]);
    using wal = Wal.open(path, { segmentSize: SIZE });
    expect(lsnsOf(wal)).toEqual(lsns);
  });

  test("reads the size of a log whose prefix was dropped, leftovers ignored", () => {
    const path = logPath(dir, "segments");
    const lsns = writeLog(path, 14); // 14,000 bytes: segments 0 to 3
    {
      using wal = Wal.open(path);
      expect(wal.truncateBefore(lsns[9]!)).toBe(9000); // inside segment 2: 0 and 1 go
    }
    expect(segmentFiles(path)).toEqual([name(2), name(3)]);
    using wal = Wal.open(path);
    expect(wal.head).toBe(9000);
    expect(lsnsOf(wal)).toEqual(lsns.slice(9));
  });

  test("opens a log written with segments below the 4 KiB minimum (as the Rust crate may write)", () => {
    const path = logPath(dir, "segments");
    // The store takes any size, as the Rust crate does: 64-byte segments, 16-byte frames.
    const lsns: number[] = [];
    {
      using wal = Wal.withStore(SegmentedStore.open(path, 64));
      for (let i = 0; i < 10; i++) lsns.push(wal.append(`record ${i}`));
      wal.sync();
    }
    unlinkSync(join(path, "LOCK")); // the crate keeps none
    expect(segmentFiles(path)).toEqual([name(0), name(1), name(2)]);
    {
      using wal = Wal.open(path);
      expect(lsnsOf(wal)).toEqual(lsns);
      // 17-byte frames from 160 to 211: segment 2 fills to 64 bytes, then the log rolls.
      for (let i = 10; i < 13; i++) wal.append(`record ${i}`);
      wal.sync();
    }
    expect(segmentFiles(path)).toEqual([name(0), name(1), name(2), name(3)]);
    expect(statSync(join(path, name(2))).size).toBe(64);
    // Given as an option, the small size is refused, and the message says to leave it out.
    const error = walErrorOf(() => Wal.open(path, { segmentSize: 64 }));
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toContain("without segmentSize");
  });

  test("one segment cannot tell the size: INVALID_ARGUMENT saying why and what to pass, nothing changed", () => {
    const path = logPath(dir, "segments");
    writeLog(path, 3); // 3,000 bytes: segment 0 only
    const before = snapshot(path);
    const error = walErrorOf(() => Wal.open(path));
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toContain("cannot tell the segment size");
    expect(error.message).toContain(`one segment, ${name(0)} (3000 bytes)`);
    expect(error.message).toContain(`Wal.open("${path}", { segmentSize })`);
    expect(error.message).toContain("any size of at least 4096");
    expect(snapshot(path)).toEqual(before);
    using wal = Wal.open(path, { segmentSize: SIZE });
    expect(wal.len).toBe(3000);
  });

  test("one segment and no LOCK file: refused before the LOCK file is created", () => {
    const path = logPath(dir, "segments");
    writeLog(path, 2);
    unlinkSync(join(path, "LOCK"));
    const before = snapshot(path);
    expect(walErrorOf(() => Wal.open(path)).code).toBe("INVALID_ARGUMENT");
    expect(snapshot(path)).toEqual(before);
    expect(existsSync(join(path, "LOCK"))).toBe(false);
  });

  test("no segment yet (a log created, never written): INVALID_ARGUMENT; a read-only open reads it empty", () => {
    const path = logPath(dir, "segments");
    Wal.open(path, { segmentSize: SIZE }).close();
    expect(readdirSync(path)).toEqual(["LOCK"]);
    const error = walErrorOf(() => Wal.open(path));
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toContain("it holds no segment yet");
    using reader = Wal.openReadOnly(path);
    expect(reader.len).toBe(0);
    expect(readdirSync(path)).toEqual(["LOCK"]);
  });

  test("one segment above index 0: Wal.open and Wal.openReadOnly both need segmentSize", () => {
    const path = logPath(dir, "segments");
    const lsns = writeLog(path, 10);
    {
      using wal = Wal.open(path);
      wal.truncateBefore(lsns[9]!); // 9000: inside segment 2, which is the newest
    }
    expect(segmentFiles(path)).toEqual([name(2)]);
    const before = snapshot(path);
    for (const open of [() => Wal.open(path), () => Wal.openReadOnly(path)]) {
      const error = walErrorOf(open);
      expect(error.code).toBe("INVALID_ARGUMENT");
      expect(error.message).toContain(`one segment, ${name(2)}`);
      expect(error.message).toContain("{ segmentSize }");
      expect(error.message).not.toContain("any size of at least");
    }
    expect(walErrorOf(() => Wal.openReadOnly(path)).message).toContain("Wal.openReadOnly(");
    expect(snapshot(path)).toEqual(before);
    using wal = Wal.open(path, { segmentSize: SIZE });
    expect(lsnsOf(wal)).toEqual([9000]);
  });

  test("a directory that holds no log: INVALID_ARGUMENT saying to pass segmentSize, nothing created", () => {
    const path = logPath(dir, "segments");
    mkdirSync(path);
    const error = walErrorOf(() => Wal.open(path));
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toContain("holds no segmented log");
    expect(error.message).toContain("segmentSize (at least 4096)");
    expect(readdirSync(path)).toEqual([]);
    expect(walErrorOf(() => Wal.open(path, { create: false })).code).toBe("NOT_FOUND");
    expect(walErrorOf(() => Wal.openReadOnly(path)).code).toBe("INVALID_ARGUMENT");
    expect(readdirSync(path)).toEqual([]);
  });

  test("a path that does not exist is still a new single-file log", () => {
    const path = logPath(dir);
    using wal = Wal.open(path);
    wal.appendAndSync("one file");
    expect(statSync(path).isFile()).toBe(true);
  });

  test("preallocate on a log whose size comes from the files: INVALID_ARGUMENT, as with segmentSize", () => {
    const path = logPath(dir, "segments");
    writeLog(path, 10);
    const before = snapshot(path);
    const error = walErrorOf(() => Wal.open(path, { preallocate: 4096 }));
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toContain("preallocate must be 0");
    expect(snapshot(path)).toEqual(before);
  });

  test("preallocate on such a log with no LOCK file: refused before the LOCK file is created", () => {
    const path = logPath(dir, "segments");
    writeLog(path, 10);
    unlinkSync(join(path, "LOCK"));
    const before = snapshot(path);
    expect(walErrorOf(() => Wal.open(path, { preallocate: 4096 })).code).toBe("INVALID_ARGUMENT");
    expect(snapshot(path)).toEqual(before);
    expect(existsSync(join(path, "LOCK"))).toBe(false);
  });
});

describe("Wal.openReadOnly(dir) without segmentSize", () => {
  test("reads a log of several segments with the size they show", () => {
    const path = logPath(dir, "segments");
    const lsns = writeLog(path, 10);
    const before = snapshot(path);
    using reader = Wal.openReadOnly(path);
    expect(lsnsOf(reader)).toEqual(lsns);
    expect(snapshot(path)).toEqual(before);
  });

  test("reads a lone segment 0, which any size at least its length reads the same", () => {
    const path = logPath(dir, "segments");
    const lsns = writeLog(path, 3);
    using reader = Wal.openReadOnly(path);
    expect(lsnsOf(reader)).toEqual(lsns);
  });
});

describe("segments that disagree with each other: CORRUPTION, nothing changed", () => {
  test("a segment before the newest cut short: CORRUPTION naming it and the size the others hold", () => {
    const path = logPath(dir, "segments");
    writeLog(path, 18); // 18,000 bytes: segments 0 to 4
    truncateSync(join(path, name(2)), 1000);
    const before = snapshot(path);
    for (const open of [() => Wal.open(path), () => Wal.openReadOnly(path)]) {
      const error = walErrorOf(open);
      expect(error).toBeInstanceOf(CorruptionError);
      expect(error.code).toBe("CORRUPTION");
      expect(error.message).toContain(`${name(2)} holds 1000`);
      expect(error.message).toContain(`${name(0)} holds 4096`);
      expect((error as CorruptionError).offset).toBe(2 * SIZE);
    }
    // With the size given, the open names the one segment whose length contradicts it.
    const mismatch = walErrorOf(() => Wal.open(path, { segmentSize: SIZE }));
    expect(mismatch.code).toBe("SEGMENT_SIZE_MISMATCH");
    expect(mismatch.message).toContain(name(2));
    expect(snapshot(path)).toEqual(before);
  });

  test("two segments before the newest of different lengths, neither in the majority", () => {
    const path = logPath(dir, "segments");
    writeLog(path, 10); // segments 0, 1 full, 2 partial
    truncateSync(join(path, name(0)), 3000);
    const before = snapshot(path);
    const error = walErrorOf(() => Wal.open(path));
    expect(error.code).toBe("CORRUPTION");
    expect(error.message).toContain(`${name(0)} holds 3000`);
    expect(error.message).toContain(`${name(1)} holds 4096`);
    expect(error.message).toContain("an open given the segment size names the one");
    expect(snapshot(path)).toEqual(before);
  });

  test("a newest segment longer than every one before it: CORRUPTION", () => {
    const path = logPath(dir, "segments");
    writeLog(path, 10);
    truncateSync(join(path, name(2)), SIZE + 10); // grown past the size, with zeros
    const before = snapshot(path);
    const error = walErrorOf(() => Wal.open(path));
    expect(error.code).toBe("CORRUPTION");
    expect(error.message).toContain(`newest segment ${name(2)} holds 4106`);
    expect(snapshot(path)).toEqual(before);
  });

  test("empty segments before the newest: CORRUPTION, never a size of 0", () => {
    const path = logPath(dir, "segments");
    writeLog(path, 10);
    truncateSync(join(path, name(0)), 0);
    truncateSync(join(path, name(1)), 0);
    const error = walErrorOf(() => Wal.openReadOnly(path));
    expect(error.code).toBe("CORRUPTION");
    expect(error.message).toContain(`${name(0)} holds 0`);
  });
});

describe("segmentSizeEvidence(), which Wal.open, Wal.openReadOnly and the CLI share", () => {
  const segment = (index: number, length: number) => ({ index, length });

  test("reads the size from two or more segments, and names the evidence otherwise", () => {
    expect(segmentSizeEvidence("d", [])).toEqual({ source: "empty" });
    expect(segmentSizeEvidence("d", [segment(3, 10)])).toEqual({
      source: "single segment",
      segment: segment(3, 10),
    });
    expect(segmentSizeEvidence("d", [segment(0, 64), segment(1, 64), segment(2, 0)])).toEqual({
      source: "files",
      size: 64,
    });
  });

  test("segments that disagree throw a CorruptionError that segmentsDisagree() knows, for the CLI to look again", () => {
    let error: unknown;
    try {
      segmentSizeEvidence("d", [segment(0, 64), segment(1, 64), segment(2, 9), segment(3, 5)]);
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(CorruptionError);
    expect((error as CorruptionError).message).toContain(`${name(2)} holds 9`);
    expect(segmentsDisagree(error)).toBe(true);
    expect(segmentsDisagree(new CorruptionError(0, "checksum mismatch"))).toBe(false);
    expect(segmentsDisagree(undefined)).toBe(false);
  });
});

describe("a given segmentSize the files contradict", () => {
  test("SEGMENT_SIZE_MISMATCH naming both sizes and the size the files show", () => {
    const path = logPath(dir, "segments");
    writeLog(path, 10);
    const before = snapshot(path);
    const error = walErrorOf(() => Wal.open(path, { segmentSize: 2 * SIZE }));
    expect(error.code).toBe("SEGMENT_SIZE_MISMATCH");
    expect(error.message).toContain(`${name(0)} holds 4096 bytes`);
    expect(error.message).toContain("contradicts segmentSize 8192");
    expect(error.message).toContain("written with segmentSize 4096");
    expect(error.message).toContain("without segmentSize");
    expect(snapshot(path)).toEqual(before);
  });

  test("with no LOCK file, refused before the LOCK file is created", () => {
    const path = logPath(dir, "segments");
    writeLog(path, 10);
    unlinkSync(join(path, "LOCK"));
    const before = snapshot(path);
    expect(walErrorOf(() => Wal.open(path, { segmentSize: 2 * SIZE })).code).toBe(
      "SEGMENT_SIZE_MISMATCH",
    );
    expect(snapshot(path)).toEqual(before);
    expect(existsSync(join(path, "LOCK"))).toBe(false);
  });
});

describe("the minimum segmentSize, 4096", () => {
  test.each([1, 13, 4095])(
    "segmentSize: %p throws INVALID_ARGUMENT naming 4096; nothing created",
    (size) => {
      const path = logPath(dir, "segments");
      const error = walErrorOf(() => Wal.open(path, { segmentSize: size }));
      expect(error.code).toBe("INVALID_ARGUMENT");
      expect(error.message).toContain("at least 4096 bytes");
      expect(error.message).toContain(`got ${size}`);
      expect(existsSync(path)).toBe(false);
      expect(walErrorOf(() => Wal.openReadOnly(path, { segmentSize: size })).code).toBe(
        "INVALID_ARGUMENT",
      );
    },
  );

  test.each([0, -4096, 4096.5, Number.NaN, "4096", 2 ** 53])(
    "segmentSize: %p throws INVALID_ARGUMENT; nothing created",
    (size) => {
      const path = logPath(dir, "segments");
      const error = walErrorOf(() => Wal.open(path, { segmentSize: size as number }));
      expect(error.code).toBe("INVALID_ARGUMENT");
      expect(error.message).toContain("segmentSize must be");
      expect(existsSync(path)).toBe(false);
    },
  );

  test("segmentSize: 4096 is accepted, and one 13-byte record makes one segment", () => {
    const path = logPath(dir, "segments");
    using wal = Wal.open(path, { segmentSize: 4096 });
    wal.appendAndSync("five!");
    expect(segmentFiles(path)).toEqual([name(0)]);
  });

  test("SegmentedStore.open(dir, size) refuses sizes that are not positive integers", () => {
    for (const size of [0, -1, 1.5, Number.NaN]) {
      const path = logPath(dir, "segments");
      expect(walErrorOf(() => SegmentedStore.open(path, size)).code).toBe("INVALID_ARGUMENT");
      expect(existsSync(path)).toBe(false);
    }
  });
});

describe("the CLI reads the size as the library does", () => {
  const cli = (args: string[]) => runScript(MAIN, {}, args);

  test("inspect reports the size the files show; a log of segments that disagree exits 1 with CORRUPTION", async () => {
    const path = logPath(dir, "segments");
    writeLog(path, 10);
    const json = JSON.parse((await cli(["inspect", path, "--json"])).stdout);
    expect(json.segments).toMatchObject({ segmentSize: SIZE, segmentSizeFrom: "files" });
    truncateSync(join(path, name(0)), 3000);
    const run = await cli(["verify", path]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("the segmented log cannot be opened");
    expect(run.stdout).toContain(`${name(0)} holds 3000`);
  });

  test("--segment-size below 4096 is a usage error; a log with smaller segments reads without it", async () => {
    const path = logPath(dir, "segments");
    {
      using wal = Wal.withStore(SegmentedStore.open(path, 64));
      for (let i = 0; i < 10; i++) wal.append(`record ${i}`);
      wal.sync();
    }
    const small = await cli(["verify", path, "--segment-size", "64"]);
    expect(small.code).toBe(2);
    expect(small.stderr).toContain("4096 or more");
    const json = JSON.parse((await cli(["inspect", path, "--json"])).stdout);
    expect(json).toMatchObject({ records: 10 });
    expect(json.segments).toMatchObject({ segmentSize: 64, segmentSizeFrom: "files" });
  });

  test("inspect of a log with no segment yet reads it as empty", async () => {
    const path = logPath(dir, "segments");
    Wal.open(path, { segmentSize: SIZE }).close();
    const run = await cli(["inspect", path, "--json"]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ records: 0 });
  });
});
