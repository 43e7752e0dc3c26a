/**
 * The recovery policies over both on-disk layouts, a single file and a segmented directory
 * (segmentSize 4096, so records straddle segment files): a record in the middle of a closed log is
 * damaged in place (a payload byte, a length near 2^32, a plausible but wrong length), and each
 * policy must do exactly what it promises. `recovery: "skip"` keeps every intact record at its
 * LSN, cuts nothing and reports the damage once per iteration; the default cuts at the damage;
 * `onCorruption: "fail"` refuses with the damage's offset and leaves every byte as it was. A torn
 * tail is cut in every mode. Damage written under an open log surfaces when it is read.
 */

import { describe, expect, test } from "bun:test";
import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  truncateSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import {
  CorruptionError,
  MemoryStore,
  Wal,
  WalError,
  type WalOptions,
  type WalRecord,
} from "../src/index.ts";
import { walErrorOf } from "./support/errors.ts";
import { drain } from "./support/iterate.ts";
import { mulberry32, randomBytes } from "./support/random.ts";
import { segmentFiles } from "./support/segments.ts";
import { withoutZeroFill } from "./support/stores.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();
/** The smallest segment size: the twenty records below (some 50 KB) span a dozen segments. */
const SEGMENT_SIZE = 4096;

/** Twenty payloads of varied sizes, empty ones included; record 0 is not empty. */
const SIZES = [24, 0, 1, 40, 7, 100, 3, 0, 64, 25, 48, 9, 0, 150, 2, 31, 5, 77, 0, 18].map(
  (size) => size * 64,
);
/** The record the single-damage tests damage: 3,072 bytes, in the middle. */
const DAMAGED = 10;
const payloads = (() => {
  const next = mulberry32(0x9e1c);
  return SIZES.map((size) => randomBytes(next, size));
})();
const lsns: number[] = [];
let total = 0;
for (const payload of payloads) {
  lsns.push(total);
  total += 8 + payload.length;
}
/** The size of record `i`'s frame: header and payload. */
const frame = (i: number) => 8 + payloads[i]!.length;
const all = payloads.map((_, i) => i);
const except = (...skipped: number[]) => all.filter((i) => !skipped.includes(i));

/** One log on disk, in one layout, whose bytes a test can read and damage in place. */
interface DiskLog {
  readonly path: string;
  /** Opens the log with the layout's options plus `options`. */
  open(options?: WalOptions): Wal;
  /** The log's bytes from LSN 0, read from the files (the segments concatenated). */
  bytes(): Uint8Array;
  /** Overwrites the bytes at log offset `at` through node:fs; works while the log is open. */
  patch(at: number, bytes: Uint8Array): void;
  /** Keeps only the first `size` bytes, as a crash mid-append leaves them. */
  cut(size: number): void;
}

interface Layout {
  readonly name: string;
  create(): DiskLog;
}

function overwrite(path: string, bytes: Uint8Array, position: number): void {
  const fd = openSync(path, "r+");
  try {
    expect(writeSync(fd, bytes, 0, bytes.length, position)).toBe(bytes.length);
  } finally {
    closeSync(fd);
  }
}

/**
 * Without the zero-filled tail (`preallocate: 0`), the file is exactly the log's bytes, as the
 * Rust crate writes it; test/zero-tail.test.ts covers the policies over a zero-filled tail.
 */
const singleFile: Layout = {
  name: "single-file log",
  create() {
    const path = logPath(dir);
    return {
      path,
      open: (options) => Wal.open(path, withoutZeroFill(options)),
      bytes: () => new Uint8Array(readFileSync(path)),
      patch: (at, bytes) => overwrite(path, bytes, at),
      cut: (size) => truncateSync(path, size),
    };
  },
};

