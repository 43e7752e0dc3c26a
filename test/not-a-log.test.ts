/**
 * Open never destroys what it cannot prove is a torn tail of its own log (DESIGN rule 8): a file
 * this format could not have written, or a file of a segmented log opened as a single file, is
 * refused with NOT_A_LOG under every policy and left byte for byte as it was; while a real
 * torn first frame, cut at any byte, is still cut. And `create: false` opens existing logs only.
 *
 * What cannot be told apart, and so is still cut as a torn first write: a file shorter than a
 * header (8 bytes), and one whose first length field is within `maxRecordSize` (binary data,
 * by chance). Any text of 8 bytes or more is refused: its fourth byte alone makes the length
 * at least 512 MiB.
 */

import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type ReadOnlyWal, Wal, type WalOptions } from "../src/index.ts";
import { walErrorOf } from "./support/errors.ts";
import { snapshot } from "./support/segments.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();

/** Every way to open a log, each of which must refuse a file that is not one. */
const OPENS: [string, (path: string, options?: WalOptions) => ReadOnlyWal][] = [
  ["Wal.open()", (path, options) => Wal.open(path, options)],
  ['Wal.open({ onCorruption: "fail" })', (path) => Wal.open(path, { onCorruption: "fail" })],
  ['Wal.open({ recovery: "skip" })', (path) => Wal.open(path, { recovery: "skip" })],
  ["Wal.openReadOnly()", (path, options) => Wal.openReadOnly(path, options)],
];

const TEXTS: [string, string][] = [
  [
    "a package.json",
    `${JSON.stringify({ name: "app", version: "1.0.0", private: true }, null, 2)}\n`,
  ],
  ["a JSON array", "[1, 2, 3, 4, 5]"],
  [
    "a copy of /etc/passwd",
    "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n",
  ],
  ["a line of text", "hello, this is not a log\n"],
];

describe("Wal.open() of a file that is not a log", () => {
  for (const [name, text] of TEXTS) {
    test(`Wal.open() of ${name} is NOT_A_LOG under every policy, and the file is unchanged`, () => {
      const path = logPath(dir, "text");
      writeFileSync(path, text);
      for (const [call, open] of OPENS) {
        const error = walErrorOf(() => open(path).close());
        expect(error.code, call).toBe("NOT_A_LOG");
        expect(error.message).toContain(`${path} is not a wal-db log`);
        expect(readFileSync(path, "utf8")).toBe(text);
      }
    });
  }

  test("Wal.open() of a symlink to a text file is NOT_A_LOG, and the target is unchanged", () => {
    const target = logPath(dir, "target");
    writeFileSync(target, TEXTS[0]![1]);
    const link = logPath(dir, "link");
    symlinkSync(target, link);
    for (const [call, open] of OPENS) {
      expect(walErrorOf(() => open(link).close()).code, call).toBe("NOT_A_LOG");
    }
    expect(readFileSync(target, "utf8")).toBe(TEXTS[0]![1]);
  });

  test("Wal.open() says how to open a log written with a larger maxRecordSize", () => {
    // One 100-byte record, the length field then read with a 64-byte limit, the CRC broken:
    // no valid record, and a length above the limit.
    const path = logPath(dir, "large");
    {
      using wal = Wal.open(path, { preallocate: 0 });
      wal.append(new Uint8Array(100).fill(1));
    }
    const bytes = readFileSync(path);
    bytes[0] = bytes[0]! ^ 0xff;
    writeFileSync(path, bytes);
    const error = walErrorOf(() => Wal.open(path, { maxRecordSize: 64 }).close());
    expect(error.code).toBe("NOT_A_LOG");
    expect(error.message).toContain("open it with that size");
    expect(readFileSync(path)).toEqual(bytes);
  });
});

describe("Wal.open() of a fresh log whose first frame is torn", () => {
  test.each([
    ["no zero fill", 0],
    ["the default zero fill", undefined],
  ])(
    "Wal.open() of the first frame cut at every byte opens with 0 records (%s)",
    (_name, preallocate) => {
      const source = logPath(dir, "whole");
      {
        using wal = Wal.open(source, preallocate === undefined ? {} : { preallocate });
        wal.appendAndSync("the first record of a fresh log, torn by a crash");
      }
      const frame = readFileSync(source).subarray(0, 8 + 48);
      for (let cut = 1; cut < frame.length; cut++) {
        const path = logPath(dir, "torn");
        writeFileSync(path, frame.subarray(0, cut));
        using wal = Wal.open(path);
        expect(wal.recovery.records, `cut at ${cut}`).toBe(0);
        expect(wal.recovery.bytesDropped).toBe(cut);
        expect(wal.len).toBe(0);
        expect(wal.append("after")).toBe(0);
      }
    },
  );
});

