/**
 * `truncateBefore` on a log that cannot drop a prefix (a single file, a memory store): it keeps
 * the prefix, as the Rust crate does, but checks its argument exactly as a segmented log does.
 * A non-integer or negative LSN, an LSN inside a record and one past `len` throw
 * `INVALID_ARGUMENT` with nothing changed; a record boundary (the head, a record's LSN, `len`)
 * returns the head, 0, and changes nothing either.
 */

import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { MemoryStore, Wal } from "../src/index.ts";
import { walErrorOf } from "./support/errors.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();

/** A log of three records, and a way to read the bytes its store holds. */
interface Subject {
  readonly wal: Wal;
  readonly lsns: number[];
  bytes(): Uint8Array;
}

const kinds: readonly [string, () => Subject][] = [
  [
    "a single file",
    () => {
      const path = logPath(dir);
      const wal = Wal.open(path);
      const lsns = wal.appendBatch(["first", "second", "third"]);
      wal.sync();
      return { wal, lsns, bytes: () => new Uint8Array(readFileSync(path)) };
    },
  ],
  [
    "a memory store",
    () => {
      const store = new MemoryStore();
      const wal = Wal.withStore(store);
      const lsns = wal.appendBatch(["first", "second", "third"]);
      return { wal, lsns, bytes: () => store.snapshot() };
    },
  ],
];

describe.each(kinds)("Wal.truncateBefore() on %s", (_, make) => {
  const refused: readonly [string, (subject: Subject) => unknown][] = [
    ["a negative LSN", () => -1],
    ["a fraction", () => 1.5],
    ["NaN", () => Number.NaN],
    ["undefined", () => undefined],
    ["an LSN inside a record", ({ lsns }) => lsns[1]! + 3],
    ["an LSN past len", ({ wal }) => wal.len + 1],
    ["an LSN far past len", ({ wal }) => wal.len + 1_000_000],
  ];

  test.each(refused)("refuses %s with INVALID_ARGUMENT and changes nothing", (_, pick) => {
    const subject = make();
    using wal = subject.wal;
    const before = subject.bytes();
    const len = wal.len;
    const error = walErrorOf(() => wal.truncateBefore(pick(subject) as number));
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toMatch(/truncateBefore|LSN|boundary/);
    expect(wal.len).toBe(len);
    expect(wal.head).toBe(0);
    expect(wal.stats().truncations).toBe(0);
    expect(subject.bytes()).toEqual(before);
    expect([...wal.iter()].map((r) => r.lsn)).toEqual(subject.lsns);
  });

  test("at a record boundary or len, returns the head (0) and keeps the prefix", () => {
    const subject = make();
    using wal = subject.wal;
    const before = subject.bytes();
    for (const lsn of [0, subject.lsns[1]!, subject.lsns[2]!, wal.len]) {
      expect(wal.truncateBefore(lsn)).toBe(0);
    }
    expect(wal.head).toBe(0);
    expect(wal.stats().truncations).toBe(0);
    expect(subject.bytes()).toEqual(before);
    expect([...wal.iter()].map((r) => r.lsn)).toEqual(subject.lsns);
  });
});