const segmented: Layout = {
  name: `segmented log (segmentSize ${SEGMENT_SIZE})`,
  create() {
    const path = logPath(dir, "segments");
    // Segment k holds log bytes [k * S, (k + 1) * S): the file name is k as 20 digits.
    const fileOf = (index: number) => join(path, `${String(index).padStart(20, "0")}.wal`);
    return {
      path,
      open: (options) => Wal.open(path, { ...options, segmentSize: SEGMENT_SIZE }),
      bytes: () => {
        const names = segmentFiles(path);
        names.forEach((name, k) => {
          expect(join(path, name)).toBe(fileOf(k));
        });
        return new Uint8Array(Buffer.concat(names.map((name) => readFileSync(join(path, name)))));
      },
      patch(at, bytes) {
        // Byte by byte: a header may straddle two segment files.
        bytes.forEach((byte, i) => {
          const index = Math.floor((at + i) / SEGMENT_SIZE);
          overwrite(fileOf(index), Uint8Array.of(byte), at + i - index * SEGMENT_SIZE);
        });
      },
      cut(size) {
        segmentFiles(path).forEach((_, index) => {
          const start = index * SEGMENT_SIZE;
          if (start >= size) unlinkSync(fileOf(index));
          else if (start + SEGMENT_SIZE > size) truncateSync(fileOf(index), size - start);
        });
      },
    };
  },
};

/** A new log in `layout` holding the twenty records, synced and closed; and its bytes. */
function writeLog(layout: Layout): { log: DiskLog; image: Uint8Array } {
  const log = layout.create();
  {
    using wal = log.open();
    expect(payloads.map((payload) => wal.append(payload))).toEqual(lsns);
    wal.sync();
  }
  const image = log.bytes();
  expect(image.length).toBe(total);
  return { log, image };
}

/** Fails unless `found` are exactly the records `indices`, at their LSNs, with their bytes. */
function expectRecords(found: WalRecord[], indices: number[]): void {
  expect(found.map((r) => r.lsn)).toEqual(indices.map((i) => lsns[i]!));
  const mismatch = found.findIndex((r, k) => !Buffer.from(r.data).equals(payloads[indices[k]!]!));
  expect(mismatch, "first record whose bytes differ").toBe(-1);
}

/** Runs `open`, which must throw a CorruptionError; returns it. */
function corruptionOf(open: () => unknown): CorruptionError {
  const error = walErrorOf(open);
  expect(error).toBeInstanceOf(CorruptionError);
  expect(error.code).toBe("CORRUPTION");
  return error as CorruptionError;
}

/** A change to the bytes of the record at `lsn`: what to write where. */
interface Damage {
  readonly name: string;
  /** What recovery's `reason` says about the bytes at the damaged record. */
  readonly reason: RegExp;
  patch(image: Uint8Array, lsn: number): { at: number; bytes: Uint8Array };
}

const u32 = (value: number) => {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
};

const damages: Damage[] = [
  {
    name: "a flipped payload byte",
    reason: /checksum mismatch/,
    patch: (image, lsn) => ({
      at: lsn + 8 + 20,
      bytes: Uint8Array.of(image[lsn + 8 + 20]! ^ 0x5a),
    }),
  },
  {
    name: "a length field of 0xFFFFFFF0",
    reason: /incomplete payload: length 4294967280/,
    patch: (_image, lsn) => ({ at: lsn + 4, bytes: u32(0xffff_fff0) }),
  },
  {
    name: "a plausible but wrong length (768 for 3072 bytes)",
    reason: /checksum mismatch/,
    patch: (_image, lsn) => ({ at: lsn + 4, bytes: u32(768) }),
  },
];

/** Applies `damage` to record `index` of `log` on disk; returns the bytes the files now hold. */
function damageRecord(log: DiskLog, image: Uint8Array, damage: Damage, index: number): Uint8Array {
  const { at, bytes } = damage.patch(image, lsns[index]!);
  log.patch(at, bytes);
  const expected = image.slice();
  expected.set(bytes, at);
  expect(Buffer.from(log.bytes()).equals(expected)).toBe(true);
  return expected;
}

