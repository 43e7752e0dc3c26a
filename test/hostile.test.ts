/**
 * Hostile bytes: files that were never a log, or a log damaged on disk. Opening one must never
 * throw anything but a WalError, must keep exactly the valid prefix, and must never let a length
 * field drive an allocation. A log damaged after it was opened reports the damage with its
 * offset when read. A seeded mutation loop ends the file: WAL_SEED replays a seed, and
 * WAL_HOSTILE_RUNS sizes the run (default 300).
 */

import { describe, expect, test } from "bun:test";
import { closeSync, openSync, writeSync } from "node:fs";
import { CorruptionError, MemoryStore, Wal, WalError, type WalOptions } from "../src/index.ts";
import { SCAN_CHUNK_SIZE } from "../src/scan.ts";
import { walErrorOf } from "./support/errors.ts";
import { drain } from "./support/iterate.ts";
import { mulberry32, randomBytes, seedFromEnv } from "./support/random.ts";
import { allStoreKinds, type LogUnderTest } from "./support/stores.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();
const SEED = seedFromEnv(0x5eed);
const RUNS = Number(process.env.WAL_HOSTILE_RUNS ?? 300);

/** Opens with `open`; any error it throws must be a WalError, and is rethrown. */
function openChecked(open: () => Wal): Wal {
  try {
    return open();
  } catch (error) {
    expect(error).toBeInstanceOf(WalError);
    throw error;
  }
}

/** The frames of `payloads` appended from LSN 0, built by a Wal over a MemoryStore. */
function imageOf(payloads: (Uint8Array | string)[]): { image: Uint8Array; lsns: number[] } {
  const store = new MemoryStore();
  const wal = Wal.withStore(store);
  const lsns = payloads.map((p) => wal.append(p));
  wal.close();
  return { image: store.snapshot(), lsns };
}

const PAYLOADS = [
  "first",
  new Uint8Array(0),
  "the middle record, which the tests damage",
  new Uint8Array(300).fill(7),
  "last",
];
const MIDDLE = 2;

/** Writes `bytes` as the log's raw content and opens it, checking any error is a WalError. */
function openBytes(log: LogUnderTest, bytes: Uint8Array, options?: WalOptions): Wal {
  log.setBytes(bytes);
  return openChecked(() => log.open(options));
}

