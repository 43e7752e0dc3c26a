/**
 * A property test of both truncations against a model that also knows the bytes: every record
 * ever appended (dropped ones too, with their frames) and the head. Random appends,
 * `truncateAfter` and `truncateBefore` points (boundaries, the end, LSNs below the head, and
 * points that are no boundary), syncs and reopens under every recovery policy, over a single
 * file and segmented logs of several segment sizes. After each truncation, each reopen and at
 * the end, the log must equal the model: `head`, `len`, every record from the head on, the
 * recovery report, and for a segmented log the exact files (which segments exist, their bytes,
 * the `head` file). A call the API refuses must throw `INVALID_ARGUMENT` and change nothing.
 *
 * Seeded: WAL_SEED replays a run (the seed is printed); WAL_PROPERTY_RUNS sets how many
 * (default 100, about a second).
 */

import { expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { crc32c } from "../src/crc32c.ts";
import { Wal, type WalOptions } from "../src/index.ts";
import { walErrorOf } from "./support/errors.ts";
import { seedFromEnv } from "./support/random.ts";
import { segmentFiles } from "./support/segments.ts";
import { tempDir } from "./support/temp.ts";

const dir = tempDir();
const SEED = seedFromEnv(0x7a11);
const RUNS = Number(process.env.WAL_PROPERTY_RUNS ?? 100);

/** Which call a refused-call step makes; each must throw INVALID_ARGUMENT where it applies. */
const REFUSED = [
  "truncateAfter(len)",
  "truncateAfter(inside a record)",
  "truncateAfter(below the head)",
  "truncateBefore(inside a record)",
  "truncateBefore(past len)",
  "iterFrom(below the head)",
] as const;

type Policy = "stop" | "skip" | "fail";

type Step =
  | { readonly kind: "append"; readonly payload: Uint8Array }
  | { readonly kind: "truncateAfter"; readonly pick: number }
  | { readonly kind: "truncateBefore"; readonly pick: number }
  | { readonly kind: "truncateBeforeDropped"; readonly pick: number }
  | { readonly kind: "refused"; readonly call: (typeof REFUSED)[number]; readonly pick: number }
  | { readonly kind: "sync" }
  | { readonly kind: "reopen"; readonly policy: Policy };

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 8,
    // Mostly small payloads (several per 4 KiB segment), some up to 10,000 bytes (spanning
    // several segments).
    arbitrary: fc
      .oneof(
        { weight: 3, arbitrary: fc.uint8Array({ maxLength: 1000 }) },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 10_000, size: "max" }) },
      )
      .map((payload) => ({ kind: "append" as const, payload })),
  },
  { weight: 2, arbitrary: fc.nat().map((pick) => ({ kind: "truncateAfter" as const, pick })) },
  { weight: 2, arbitrary: fc.nat().map((pick) => ({ kind: "truncateBefore" as const, pick })) },
  {
    weight: 1,
    arbitrary: fc.nat().map((pick) => ({ kind: "truncateBeforeDropped" as const, pick })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ call: fc.constantFrom(...REFUSED), pick: fc.nat() })
      .map(({ call, pick }) => ({ kind: "refused" as const, call, pick })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "sync" as const }) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom<Policy>("stop", "skip", "fail")
      .map((policy) => ({ kind: "reopen" as const, policy })),
  },
);

/** A record the model knows: where it starts, its payload, and its frame as it is on disk. */
interface ModelRecord {
  readonly lsn: number;
  readonly data: Uint8Array;
  readonly frame: Uint8Array;
}

/**
 * The log as it should be. `records` holds every record below `end` in LSN order, those below
 * `head` too (dropped, but their bytes stay in the head's segment and their LSNs stay invalid).
 */
class Model {
  records: ModelRecord[] = [];
  head = 0;
  end = 0;

  /** The records still in the log: from the head on. */
  get live(): ModelRecord[] {
    return this.records.filter((r) => r.lsn >= this.head);
  }

  get dropped(): ModelRecord[] {
    return this.records.filter((r) => r.lsn < this.head);
  }

  append(data: Uint8Array): number {
    const frame = new Uint8Array(8 + data.length);
    const view = new DataView(frame.buffer);
    view.setUint32(4, data.length, true);
    frame.set(data, 8);
    view.setUint32(0, crc32c(frame, 4), true);
    const lsn = this.end;
    this.records.push({ lsn, data, frame });
    this.end += frame.length;
    return lsn;
  }

  /** Keeps the record at `lsn` and everything before it. */
  truncateAfter(lsn: number): void {
    const keep = this.records.findIndex((r) => r.lsn === lsn);
    this.records.length = keep + 1;
    this.end = lsn + this.records[keep]!.frame.length;
  }

