/**
 * `RecordEnds` (src/archive/record-ends.ts), which says where `archivedLsn` may stand: at the
 * last record end in the bytes uploaded, never inside a record that a sealed segment's end cuts.
 * Logs of random records fed in random pieces, repeats included, against the ends the frames
 * were written with. Seeded: WAL_SEED replays a run; WAL_PROPERTY_RUNS sets how many.
 */

import { expect, test } from "bun:test";
import fc from "fast-check";
import { RecordEnds } from "../src/archive/record-ends.ts";
import { HEADER_SIZE, sealFrame } from "../src/record.ts";
import { seedFromEnv } from "./support/random.ts";

const SEED = seedFromEnv(0x4ec0);

/** A log of records of `sizes` from `base`: its bytes, and each record's start and end. */
function logOf(sizes: readonly number[], base: number) {
  const bytes = new Uint8Array(sizes.reduce((sum, size) => sum + HEADER_SIZE + size, 0));
  const ends: number[] = [];
  let at = 0;
  for (const size of sizes) {
    bytes.fill(size & 0xff, at + HEADER_SIZE, at + HEADER_SIZE + size);
    sealFrame(bytes, size, at);
    at += HEADER_SIZE + size;
    ends.push(base + at);
  }
  return { bytes, ends };
}

/** The last record end at or below `lsn`, or `base` when none is. */
const lastEndBelow = (ends: readonly number[], base: number, lsn: number) =>
  ends.filter((end) => end <= lsn).at(-1) ?? base;

test(`fed in any pieces, with repeats, the end is the last whole record's (WAL_SEED=${SEED})`, () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 40 }),
      fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 60 }),
      fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 60 }),
      fc.integer({ min: 0, max: 1 << 20 }),
      (sizes, pieces, backs, base) => {
        const { bytes, ends } = logOf(sizes, base);
        const records = new RecordEnds(base);
        let fed = 0;
        for (let i = 0; fed < bytes.length; i++) {
          // Each piece may start before where the last one stopped: bytes fed again.
          const from = Math.max(0, fed - (backs[i % backs.length] ?? 0));
          const to = Math.min(bytes.length, fed + (pieces[i % pieces.length] ?? 1));
          const end = records.feed(bytes.subarray(from, to), base + from);
          fed = to;
          expect(end).toBe(lastEndBelow(ends, base, base + fed));
        }
        expect(records.end).toBe(ends.at(-1)!);
      },
    ),
    { seed: SEED, numRuns: Number(process.env.WAL_PROPERTY_RUNS ?? 300) },
  );
});

test("a header cut by a segment's end is read across the two pieces", () => {
  const { bytes, ends } = logOf([10, 20, 30], 0);
  const records = new RecordEnds(0);
  // The second header is cut 3 bytes in: its record's end is not known from the first piece.
  const cut = ends[0]! + 3;
  expect(records.feed(bytes.subarray(0, cut), 0)).toBe(ends[0]!);
  expect(records.feed(bytes.subarray(cut), cut)).toBe(ends[2]!);
});

test("bytes that start past what was fed are refused, not skipped over", () => {
  const { bytes } = logOf([10, 10], 0);
  const records = new RecordEnds(0);
  records.feed(bytes.subarray(0, 5), 0);
  expect(() => records.feed(bytes.subarray(6), 6)).toThrow(RangeError);
});