describe.each(allStoreKinds(dir))("$name store: Wal.open() of hostile bytes", (kind) => {
  const { image, lsns } = imageOf(PAYLOADS);
  const middle = lsns[MIDDLE]!;

  // A single file (or memory store) with no valid record and a first length no torn write
  // could leave is not a log: refused, unchanged. A segment directory is the log's own, so
  // damage there is damage, and its torn tail is cut as before.
  const refusesNonLogs = kind.name !== "segmented";

  test(
    refusesNonLogs
      ? "Wal.open() of random garbage whose first length exceeds maxRecordSize is NOT_A_LOG, unchanged"
      : "Wal.open() of a segment of random garbage whose first length exceeds maxRecordSize cuts it as damage",
    () => {
      const garbage = randomBytes(mulberry32(SEED), 4096);
      garbage[7] = 0x80 | garbage[7]!; // a length of at least 2 GiB
      const log = kind.create();
      if (!refusesNonLogs) {
        using wal = openBytes(log, garbage);
        expect(wal.len).toBe(0);
        expect(wal.recovery.bytesDropped).toBe(4096);
        return;
      }
      const error = walErrorOf(() => openBytes(log, garbage).close());
      expect(error.code, `seed ${SEED}`).toBe("NOT_A_LOG");
      expect(error.message).toContain("no torn write of a wal-db log can leave");
      expect(log.bytes()).toEqual(garbage);
      for (const options of [{ onCorruption: "fail" as const }, { recovery: "skip" as const }]) {
        expect(walErrorOf(() => openBytes(log, garbage, options).close()).code).toBe("NOT_A_LOG");
        expect(log.bytes()).toEqual(garbage);
      }
    },
  );

  test("Wal.open() of random garbage that could be a torn first write opens empty and drops every byte", () => {
    const next = mulberry32(SEED);
    const garbage = randomBytes(next, 4096);
    garbage[7] = 0; // a length within maxRecordSize: a torn write of this format could leave it
    const log = kind.create();
    {
      using wal = openBytes(log, garbage);
      expect(wal.len, `seed ${SEED}`).toBe(0);
      expect(wal.recovery.records).toBe(0);
      expect(wal.recovery.storeSize).toBe(4096);
      expect(wal.recovery.bytesDropped).toBe(4096);
      expect(wal.recovery.reason).toEqual(expect.any(String));
      expect([...wal.iter()]).toEqual([]);
      expect(wal.append("fresh start")).toBe(0);
    }
    using wal = log.open();
    expect([...wal.iter()].map((r) => r.lsn)).toEqual([0]);
  });

  test.each([
    ["the default maxRecordSize", undefined],
    ["maxRecordSize 0xFFFFFFFF", { maxRecordSize: 0xffff_ffff }],
  ])(
    "Wal.open() of a header claiming 4 GiB rejects it without allocating, with %s",
    (_name, options) => {
      const header = Uint8Array.of(0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5);
      const bytes = new Uint8Array(image.length + header.length);
      bytes.set(image);
      bytes.set(header, image.length);
      const log = kind.create();
      const rssBefore = process.memoryUsage().rss;
      using wal = openBytes(log, bytes, options);
      const rssGrowth = process.memoryUsage().rss - rssBefore;
      // Rejected by "length larger than the bytes left", which runs before the size limit: with
      // maxRecordSize 0xFFFFFFFF the limit alone would let this length through.
      expect(wal.recovery.reason).toMatch(
        /incomplete payload: length 4294967295 but 5 bytes follow/,
      );
      expect(wal.recovery.bytesDropped).toBe(header.length);
      expect(wal.len).toBe(image.length);
      expect([...wal.iter()].map((r) => r.lsn)).toEqual(lsns);
      expect(rssGrowth).toBeLessThan(256 * 1024 * 1024);
    },
  );

  test("Wal.open() of a header whose length exceeds maxRecordSize cuts it before reading the payload", () => {
    // 2000 bytes do follow, so only the size limit can reject this length.
    const bytes = new Uint8Array(image.length + 8 + 2000);
    bytes.set(image);
    new DataView(bytes.buffer).setUint32(image.length + 4, 2000, true);
    bytes.fill(0x33, image.length + 8);
    const log = kind.create();
    using wal = openBytes(log, bytes, { maxRecordSize: 1000 });
    expect(wal.recovery.reason).toMatch(/length 2000 exceeds maxRecordSize 1000/);
    expect(wal.recovery.bytesDropped).toBe(8 + 2000);
    expect(wal.len).toBe(image.length);
    expect([...wal.iter()].map((r) => r.lsn)).toEqual(lsns);
  });

  test("Wal.open() of 4096 bytes of 0xFF (erased flash) is NOT_A_LOG for a file, empty for segments", () => {
    const log = kind.create();
    const erased = new Uint8Array(4096).fill(0xff);
    if (refusesNonLogs) {
      expect(walErrorOf(() => openBytes(log, erased).close()).code).toBe("NOT_A_LOG");
      expect(log.bytes()).toEqual(erased);
      return;
    }
    using wal = openBytes(log, erased);
    expect(wal.len).toBe(0);
    expect(wal.recovery.bytesDropped).toBe(4096);
    expect(wal.recovery.reason).toMatch(/incomplete payload: length 4294967295/);
  });

  test("Wal.open() of 4096 zero bytes is an empty log: zero-filled space is never a record", () => {
    const log = kind.create();
    using wal = openBytes(log, new Uint8Array(4096));
    expect(wal.len).toBe(0);
    expect(wal.recovery.records).toBe(0);
    expect(wal.recovery.bytesDropped).toBe(4096);
    expect(wal.recovery.reason).toMatch(/zero-filled/);
    expect([...wal.iter()]).toEqual([]);
  });

  test("Wal.open() of garbage after valid records keeps the records", () => {
    const next = mulberry32(SEED + 1);
    const garbage = randomBytes(next, 777);
    const bytes = new Uint8Array(image.length + garbage.length);
    bytes.set(image);
    bytes.set(garbage, image.length);
    const log = kind.create();
    using wal = openBytes(log, bytes);
    expect(wal.len, `seed ${SEED + 1}`).toBe(image.length);
    expect(wal.recovery.records).toBe(PAYLOADS.length);
    expect(wal.recovery.bytesDropped).toBe(777);
    expect(wal.recovery.reason).toEqual(expect.any(String));
    expect([...wal.iter()].map((r) => r.lsn)).toEqual(lsns);
  });

  test.each([
    ["its payload", 8 + 5, 0x10],
    ["its stored CRC", 1, 0x01],
    ["the low bit of its length", 4, 0x01],
    ["bit 4 of its length", 4, 0x10],
  ])(
    "Wal.open() of a log whose middle record has a flipped bit in %s keeps the records before it",
    (_where, at, mask) => {
      const damaged = image.slice();
      damaged[middle + at]! ^= mask;
      const log = kind.create();
      using wal = openBytes(log, damaged);
      expect(wal.len).toBe(middle);
      expect(wal.recovery.records).toBe(MIDDLE);
      expect(wal.recovery.bytesDropped).toBe(image.length - middle);
      expect(wal.recovery.reason).toMatch(/checksum mismatch/);
      expect([...wal.iter()].map((r) => r.lsn)).toEqual(lsns.slice(0, MIDDLE));
      expect(wal.append("after the cut")).toBe(middle);
    },
  );

  test("Wal.open() of a log with the top bit of a middle record's length flipped keeps the records before it", () => {
    const damaged = image.slice();
    damaged[middle + 7]! ^= 0x80;
    const log = kind.create();
    using wal = openBytes(log, damaged);
    expect(wal.len).toBe(middle);
    expect(wal.recovery.bytesDropped).toBe(image.length - middle);
    expect(wal.recovery.reason).toMatch(/incomplete payload: length \d{10}/);
    expect([...wal.iter()].map((r) => r.lsn)).toEqual(lsns.slice(0, MIDDLE));
  });

  test.each([
    ["random bytes", randomBytes(mulberry32(SEED + 2), 7)],
    ["the start of a valid frame", image.slice(0, 7)],
    ["zeros", new Uint8Array(7)],
  ])("Wal.open() of a file of exactly 7 bytes (%s) is an empty log", (_name, bytes) => {
    const log = kind.create();
    using wal = openBytes(log, bytes);
    expect(wal.len).toBe(0);
    expect(wal.recovery.bytesDropped).toBe(7);
    expect(wal.recovery.reason).toMatch(/incomplete header: 7 of 8 bytes/);
    expect([...wal.iter()]).toEqual([]);
  });
});

