/**
 * A property test of both truncations: random records, random segment sizes, random
 * `truncateBefore` / `truncateAfter` points and reopens, checked after every step against a
 * model simple enough to be obviously right: a list of (LSN, payload) and a head.
 *
 * Seeded by fast-check: WAL_SEED replays a run; WAL_PROPERTY_RUNS sets how many (default 100,
 * about a second).
 */

import { expect, test } from "bun:test";
import { join } from "node:path";
import fc from "fast-check";
import { Wal } from "../src/index.ts";
import { seedFromEnv } from "./support/random.ts";
import { tempDir } from "./support/temp.ts";

const dir = tempDir();
const SEED = seedFromEnv(0x7e57);
const RUNS = Number(process.env.WAL_PROPERTY_RUNS ?? 100);

type Step =
  | { readonly kind: "append"; readonly payload: Uint8Array }
  | { readonly kind: "truncateAfter"; readonly pick: number }
  | { readonly kind: "truncateBefore"; readonly pick: number }
  | { readonly kind: "sync" }
  | { readonly kind: "reopen" };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .uint8Array({ maxLength: 200 })
      .map((payload) => ({ kind: "append" as const, payload })),
  },
  { weight: 1, arbitrary: fc.nat().map((pick) => ({ kind: "truncateAfter" as const, pick })) },
  { weight: 1, arbitrary: fc.nat().map((pick) => ({ kind: "truncateBefore" as const, pick })) },
  { weight: 1, arbitrary: fc.constant({ kind: "sync" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "reopen" as const }) },
);

/** The model: the records the log holds from its head on, and the head. */
interface Model {
  records: { lsn: number; data: Uint8Array }[];
  head: number;
  end: number;
}

function expectMatches(wal: Wal, model: Model, context: string): void {
  expect(wal.head, context).toBe(model.head);
  expect(wal.len, context).toBe(model.end);
  const records = [...wal.iter()];
  expect(
    records.map((r) => r.lsn),
    context,
  ).toEqual(model.records.map((r) => r.lsn));
  records.forEach((record, i) => {
    expect(Buffer.from(record.data).equals(model.records[i]!.data), context).toBe(true);
  });
  // A seek into the middle finds the same suffix.
  const middle = model.records[model.records.length >> 1];
  if (middle !== undefined) {
    const suffix = [...wal.iterFrom(middle.lsn)].map((r) => r.lsn);
    expect(suffix, context).toEqual(
      model.records.filter((r) => r.lsn >= middle.lsn).map((r) => r.lsn),
    );
  }
}

let runs = 0;

test(`truncateBefore and truncateAfter keep the log equal to a model across reopens (WAL_SEED=${SEED}, ${RUNS} runs)`, () => {
  fc.assert(
    fc.property(
      fc.constantFrom(undefined, 8, 16, 33, 64, 100, 4096),
      fc.array(step, { maxLength: 60, size: "medium" }),
      (segmentSize, steps) => {
        const path = join(dir, `log-${++runs}`);
        const open = () => Wal.open(path, segmentSize === undefined ? {} : { segmentSize });
        const model: Model = { records: [], head: 0, end: 0 };
        let wal = open();
        try {
          steps.forEach((s, index) => {
            const context = `segmentSize ${segmentSize}, step ${index} (${s.kind})`;
            switch (s.kind) {
              case "append": {
                const lsn = wal.append(s.payload);
                expect(lsn, context).toBe(model.end);
                model.records.push({ lsn, data: s.payload });
                model.end += 8 + s.payload.length;
                break;
              }
              case "truncateAfter": {
                if (model.records.length === 0) return;
                const keep = s.pick % model.records.length;
                wal.truncateAfter(model.records[keep]!.lsn);
                model.records.length = keep + 1;
                const last = model.records[keep]!;
                model.end = last.lsn + 8 + last.data.length;
                break;
              }
              case "truncateBefore": {
                // Any record boundary, or the end.
                const boundaries = [...model.records.map((r) => r.lsn), model.end];
                const lsn = boundaries[s.pick % boundaries.length]!;
                const head = wal.truncateBefore(lsn);
                if (segmentSize === undefined) {
                  expect(head, context).toBe(0); // a single file keeps its prefix
                } else {
                  expect(head, context).toBe(lsn);
                  model.head = lsn;
                  model.records = model.records.filter((r) => r.lsn >= lsn);
                }
                break;
              }
              case "sync":
                wal.sync();
                break;
              case "reopen":
                wal.close();
                wal = open();
                expect(wal.recovery.bytesDropped, context).toBe(0);
                break;
            }
            expectMatches(wal, model, context);
          });
          wal.close();
          wal = open();
          expectMatches(wal, model, `segmentSize ${segmentSize}, after the last reopen`);
          // The log goes on where the model says.
          expect(wal.append("one more")).toBe(model.end);
        } finally {
          wal.close();
        }
      },
    ),
    { seed: SEED, numRuns: RUNS },
  );
}, 120_000);
