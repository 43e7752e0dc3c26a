/**
 * The archive's object layout (src/archive/layout.ts): keys round-trip, foreign or hostile keys
 * are not the archive's, and a listing plans a restore to any point, or names the object that
 * is missing or has the wrong length, never a silently shorter log.
 */

import { describe, expect, test } from "bun:test";
import {
  archiveKeys,
  type ListedObject,
  parseArchiveKey,
  planRestore,
} from "../src/archive/layout.ts";
import { walErrorOf as failure } from "./support/errors.ts";

const S = 4096;
const segment = (index: number): ListedObject => ({
  key: archiveKeys.segment(index, 0xabc),
  size: S,
});
/** A partial from `start` (default: its segment's start) to `end`. */
const partial = (end: number, start = (Math.ceil(end / S) - 1) * S): ListedObject => ({
  key: archiveKeys.partial(start, end, 0x1234),
  size: end - start,
});
const head = (lsn: number): ListedObject => ({ key: archiveKeys.head(lsn), size: 0 });

describe("keys", () => {
  test("every kind round-trips, and the store lists them in LSN order", () => {
    expect(parseArchiveKey(archiveKeys.segment(7, 0xdeadbeef))).toEqual({
      kind: "segment",
      index: 7,
      crc: 0xdeadbeef,
    });
    expect(parseArchiveKey(archiveKeys.partial(4096, 4097, 1))).toEqual({
      kind: "partial",
      start: 4096,
      end: 4097,
      crc: 1,
    });
    expect(parseArchiveKey(archiveKeys.head(12))).toEqual({ kind: "head", head: 12 });
    expect(parseArchiveKey("log.json")).toEqual({ kind: "meta" });
    const keys = [10, 2, 300].map((index) => archiveKeys.segment(index, 0));
    expect([...keys].sort()).toEqual([2, 10, 300].map((index) => archiveKeys.segment(index, 0)));
  });

  test("keys that are not the archive's name nothing", () => {
    for (const key of [
      "segments/7.wal",
      "segments/00000000000000000007-DEADBEEF.wal",
      "segments/00000000000000000007-deadbeef.wal.tmp",
      "partial/00000000000000000000-00000000.wal",
      "partial/00000000000000000005-00000000000000000005-00000000.wal",
      "partial/00000000000000000005-00000000000000000009-00000000.wal",
      "head/99999999999999999999",
      "../log.json",
      "x".repeat(100_000),
    ]) {
      expect(parseArchiveKey(key)).toBeNull();
    }
  });
});

describe("planRestore", () => {
  test("sealed segments from the head's on, then the chain of partials after them", () => {
    const listing = [
      segment(0),
      segment(1),
      partial(2 * S + 100),
      partial(2 * S + 900, 2 * S + 100),
      partial(2 * S + 950, 2 * S + 900),
      head(0),
    ];
    const plan = planRestore(listing, S);
    expect(plan.head).toBe(0);
    expect(plan.pieces.map((piece) => [piece.start, piece.size])).toEqual([
      [0, S],
      [S, S],
      [2 * S, 100],
      [2 * S + 100, 800],
      [2 * S + 900, 50],
    ]);
    expect(plan.end).toBe(2 * S + 950);
  });

  test("of two partials from one LSN (a retried upload), the longer one counts", () => {
    const plan = planRestore([partial(100), partial(300), partial(400, 300)], S);
    expect(plan.pieces.map((piece) => [piece.start, piece.size])).toEqual([
      [0, 300],
      [300, 100],
    ]);
  });

  test("a partial that crosses a segment's end is CORRUPTION naming it", () => {
    const crossing = partial(S + 10, S - 10);
    expect(failure(() => planRestore([crossing], S)).message).toContain(crossing.key);
  });

  test("a partial superseded by its sealed segment is ignored", () => {
    const plan = planRestore([segment(0), partial(500), partial(S)], S);
    expect(plan.pieces.map((piece) => piece.key)).toEqual([segment(0).key]);
    expect(plan.end).toBe(S);
  });

  test("it starts at the newest head, and for a point in time at the newest head at or below it", () => {
    const listing = [segment(0), segment(1), segment(2), segment(3), head(100), head(2 * S + 8)];
    expect(planRestore(listing, S).head).toBe(2 * S + 8);
    expect(planRestore(listing, S).pieces[0]!.start).toBe(2 * S);
    const earlier = planRestore(listing, S, S + 40);
    expect(earlier.head).toBe(100);
    // Only the objects up to the one holding the point are needed.
    expect(earlier.pieces.map((piece) => piece.start)).toEqual([0, S]);
  });

  test("a gap is CORRUPTION naming the missing segment, never a shorter log", () => {
    const error = failure(() => planRestore([segment(0), segment(2), partial(3 * S + 5)], S));
    expect(error.code).toBe("CORRUPTION");
    expect(error.message).toContain("segments/00000000000000000001-*.wal is missing");
  });

  test("a partial with a gap before it is CORRUPTION too", () => {
    const error = failure(() => planRestore([segment(0), partial(2 * S + 5)], S));
    expect(error.message).toContain("segments/00000000000000000001-*.wal is missing");
  });

  test("a break in the chain of partials is CORRUPTION naming where it breaks", () => {
    const error = failure(() => planRestore([partial(100), partial(400, 300)], S));
    expect(error.code).toBe("CORRUPTION");
    expect(error.message).toContain("partial/*-00000000000000000100-*.wal is missing");
  });

  test("an object of the wrong length is CORRUPTION naming it", () => {
    const short = { key: archiveKeys.segment(0, 5), size: S - 1 };
    expect(failure(() => planRestore([short], S)).message).toContain(short.key);
    const partialShort = { key: archiveKeys.partial(S, S + 10, 5), size: 9 };
    expect(failure(() => planRestore([segment(0), partialShort], S)).message).toContain(
      partialShort.key,
    );
  });

  test("an empty archive restores an empty log; foreign objects are ignored", () => {
    expect(planRestore([{ key: "README", size: 3 }], S)).toEqual({ head: 0, pieces: [], end: 0 });
  });
});