/** Half of the last record: what a crash mid-append leaves. */
const tornAt = lsns.at(-1)! + Math.floor(frame(payloads.length - 1) / 2);

const utf8 = new TextEncoder();
const AFTER = utf8.encode("appended after recovery");

describe.each([singleFile, segmented])("$name", (layout) => {
  describe.each(damages)(`record ${DAMAGED} damaged by $name`, (damage) => {
    test('Wal.open() with recovery "skip" keeps every intact record, cuts nothing, and iter() reports the damage to onCorrupt once', () => {
      const { log, image } = writeLog(layout);
      const damaged = damageRecord(log, image, damage, DAMAGED);
      const reports: unknown[] = [];
      const options: WalOptions = {
        recovery: "skip",
        onCorrupt: (error) => reports.push(error),
      };
      {
        using wal = log.open(options);
        expect(wal.recovery).toEqual({
          head: 0,
          records: payloads.length - 1,
          storeSize: total,
          end: total,
          bytesDropped: 0,
          reason: expect.stringMatching(damage.reason),
          recordsDropped: 0,
          damagedRegions: 1,
          barrier: "full",
        });
        expect(reports).toEqual([]); // open counts regions; only iteration reports them
        expect(wal.len).toBe(total);
        expectRecords([...wal.iter()], except(DAMAGED));
        expect(reports).toHaveLength(1);
        const report = reports[0] as CorruptionError;
        expect(report).toBeInstanceOf(CorruptionError);
        expect(report.code).toBe("CORRUPTION");
        expect(report.offset).toBe(lsns[DAMAGED]!);
        expect(report.reason).toMatch(damage.reason);
        expect(report.reason).toMatch(
          new RegExp(
            `skipped ${frame(DAMAGED)} bytes to the next valid record at ${lsns[DAMAGED + 1]}`,
          ),
        );
        // The log goes on after its last record, and the new record reads back.
        expect(wal.append(AFTER)).toBe(total);
        const appended = [...wal.iterFrom(total)];
        expect(appended.map((r) => r.lsn)).toEqual([total]);
        expect(Buffer.from(appended[0]!.data).equals(AFTER)).toBe(true);
        wal.sync();
      }
      // Nothing was cut or rewritten: the damaged bytes are still there, the new record after.
      const after = log.bytes();
      expect(after.length).toBe(total + 8 + AFTER.length);
      expect(Buffer.from(after.subarray(0, total)).equals(damaged)).toBe(true);
      // A second open keeps the region and the appended record.
      reports.length = 0;
      using wal = log.open(options);
      expect(wal.recovery.damagedRegions).toBe(1);
      expect(wal.recovery.records).toBe(payloads.length);
      expect(wal.recovery.end).toBe(total + 8 + AFTER.length);
      const records = [...wal.iter()];
      expectRecords(records.slice(0, -1), except(DAMAGED));
      expect(records.at(-1)!.lsn).toBe(total);
      expect((reports as CorruptionError[]).map((r) => r.offset)).toEqual([lsns[DAMAGED]!]);
    });

    test("Wal.open() with the default options cuts the log at the damaged record, as the Rust crate does", () => {
      const { log, image } = writeLog(layout);
      damageRecord(log, image, damage, DAMAGED);
      {
        using wal = log.open();
        expect(wal.recovery).toEqual({
          head: 0,
          records: DAMAGED,
          storeSize: total,
          end: lsns[DAMAGED]!,
          bytesDropped: total - lsns[DAMAGED]!,
          reason: expect.stringMatching(damage.reason),
          recordsDropped: payloads.length - DAMAGED - 1,
          damagedRegions: 0,
          barrier: "full",
        });
        expect(wal.len).toBe(lsns[DAMAGED]!);
        expectRecords([...wal.iter()], all.slice(0, DAMAGED));
        expect(wal.append(AFTER)).toBe(lsns[DAMAGED]!);
      }
      const after = log.bytes();
      expect(after.length).toBe(lsns[DAMAGED]! + 8 + AFTER.length);
      expect(
        Buffer.from(after.subarray(0, lsns[DAMAGED]!)).equals(image.subarray(0, lsns[DAMAGED]!)),
      ).toBe(true);
    });

    test.each([
      ['onCorruption "fail"', { onCorruption: "fail" }],
      ['onCorruption "fail" with recovery "skip"', { onCorruption: "fail", recovery: "skip" }],
    ] as [string, WalOptions][])(
      "Wal.open() with %s throws CORRUPTION at the damaged record and changes no byte",
      (_name, options) => {
        const { log, image } = writeLog(layout);
        const damaged = damageRecord(log, image, damage, DAMAGED);
        const error = corruptionOf(() => log.open(options));
        expect(error.offset).toBe(lsns[DAMAGED]!);
        expect(error.reason).toMatch(damage.reason);
        expect(error.message).toContain(String(lsns[DAMAGED]!));
        expect(Buffer.from(log.bytes()).equals(damaged)).toBe(true);
        // The refused open released the log: it opens again, here keeping the damage.
        using wal = log.open({ recovery: "skip" });
        expect(wal.recovery.damagedRegions).toBe(1);
        expect(wal.len).toBe(total);
      },
    );
  });

  test.each([
    ['onCorruption "fail"', { onCorruption: "fail" }],
    ['recovery "skip"', { recovery: "skip" }],
    ["the default options", {}],
  ] as [string, WalOptions][])(
    "Wal.open() with %s cuts a torn last record, and onCorrupt never hears of it",
    (_name, options) => {
      const { log, image } = writeLog(layout);
      log.cut(tornAt);
      const reports: unknown[] = [];
      {
        using wal = log.open({ ...options, onCorrupt: (error) => reports.push(error) });
        expect(wal.recovery).toEqual({
          head: 0,
          records: payloads.length - 1,
          storeSize: tornAt,
          end: lsns.at(-1)!,
          bytesDropped: tornAt - lsns.at(-1)!,
          reason: expect.stringMatching(/incomplete payload/),
          recordsDropped: 0,
          damagedRegions: 0,
          barrier: "full",
        });
        expect(wal.recovery.bytesDropped).toBeGreaterThan(0);
        expectRecords([...wal.iter()], all.slice(0, -1));
        expect(reports).toEqual([]);
        expect(wal.append(AFTER)).toBe(lsns.at(-1)!);
      }
      const after = log.bytes();
      expect(after.length).toBe(lsns.at(-1)! + 8 + AFTER.length);
      expect(
        Buffer.from(after.subarray(0, lsns.at(-1)!)).equals(image.subarray(0, lsns.at(-1)!)),
      ).toBe(true);
    },
  );

  test('Wal.open() with recovery "skip" keeps a damaged region in the middle and still cuts a torn tail', () => {
    const { log, image } = writeLog(layout);
    damageRecord(log, image, damages[0]!, DAMAGED);
    log.cut(tornAt);
    const offsets: number[] = [];
    using wal = log.open({ recovery: "skip", onCorrupt: (error) => offsets.push(error.offset) });
    expect(wal.recovery.damagedRegions).toBe(1);
    expect(wal.recovery.end).toBe(lsns.at(-1)!);
    expect(wal.recovery.bytesDropped).toBe(tornAt - lsns.at(-1)!);
    expectRecords([...wal.iter()], except(DAMAGED, payloads.length - 1));
    expect(offsets).toEqual([lsns[DAMAGED]!]);
    expect(log.bytes().length).toBe(lsns.at(-1)!);
  });

  test('Wal.open() with onCorruption "fail" over damage and a torn tail cuts neither', () => {
    const { log, image } = writeLog(layout);
    damageRecord(log, image, damages[0]!, DAMAGED);
    log.cut(tornAt);
    const before = log.bytes();
    expect(corruptionOf(() => log.open({ onCorruption: "fail" })).offset).toBe(lsns[DAMAGED]!);
    expect(Buffer.from(log.bytes()).equals(before)).toBe(true);
  });

  describe("two damaged regions: record 5 (a payload byte) and record 13 (its length)", () => {
    const damageBoth = (log: DiskLog, image: Uint8Array) => {
      const once = damageRecord(log, image, damages[0]!, 5);
      return damageRecord(log, once, damages[1]!, 13);
    };

    test('Wal.open() with recovery "skip" counts 2 regions; iter() reports both, in LSN order', () => {
      const { log, image } = writeLog(layout);
      const damaged = damageBoth(log, image);
      const reports: CorruptionError[] = [];
      using wal = log.open({ recovery: "skip", onCorrupt: (error) => reports.push(error) });
      expect(wal.recovery.damagedRegions).toBe(2);
      expect(wal.recovery.records).toBe(payloads.length - 2);
      expect(wal.recovery.bytesDropped).toBe(0);
      expect(wal.recovery.reason).toMatch(/checksum mismatch/); // the first damage's
      expectRecords([...wal.iter()], except(5, 13));
      expect(reports.map((r) => r.offset)).toEqual([lsns[5]!, lsns[13]!]);
      expect(reports[0]!.reason).toMatch(new RegExp(`skipped ${frame(5)} bytes`));
      expect(reports[1]!.reason).toMatch(new RegExp(`skipped ${frame(13)} bytes`));
      expect(Buffer.from(log.bytes()).equals(damaged)).toBe(true);
    });

    test("Wal.open() with the default options cuts at the first region", () => {
      const { log, image } = writeLog(layout);
      damageBoth(log, image);
      using wal = log.open();
      expect(wal.recovery.end).toBe(lsns[5]!);
      expect(wal.recovery.damagedRegions).toBe(0);
      expectRecords([...wal.iter()], all.slice(0, 5));
    });

    test('Wal.open() with onCorruption "fail" names the first region', () => {
      const { log, image } = writeLog(layout);
      const damaged = damageBoth(log, image);
      expect(corruptionOf(() => log.open({ onCorruption: "fail" })).offset).toBe(lsns[5]!);
      expect(Buffer.from(log.bytes()).equals(damaged)).toBe(true);
    });
  });

  test('Wal.open() with recovery "skip" over two adjacent damaged records sees one region', () => {
    const { log, image } = writeLog(layout);
    const once = damageRecord(log, image, damages[0]!, 9);
    damageRecord(log, once, damages[2]!, 10);
    const reports: CorruptionError[] = [];
    using wal = log.open({ recovery: "skip", onCorrupt: (error) => reports.push(error) });
    expect(wal.recovery.damagedRegions).toBe(1);
    expectRecords([...wal.iter()], except(9, 10));
    expect(reports.map((r) => r.offset)).toEqual([lsns[9]!]);
    expect(reports[0]!.reason).toMatch(new RegExp(`skipped ${frame(9) + frame(10)} bytes`));
  });

  test('Wal.open() with recovery "skip" over damage at LSN 0 finds every record after it', () => {
    const { log, image } = writeLog(layout);
    damageRecord(log, image, damages[0]!, 0);
    const offsets: number[] = [];
    {
      using wal = log.open({ recovery: "skip", onCorrupt: (error) => offsets.push(error.offset) });
      expect(wal.recovery.damagedRegions).toBe(1);
      expect(wal.recovery.end).toBe(total);
      expectRecords([...wal.iter()], except(0));
      expect(offsets).toEqual([0]);
    }
    expect(corruptionOf(() => log.open({ onCorruption: "fail" })).offset).toBe(0);
    // The default cuts at the first damage, which here is the whole log.
    using wal = log.open();
    expect(wal.recovery.end).toBe(0);
    expect(wal.recovery.bytesDropped).toBe(total);
    expect([...wal.iter()]).toEqual([]);
  });

  describe("damage written under an open log", () => {
    /** Opens a new log, appends the records, syncs, then damages record 6 through node:fs. */
    function damagedWhileOpen(options: WalOptions): { log: DiskLog; wal: Wal } {
      const log = layout.create();
      const wal = log.open(options);
      expect(payloads.map((payload) => wal.append(payload))).toEqual(lsns);
      wal.sync();
      const at = lsns[6]! + 8 + 1;
      log.patch(at, Uint8Array.of(payloads[6]![1]! ^ 0xff));
      return { log, wal };
    }

    test('Wal.iter() with recovery "stop" throws CorruptionError at the damaged record', () => {
      const { wal } = damagedWhileOpen({});
      using _ = wal;
      const { yielded, thrown } = drain(() => wal.iter());
      expectRecords(yielded, all.slice(0, 6));
      expect(thrown).toBeInstanceOf(CorruptionError);
      expect((thrown as CorruptionError).offset).toBe(lsns[6]!);
      expect((thrown as CorruptionError).reason).toMatch(/checksum mismatch/);
    });

    test('Wal.iter() with recovery "skip" reports the damaged record to onCorrupt and goes on', () => {
      const reports: CorruptionError[] = [];
      const { wal } = damagedWhileOpen({
        recovery: "skip",
        onCorrupt: (error) => reports.push(error),
      });
      using _ = wal;
      expect(reports).toEqual([]);
      expectRecords([...wal.iter()], except(6));
      expect(reports.map((r) => r.offset)).toEqual([lsns[6]!]);
      expect(reports[0]!.reason).toMatch(new RegExp(`skipped ${frame(6)} bytes`));
      // Each iteration reports it again; the log itself is unchanged.
      expectRecords([...wal.iter()], except(6));
      expect(reports.map((r) => r.offset)).toEqual([lsns[6]!, lsns[6]!]);
      expect(wal.len).toBe(total);
    });
  });
});