describe("Wal.withStore() of a 4 GiB length reads and allocates only what the store holds", () => {
  /** A MemoryStore that notes the largest buffer any read lands in. */
  class SpyStore extends MemoryStore {
    largestBuffer = 0;
    override read(target: Uint8Array, position: number): number {
      this.largestBuffer = Math.max(this.largestBuffer, target.buffer.byteLength);
      return super.read(target, position);
    }
  }

  test.each([
    ["the default maxRecordSize", undefined],
    ["maxRecordSize 0xFFFFFFFF", 0xffff_ffff],
  ])(
    "Wal.withStore() rejects a length of 0xFFFFFFFF with %s, reading into a buffer no larger than the store",
    (_name, maxRecordSize) => {
      const bytes = Uint8Array.of(0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 9, 9, 9, 9);
      const store = new SpyStore(bytes);
      if (maxRecordSize === undefined) {
        // Above the limit and no valid record: not a log, refused before any payload is read.
        const error = walErrorOf(() => Wal.withStore(store).close());
        expect(error.code).toBe("NOT_A_LOG");
        expect(error.message).toContain("4294967295");
      } else {
        using wal = openChecked(() => Wal.withStore(store, { maxRecordSize }));
        expect(wal.len).toBe(0);
        expect(wal.recovery.reason).toMatch(/4294967295/);
      }
      // The scanner's buffer is sized by the bytes in the store, never by a length field.
      expect(store.largestBuffer).toBeGreaterThan(0);
      expect(store.largestBuffer).toBeLessThanOrEqual(bytes.length);
    },
  );
});

describe.each(allStoreKinds(dir))("$name store: hostile input to Wal.append()", (kind) => {
  test("Wal.append() of a long string whose UTF-8 is over maxRecordSize throws RECORD_TOO_LARGE and writes nothing", () => {
    // 25,000 UTF-16 units, within the limit, but 50,000 bytes of UTF-8: over it. The string is
    // long enough (over 64 KiB / 3 units) to be encoded apart from the copy buffer.
    const options = { maxRecordSize: 30_000 };
    const log = kind.create();
    {
      using wal = log.open(options);
      wal.append("kept");
      const before = wal.len;
      const error = walErrorOf(() => wal.append("é".repeat(25_000)));
      expect(error.code).toBe("RECORD_TOO_LARGE");
      expect(wal.len).toBe(before);
    }
    // Otherwise the log holds a record its own limit refuses, and cannot be reopened with the
    // options it was written with.
    using wal = openChecked(() => log.open(options));
    expect([...wal.iter()].map((r) => r.data.length)).toEqual([4]);
  });
});