describe("Wal.open() of a file of a segmented log as a single-file log", () => {
  /** A segmented log whose first record spans segments 0 and 1. */
  function segmented(): string {
    const path = join(dir, `segments-${Math.random().toString(36).slice(2)}`);
    using wal = Wal.open(path, { segmentSize: 4096 });
    wal.append(new Uint8Array(6000).fill(5));
    wal.truncateBefore(wal.append("second"));
    wal.append("third");
    return path;
  }

  for (const locked of [true, false]) {
    test(`Wal.open() of a segment, head or LOCK is NOT_A_LOG ${locked ? "while" : "unless"} the directory is locked, and nothing changes`, () => {
      const path = segmented();
      const holder = locked ? Wal.open(path, { segmentSize: 4096 }) : undefined;
      try {
        const before = snapshot(path);
        for (const name of ["00000000000000000001.wal", "head", "LOCK"]) {
          for (const [call, open] of OPENS) {
            const error = walErrorOf(() => open(join(path, name)).close());
            expect(error.code, `${call} of ${name}`).toBe("NOT_A_LOG");
            expect(error.message).toContain(`open that directory with Wal.open("${path}"`);
          }
        }
        expect(snapshot(path)).toEqual(before);
      } finally {
        holder?.close();
      }
      using wal = Wal.open(path, { segmentSize: 4096 });
      expect(wal.recovery.records).toBe(2);
    });
  }

  test("Wal.open() of a new file named like a segment is NOT_A_LOG: it would make the directory a segmented log", () => {
    const path = join(dir, "lonely");
    mkdirSync(path);
    const error = walErrorOf(() => Wal.open(join(path, "00000000000000000000.wal")).close());
    expect(error.code).toBe("NOT_A_LOG");
    expect(existsSync(join(path, "00000000000000000000.wal"))).toBe(false);
  });

  test("Wal.open() of a file named head or LOCK outside a segmented log is an ordinary log", () => {
    for (const name of ["head", "LOCK"]) {
      const path = join(dir, `plain-${name}`);
      mkdirSync(path);
      using wal = Wal.open(join(path, name));
      expect(wal.append(name)).toBe(0);
    }
  });
});

describe("Wal.open({ create: false })", () => {
  test("Wal.open({ create: false }) of a missing file is NOT_FOUND, and nothing is created", () => {
    const path = logPath(dir, "missing");
    const error = walErrorOf(() => Wal.open(path, { create: false }));
    expect(error.code).toBe("NOT_FOUND");
    expect(error.message).toContain("opened with create: false");
    expect(existsSync(path)).toBe(false);
  });

  test("Wal.open({ create: false }) of an existing log opens it", () => {
    const path = logPath(dir, "existing");
    Wal.open(path).close();
    using wal = Wal.open(path, { create: false });
    expect(wal.append("kept")).toBe(0);
  });

  test("Wal.open({ create: false, segmentSize }) of a missing or empty directory is NOT_FOUND; one holding only LOCK is a log", () => {
    const missing = join(dir, "no-such-segments");
    expect(walErrorOf(() => Wal.open(missing, { create: false, segmentSize: 4096 })).code).toBe(
      "NOT_FOUND",
    );
    expect(existsSync(missing)).toBe(false);
    const empty = join(dir, "empty-segments");
    mkdirSync(empty);
    expect(walErrorOf(() => Wal.open(empty, { create: false, segmentSize: 4096 })).code).toBe(
      "NOT_FOUND",
    );
    expect(existsSync(join(empty, "LOCK"))).toBe(false);
    const created = join(dir, "created-segments");
    Wal.open(created, { segmentSize: 4096 }).close();
    using wal = Wal.open(created, { create: false, segmentSize: 4096 });
    expect(wal.len).toBe(0);
  });

  test("Wal.open() with create that is not a boolean is INVALID_ARGUMENT", () => {
    const path = logPath(dir, "bad-create");
    expect(walErrorOf(() => Wal.open(path, { create: "no" as unknown as boolean })).code).toBe(
      "INVALID_ARGUMENT",
    );
    expect(existsSync(path)).toBe(false);
  });
});