describe("bad recovery-policy options", () => {
  const bad = (
    [
      ["recovery", "maybe"],
      ["recovery", "SKIP"],
      ["onCorruption", 1],
      ["onCorruption", "skip"],
      ["onCorrupt", "x"],
      ["onCorrupt", null],
    ] as const
  ).map(([name, value]) => ({
    name,
    label: `${name}: ${JSON.stringify(value)}`,
    options: { [name]: value } as Record<string, unknown>,
  }));

  test.each(bad)(
    "Wal.open() with { $label } throws INVALID_ARGUMENT before any file is created",
    ({ name, options }) => {
      const file = logPath(dir);
      const error = walErrorOf(() => Wal.open(file, options as WalOptions));
      expect(error.code).toBe("INVALID_ARGUMENT");
      expect(error.message).toContain(name);
      expect(existsSync(file)).toBe(false);

      const directory = logPath(dir, "segments");
      const segmentedError = walErrorOf(() =>
        Wal.open(directory, { ...options, segmentSize: SEGMENT_SIZE } as WalOptions),
      );
      expect(segmentedError.code).toBe("INVALID_ARGUMENT");
      expect(existsSync(directory)).toBe(false);

      expect(walErrorOf(() => Wal.withStore(new MemoryStore(), options as WalOptions)).code).toBe(
        "INVALID_ARGUMENT",
      );
    },
  );

  test.each(bad)(
    "Wal.open() with { $label } leaves an existing log with a torn tail uncut",
    ({ options }) => {
      const { log } = writeLog(singleFile);
      log.cut(tornAt);
      const before = log.bytes();
      const error = walErrorOf(() => log.open(options as WalOptions));
      expect(error).toBeInstanceOf(WalError);
      expect(error.code).toBe("INVALID_ARGUMENT");
      expect(Buffer.from(log.bytes()).equals(before)).toBe(true);
    },
  );
});