describe("reading a log damaged after it was opened", () => {
  const RECORDS = ["zero", "one", "two: the damaged one", "three", "four"];
  const DAMAGED = 2;

  /** Checks iter() and iterFrom() over a log whose record DAMAGED has a flipped payload byte. */
  function expectDamageReported(wal: Wal, lsns: number[]): void {
    const damagedLsn = lsns[DAMAGED]!;
    const { yielded, thrown } = drain(() => wal.iter());
    expect(yielded.map((r) => r.lsn)).toEqual(lsns.slice(0, DAMAGED));
    expect(yielded.map((r) => new TextDecoder().decode(r.data))).toEqual(RECORDS.slice(0, DAMAGED));
    expect(thrown).toBeInstanceOf(CorruptionError);
    const error = thrown as CorruptionError;
    expect(error.code).toBe("CORRUPTION");
    expect(error.offset).toBe(damagedLsn);
    expect(error.reason).toMatch(/checksum/);
    expect(error.message).toContain(String(damagedLsn));

    // From the damaged record itself: no yield, the same error.
    const fromDamaged = drain(() => wal.iterFrom(damagedLsn));
    expect(fromDamaged.yielded).toEqual([]);
    expect((fromDamaged.thrown as CorruptionError).offset).toBe(damagedLsn);
    // From a record before it: that record, then the error.
    const fromBefore = drain(() => wal.iterFrom(lsns[1]!));
    expect(fromBefore.yielded.map((r) => r.lsn)).toEqual([lsns[1]!]);
    expect((fromBefore.thrown as CorruptionError).code).toBe("CORRUPTION");
    // Past it: proving that LSN is a boundary means walking through the damaged record.
    const past = drain(() => wal.iterFrom(lsns[DAMAGED + 1]!));
    expect(past.yielded).toEqual([]);
    expect((past.thrown as CorruptionError).code).toBe("CORRUPTION");
    expect((past.thrown as CorruptionError).offset).toBe(damagedLsn);
  }

  test("Wal.iter() over a memory store written under it throws CORRUPTION at the damaged record", () => {
    const store = new MemoryStore();
    using wal = Wal.withStore(store);
    const lsns = RECORDS.map((r) => wal.append(r));
    const at = lsns[DAMAGED]! + 8 + 3;
    const original = store.snapshot()[at]!;
    store.write(Uint8Array.of(original ^ 0x20), 1, at);
    expectDamageReported(wal, lsns);
  });

  test("Wal.iter() over a file overwritten on disk while open throws CORRUPTION at the damaged record", () => {
    const path = logPath(dir, "damaged-while-open");
    using wal = Wal.open(path);
    const lsns = RECORDS.map((r) => wal.append(r));
    wal.sync();
    const at = lsns[DAMAGED]! + 8 + 3;
    const fd = openSync(path, "r+");
    try {
      // "two: the damaged one"[3] is ":"; write something else in its place.
      writeSync(fd, Uint8Array.of(0x21), 0, 1, at);
    } finally {
      closeSync(fd);
    }
    expectDamageReported(wal, lsns);
  });
});