  /** The log's bytes `[from, end)`, as the files must hold them. */
  bytes(from: number): Uint8Array {
    const all = new Uint8Array(this.end);
    for (const record of this.records) all.set(record.frame, record.lsn);
    return all.subarray(from);
  }
}

const policyOptions = (policy: Policy): WalOptions =>
  policy === "skip"
    ? { recovery: "skip", onCorrupt: () => expect.unreachable("no damage to report") }
    : policy === "fail"
      ? { onCorruption: "fail" }
      : {};

/**
 * What the files of the log must hold, compared byte for byte; the log is closed. A single file
 * holds the model's bytes, then zeros only (its zero-filled tail: a stale record there would
 * come back to life if a later append ended where it starts). Returns the bytes the files hold.
 */
function expectFiles(path: string, segmentSize: number | undefined, model: Model): number {
  if (segmentSize === undefined) {
    const file = readFileSync(path);
    expect(file.subarray(0, model.end).equals(model.bytes(0))).toBe(true);
    expect(file.subarray(model.end).every((byte) => byte === 0)).toBe(true);
    return file.length;
  }
  // Segments from the head's to the one holding the last byte, each S bytes but the last;
  // every segment wholly below the head's was deleted, but the one holding the last byte
  // stays even when the head is at its end (the Rust crate reads the end from it).
  const last = Math.ceil(model.end / segmentSize) - 1;
  const first = Math.max(0, Math.min(Math.floor(model.head / segmentSize), last));
  const expected = Array.from(
    { length: Math.max(0, last - first + 1) },
    (_, k) => `${String(first + k).padStart(20, "0")}.wal`,
  );
  const names = segmentFiles(path);
  expect(names).toEqual(expected);
  const files = names.map((name) => readFileSync(join(path, name)));
  for (const file of files.slice(0, -1)) expect(file.length).toBe(segmentSize);
  const bytes = Buffer.concat(files);
  expect(bytes.equals(model.bytes(Math.min(first * segmentSize, model.end)))).toBe(true);
  // The head file, when there is one, names the model's head (u64 LE, then its CRC-32C).
  const headPath = join(path, "head");
  if (model.head > 0) expect(existsSync(headPath)).toBe(true);
  if (existsSync(headPath)) {
    const head = readFileSync(headPath);
    expect(head.length).toBe(12);
    expect(Number(head.readBigUInt64LE(0))).toBe(model.head);
    expect(head.readUInt32LE(8)).toBe(crc32c(head, 0, 8));
  }
  return bytes.length + first * segmentSize;
}

/** The log as the API shows it equals the model: head, len, every record from the head on. */
function expectLog(wal: Wal, model: Model): void {
  expect(wal.head).toBe(model.head);
  expect(wal.len).toBe(model.end);
  const live = model.live;
  const records = [...wal.iter()];
  expect(records.map((r) => r.lsn)).toEqual(live.map((r) => r.lsn));
  const mismatch = records.findIndex((r, i) => !Buffer.from(r.data).equals(live[i]!.data));
  expect(mismatch, "first record whose bytes differ").toBe(-1);
  // A seek into the middle finds the same suffix: the boundary index survived every cut.
  const middle = live[live.length >> 1];
  if (middle !== undefined) {
    expect([...wal.iterFrom(middle.lsn)].map((r) => r.lsn)).toEqual(
      live.filter((r) => r.lsn >= middle.lsn).map((r) => r.lsn),
    );
  }
}

/**
 * What a reopen of a clean log must report: nothing dropped, nothing damaged, the store's
 * `storeSize` bytes (a zero-filled tail included) kept.
 */
function expectCleanRecovery(wal: Wal, model: Model, storeSize: number): void {
  expect(wal.recovery).toEqual({
    head: model.head,
    records: model.live.length,
    storeSize,
    end: model.end,
    bytesDropped: 0,
    reason: null,
    recordsDropped: 0,
    damagedRegions: 0,
    barrier: "full",
  });
}

/** Runs a call the API must refuse: INVALID_ARGUMENT, and the log unchanged. */
function expectRefused(wal: Wal, model: Model, call: () => unknown): void {
  expect(walErrorOf(call).code).toBe("INVALID_ARGUMENT");
  expect(wal.head).toBe(model.head);
  expect(wal.len).toBe(model.end);
}

/** An offset strictly inside record `record`'s frame: never a record boundary. */
const inside = (record: ModelRecord, pick: number) =>
  record.lsn + 1 + (pick % (record.frame.length - 1));

let runs = 0;