describe.each(allStoreKinds(dir))(
  "$name store: Wal.iterFrom() of an LSN that is no boundary",
  (kind) => {
    test("Wal.iterFrom() of an LSN inside a record throws and never yields", () => {
      const log = kind.create();
      const next = mulberry32(SEED + 3);
      let lsns: number[];
      {
        using wal = log.open();
        lsns = ["a", randomBytes(next, 40), "", randomBytes(next, 100), "z"].map((p) =>
          wal.append(p),
        );
        wal.sync();
      }
      using wal = log.open();
      for (const lsn of lsns.slice(0, -1)) {
        for (const inside of [lsn + 1, lsn + 3, lsn + 8]) {
          if (lsns.includes(inside)) continue; // lsn + 8 of an empty record is the next record
          const { yielded, thrown } = drain(() => wal.iterFrom(inside));
          expect(yielded, `iterFrom(${inside})`).toEqual([]);
          expect(thrown, `iterFrom(${inside})`).toBeInstanceOf(WalError);
          expect(["INVALID_ARGUMENT", "CORRUPTION"]).toContain((thrown as WalError).code);
        }
      }
      expect([...wal.iterFrom(wal.len)]).toEqual([]);
      expect([...wal.iterFrom(wal.len + 100)]).toEqual([]);
    });

    test.each([
      ["at the start of the log", 0],
      ["past several index strides", 700 * 1024],
    ])(
      "Wal.iterFrom() into a payload that is itself a valid frame, %s, throws INVALID_ARGUMENT",
      (_where, before) => {
        // A complete frame, as a replica might store a primary's bytes.
        const innerStore = new MemoryStore();
        {
          using inner = Wal.withStore(innerStore);
          inner.append("a frame inside a payload");
        }
        const innerFrame = innerStore.snapshot();
        const log = kind.create();
        let outer: number;
        {
          using wal = log.open();
          for (let at = 0; at < before; at += 8 + 4000) wal.append(new Uint8Array(4000).fill(at));
          outer = wal.append(innerFrame);
          wal.append("after");
          // Before a reopen the boundaries come from appends; after it, from recovery.
          expect(walErrorOf(() => [...wal.iterFrom(outer + 8)]).code).toBe("INVALID_ARGUMENT");
        }
        using wal = log.open();
        const { yielded, thrown } = drain(() => wal.iterFrom(outer + 8));
        expect(yielded).toEqual([]);
        expect((thrown as WalError).code).toBe("INVALID_ARGUMENT");
        // The outer record reads back whole, inner frame and all.
        const [record] = [...wal.iterFrom(outer)];
        expect(record!.lsn).toBe(outer);
        expect(Buffer.from(record!.data).equals(innerFrame)).toBe(true);
        expect([...wal.iter()].some((r) => r.lsn === outer + 8)).toBe(false);
      },
    );
  },
);

/** A log image to mutate, with the records it holds. */
interface Original {
  readonly image: Uint8Array;
  readonly lsns: number[];
  readonly payloads: Uint8Array[];
}

function original(payloads: Uint8Array[]): Original {
  return { ...imageOf(payloads), payloads };
}

/**
 * One random change of the kinds a damaged disk or a hostile writer makes: a byte flip, a
 * truncation, random bytes written over or inserted, or a length field set near 2^32. Half the
 * positions fall within 16 bytes of a record boundary, where the scanner's decisions are.
 */
function mutate(
  bytes: Uint8Array,
  from: Original,
  random: () => number,
  steps: string[],
): Uint8Array {
  const position = (limit: number): number => {
    if (limit <= 0) return 0;
    if (random() % 2 === 0) return random() % limit;
    const near = from.lsns[random() % from.lsns.length]! + (random() % 33) - 16;
    return Math.min(limit - 1, Math.max(0, near));
  };
  switch (random() % 5) {
    case 0: {
      if (bytes.length === 0) return bytes;
      const at = position(bytes.length);
      const mask = 1 + (random() % 255);
      steps.push(`flip ${at} ^ ${mask}`);
      const out = bytes.slice();
      out[at]! ^= mask;
      return out;
    }
    case 1: {
      const length = position(bytes.length + 1);
      steps.push(`truncate to ${length}`);
      return bytes.slice(0, length);
    }
    case 2: {
      const at = position(bytes.length + 1);
      const junk = randomBytes(random, 1 + (random() % 64));
      steps.push(`overwrite ${junk.length} random bytes at ${at}`);
      const out = new Uint8Array(Math.max(bytes.length, at + junk.length));
      out.set(bytes);
      out.set(junk, at);
      return out;
    }
    case 3: {
      const at = position(bytes.length + 1);
      const junk = randomBytes(random, 1 + (random() % 64));
      steps.push(`insert ${junk.length} random bytes at ${at}`);
      const out = new Uint8Array(bytes.length + junk.length);
      out.set(bytes.subarray(0, at));
      out.set(junk, at);
      out.set(bytes.subarray(at), at + junk.length);
      return out;
    }
    default: {
      // A record's length field set near 2^32; one time in four at a non-boundary offset.
      const lsn = from.lsns[random() % from.lsns.length]! + (random() % 4 === 0 ? random() % 8 : 0);
      if (lsn + 8 > bytes.length) return bytes;
      const length = 0xffff_ffff - (random() % 16);
      steps.push(`length at ${lsn} set to ${length}`);
      const out = bytes.slice();
      new DataView(out.buffer).setUint32(lsn + 4, length, true);
      return out;
    }
  }
}

/**
 * Mutates `from` `runs` times and opens each result over a MemoryStore: only WalErrors, the
 * records recovered are always a prefix of the original's, and iterFrom() of any offset either
 * starts at an original record boundary or throws a WalError. Returns how many opened.
 */
function fuzz(from: Original, seed: number, runs: number): number {
  const random = mulberry32(seed);
  const optionSets: WalOptions[] = [{}, { maxRecordSize: 0xffff_ffff }, { maxRecordSize: 100 }];
  let opened = 0;
  for (let run = 0; run < runs; run++) {
    const steps: string[] = [];
    let bytes = from.image;
    const count = 1 + (random() % 3);
    for (let i = 0; i < count; i++) bytes = mutate(bytes, from, random, steps);
    const options = optionSets[random() % optionSets.length]!;
    const context = `WAL_SEED=${seed}, run ${run}, options ${JSON.stringify(options)}: ${steps.join("; ")}`;

    let wal: Wal;
    try {
      wal = Wal.withStore(new MemoryStore(bytes), options);
    } catch (error) {
      expect(error instanceof WalError, `${context}: threw ${String(error)}`).toBe(true);
      // Only a whole, valid record above maxRecordSize may refuse the open.
      expect((error as WalError).code, context).toBe("RECORD_TOO_LARGE");
      continue;
    }
    opened++;
    try {
      const { yielded, thrown } = drain(() => wal.iter());
      expect(thrown, `${context}: iter threw ${String(thrown)}`).toBeNull();
      expect(yielded.length, context).toBe(wal.recovery.records);
      const mismatch = yielded.findIndex(
        (record, i) =>
          record.lsn !== from.lsns[i] || !Buffer.from(record.data).equals(from.payloads[i]!),
      );
      expect(mismatch, `${context}: first record that is not the original`).toBe(-1);
      const end =
        yielded.length === 0 ? 0 : from.lsns[yielded.length - 1]! + 8 + yielded.at(-1)!.data.length;
      expect(wal.len, context).toBe(end);
      expect(wal.recovery.bytesDropped, context).toBe(bytes.length - end);

      const seek = random() % (end + 16);
      const fromSeek = drain(() => wal.iterFrom(seek));
      if (fromSeek.thrown !== null) {
        expect(fromSeek.thrown instanceof WalError, `${context}: iterFrom(${seek})`).toBe(true);
        expect(fromSeek.yielded, `${context}: iterFrom(${seek})`).toEqual([]);
      } else if (seek < end) {
        const first = from.lsns.indexOf(seek);
        expect(
          first,
          `${context}: iterFrom(${seek}) of no boundary yielded`,
        ).toBeGreaterThanOrEqual(0);
        expect(fromSeek.yielded.length, context).toBe(yielded.length - first);
      } else {
        expect(fromSeek.yielded, context).toEqual([]);
      }
      expect(wal.append("after"), context).toBe(end);
    } finally {
      wal.close();
    }
  }
  return opened;
}

describe("Wal.withStore() of mutated logs", () => {
  // No timing is asserted; the timeout only grows with WAL_HOSTILE_RUNS so long runs can finish.
  const timeout = Math.max(5_000, RUNS * 50);

  test(
    `Wal.withStore() of ${RUNS} mutated small logs keeps a prefix and throws only WalErrors (WAL_SEED=${SEED})`,
    () => {
      expect(Number.isInteger(RUNS) && RUNS > 0).toBe(true);
      const next = mulberry32(0xa11ce);
      const from = original(
        Array.from({ length: 40 }, (_, i) =>
          randomBytes(next, i === 17 ? 2500 : i % 5 === 0 ? 0 : next() % 200),
        ),
      );
      // The loop must mostly open logs, or it proves little.
      expect(fuzz(from, SEED, RUNS)).toBeGreaterThan(RUNS / 2);
    },
    timeout,
  );

  const LARGE_RUNS = Math.max(1, Math.ceil(RUNS / 10));
  test(
    `Wal.withStore() of ${LARGE_RUNS} mutated logs over a scan chunk keeps a prefix (WAL_SEED=${SEED})`,
    () => {
      // Records on both sides of a record over 1 MiB, and small records straddling chunk edges.
      const next = mulberry32(0xb16);
      const payloads = [
        ...Array.from({ length: 20 }, () => randomBytes(next, next() % 300)),
        randomBytes(next, SCAN_CHUNK_SIZE + 999),
        ...Array.from({ length: 1200 }, () => randomBytes(next, 900 + (next() % 200))),
      ];
      const from = original(payloads);
      expect(from.image.length).toBeGreaterThan(2 * SCAN_CHUNK_SIZE);
      expect(fuzz(from, SEED, LARGE_RUNS)).toBeGreaterThan(LARGE_RUNS / 2);
    },
    timeout,
  );
});