/** Runs `steps` on a fresh log in its own directory, checking it against the model. */
function run(segmentSize: number | undefined, steps: Step[]): void {
  const runDir = join(dir, `run-${++runs}`);
  mkdirSync(runDir);
  const path = join(runDir, segmentSize === undefined ? "log.wal" : "segments");
  const open = (policy: Policy) =>
    Wal.open(path, {
      ...policyOptions(policy),
      // A zero fill this small is crossed every few appends, so fills meet every truncation.
      ...(segmentSize === undefined ? { preallocate: 64 } : { segmentSize }),
    });
  const model = new Model();
  let wal = open("stop");
  try {
    for (const step of steps) {
      switch (step.kind) {
        case "append":
          expect(wal.append(step.payload)).toBe(model.append(step.payload));
          break;
        case "truncateAfter": {
          const live = model.live;
          if (live.length === 0) continue;
          const lsn = live[step.pick % live.length]!.lsn;
          expect(wal.truncateAfter(lsn)).toBeUndefined();
          model.truncateAfter(lsn);
          expectLog(wal, model);
          break;
        }
        case "truncateBefore": {
          // A record boundary from the head on, or the end itself.
          const boundaries = [...model.live.map((r) => r.lsn), model.end];
          const lsn = boundaries[step.pick % boundaries.length]!;
          if (segmentSize === undefined) {
            expect(wal.truncateBefore(lsn)).toBe(0); // a single file keeps its prefix
          } else {
            expect(wal.truncateBefore(lsn)).toBe(lsn);
            model.head = lsn;
          }
          expectLog(wal, model);
          break;
        }
        case "truncateBeforeDropped": {
          // The head never moves back.
          const dropped = model.dropped;
          if (dropped.length === 0) continue;
          const lsn = dropped[step.pick % dropped.length]!.lsn;
          expect(wal.truncateBefore(lsn)).toBe(model.head);
          expect(wal.head).toBe(model.head);
          break;
        }
        case "refused":
          refuse(wal, model, step.call, step.pick);
          break;
        case "sync":
          wal.sync();
          break;
        case "reopen": {
          wal.close();
          const storeSize = expectFiles(path, segmentSize, model);
          wal = open(step.policy);
          expectCleanRecovery(wal, model, storeSize);
          expectLog(wal, model);
          break;
        }
      }
      expect(wal.head).toBe(model.head);
      expect(wal.len).toBe(model.end);
    }
    wal.close();
    const storeSize = expectFiles(path, segmentSize, model);
    wal = open("stop");
    expectCleanRecovery(wal, model, storeSize);
    expectLog(wal, model);
    // The log goes on where the model says.
    expect(wal.append("one more")).toBe(model.append(new TextEncoder().encode("one more")));
    expectLog(wal, model);
  } finally {
    wal.close();
  }
}

/** Makes the refused call `call` when it applies to the log as it is now. */
function refuse(wal: Wal, model: Model, call: (typeof REFUSED)[number], pick: number): void {
  const live = model.live;
  const dropped = model.dropped;
  const someLive = live[pick % Math.max(1, live.length)];
  const someDropped = dropped[pick % Math.max(1, dropped.length)];
  switch (call) {
    case "truncateAfter(len)":
      expectRefused(wal, model, () => wal.truncateAfter(model.end));
      break;
    case "truncateAfter(inside a record)":
      if (someLive !== undefined) {
        expectRefused(wal, model, () => wal.truncateAfter(inside(someLive, pick)));
      }
      break;
    case "truncateAfter(below the head)":
      if (someDropped !== undefined) {
        expectRefused(wal, model, () => wal.truncateAfter(someDropped.lsn));
      }
      break;
    case "truncateBefore(inside a record)":
      // Refused on a single file too, though it keeps its prefix: the same checks everywhere.
      if (someLive !== undefined) {
        expectRefused(wal, model, () => wal.truncateBefore(inside(someLive, pick)));
      }
      break;
    case "truncateBefore(past len)":
      expectRefused(wal, model, () => wal.truncateBefore(model.end + 1 + (pick % 100)));
      break;
    case "iterFrom(below the head)":
      if (someDropped !== undefined) {
        expectRefused(wal, model, () => [...wal.iterFrom(someDropped.lsn)]);
      }
      break;
  }
}

test(`Wal.truncateBefore() and Wal.truncateAfter() keep the log, its files and its recovery equal to a model (WAL_SEED=${SEED}, ${RUNS} runs)`, () => {
  console.log(`truncate-property: WAL_SEED=${SEED} WAL_PROPERTY_RUNS=${RUNS}`);
  fc.assert(
    fc.property(
      // The smallest size a log may have, odd ones that are no power of two, and a larger one.
      fc.constantFrom(undefined, 4096, 4099, 5000, 8192),
      fc.array(stepArbitrary, { maxLength: 60, size: "max" }),
      run,
    ),
    { seed: SEED, numRuns: RUNS },
  );
}, 120_000);
