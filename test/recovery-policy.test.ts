/**
 * What open and iteration do with damage that valid records follow, under each policy:
 * `recovery: "skip"` keeps it and steps over it (reporting it to `onCorrupt`), finding the next
 * record even behind a damaged length field; `onCorruption: "fail"` refuses to open and changes
 * nothing; the default cuts at the damage, as the Rust crate does. A torn tail is cut in every
 * mode.
 */

import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { type CorruptionError, Wal, type WalRecord } from "../src/index.ts";
import { walErrorOf } from "./support/errors.ts";
import { mulberry32, randomBytes } from "./support/random.ts";
import { allStoreKinds, type LogUnderTest, type StoreKind } from "./support/stores.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();

/** 20 records of 0 to 300 bytes, fixed by the seed. */
const payloads = (() => {
  const next = mulberry32(0xdead);
  return Array.from({ length: 20 }, (_, i) => randomBytes(next, i === 3 ? 0 : next() % 300));
})();
/** Each record's LSN: where the one before it ends. */
const lsns: number[] = [0];
for (const payload of payloads.slice(0, -1)) lsns.push(lsns.at(-1)! + 8 + payload.length);
const end = lsns.at(-1)! + 8 + payloads.at(-1)!.length;

/** The ways a record in the middle gets damaged. */
const damages: { name: string; apply: (bytes: Uint8Array, lsn: number) => void }[] = [
  {
    name: "a flipped payload bit",
    apply: (bytes, lsn) => {
      bytes[lsn + 8]! ^= 0x10;
    },
  },
  {
    name: "a length field near 2^32",
    apply: (bytes, lsn) => new DataView(bytes.buffer).setUint32(lsn + 4, 0xfffffff0, true),
  },
  {
    name: "a plausible but wrong length",
    apply: (bytes, lsn) => new DataView(bytes.buffer).setUint32(lsn + 4, 3, true),
  },
];

function writeLog(kind: StoreKind): { log: LogUnderTest; image: Uint8Array } {
  const log = kind.create();
  {
    using wal = log.open();
    for (const payload of payloads) wal.append(payload);
    wal.sync();
  }
  return { log, image: log.bytes() };
}

/** The records of `found` are exactly `payloads[i]` at `lsns[i]` for each `i` in `indices`. */
function expectRecords(found: WalRecord[], indices: number[]): void {
  expect(found.map((r) => r.lsn)).toEqual(indices.map((i) => lsns[i]!));
  found.forEach((record, k) => {
    expect(Buffer.from(record.data).equals(payloads[indices[k]!]!)).toBe(true);
  });
}

const all = payloads.map((_, i) => i);
const except = (...skipped: number[]) => all.filter((i) => !skipped.includes(i));

describe.each(allStoreKinds(dir))("$name store", (kind) => {
  describe.each(damages)("record 7 damaged by $name", ({ apply }) => {
    const damaged = (image: Uint8Array) => {
      const copy = image.slice();
      apply(copy, lsns[7]!);
      return copy;
    };

    test('recovery "skip" keeps every intact record and reports the damage once', () => {
      const { log, image } = writeLog(kind);
      log.setBytes(damaged(image));
      const reports: CorruptionError[] = [];
      using wal = log.open({ recovery: "skip", onCorrupt: (error) => reports.push(error) });
      expect(wal.recovery.damagedRegions).toBe(1);
      expect(wal.recovery.bytesDropped).toBe(0);
      expect(wal.len).toBe(end);
      expectRecords([...wal.iter()], except(7));
      expect(reports).toHaveLength(1);
      expect(reports[0]!.code).toBe("CORRUPTION");
      expect(reports[0]!.offset).toBe(lsns[7]!);
      expect(reports[0]!.reason).toMatch(new RegExp(`to the next valid record at ${lsns[8]}`));
      // The log goes on after its last record, and the new record reads back.
      expect(wal.append("after")).toBe(end);
      expect(new TextDecoder().decode([...wal.iterFrom(end)][0]!.data)).toBe("after");
    });

    test("the default cuts the log at the damage, as the Rust crate does", () => {
      const { log, image } = writeLog(kind);
      log.setBytes(damaged(image));
      using wal = log.open();
      expect(wal.recovery.end).toBe(lsns[7]!);
      expect(wal.recovery.bytesDropped).toBe(end - lsns[7]!);
      expect(wal.recovery.damagedRegions).toBe(0);
      expectRecords([...wal.iter()], all.slice(0, 7));
    });

    test('onCorruption "fail" refuses to open and changes nothing', () => {
      const { log, image } = writeLog(kind);
      const bytes = damaged(image);
      log.setBytes(bytes);
      const error = walErrorOf(() => log.open({ onCorruption: "fail" })) as CorruptionError;
      expect(error.code).toBe("CORRUPTION");
      expect(error.offset).toBe(lsns[7]!);
      expect(error.message).toMatch(new RegExp(`valid records follow at ${lsns[8]}`));
      expect(Buffer.from(log.bytes()).equals(bytes)).toBe(true);
    });
  });

  test('two damaged regions: "skip" reports both, in order, and keeps the rest', () => {
    const { log, image } = writeLog(kind);
    const bytes = image.slice();
    bytes[lsns[2]! + 1]! ^= 1; // the stored CRC
    new DataView(bytes.buffer).setUint32(lsns[12]! + 4, 0x7fffffff, true);
    log.setBytes(bytes);
    const offsets: number[] = [];
    using wal = log.open({ recovery: "skip", onCorrupt: (error) => offsets.push(error.offset) });
    expect(wal.recovery.damagedRegions).toBe(2);
    expectRecords([...wal.iter()], except(2, 12));
    expect(offsets).toEqual([lsns[2]!, lsns[12]!]);
  });

  test('damage at LSN 0: "skip" finds every record after it', () => {
    const { log, image } = writeLog(kind);
    const bytes = image.slice();
    bytes[0]! ^= 0xff;
    log.setBytes(bytes);
    using wal = log.open({ recovery: "skip" });
    expectRecords([...wal.iter()], except(0));
  });

  test("a torn tail is cut in every mode, and open never fails over it", () => {
    const { log, image } = writeLog(kind);
    const torn = image.subarray(0, lsns[19]! + 5);
    for (const options of [{ onCorruption: "fail" as const }, { recovery: "skip" as const }, {}]) {
      log.setBytes(torn);
      using wal = log.open(options);
      expect(wal.recovery.end).toBe(lsns[19]!);
      expect(wal.recovery.bytesDropped).toBe(5);
      expect(wal.recovery.damagedRegions).toBe(0);
      expectRecords([...wal.iter()], all.slice(0, 19));
    }
  });
});

describe("damage that appears while the log is open", () => {
  test('iteration under "stop" throws at it; under "skip" it reports it and goes on', async () => {
    const path = logPath(dir);
    {
      using wal = Wal.open(path);
      for (const payload of payloads) wal.append(payload);
    }
    for (const recovery of ["stop", "skip"] as const) {
      const reports: number[] = [];
      using wal = Wal.open(path, { recovery, onCorrupt: (error) => reports.push(error.offset) });
      // Damage record 5 underneath the open log, as bit rot would.
      const file = Bun.file(path);
      const bytes = new Uint8Array(await file.arrayBuffer());
      const original = bytes[lsns[5]! + 8]!;
      bytes[lsns[5]! + 8] = original ^ 0x80;
      await Bun.write(path, bytes);
      if (recovery === "stop") {
        const error = walErrorOf(() => [...wal.iter()]) as CorruptionError;
        expect(error.offset).toBe(lsns[5]!);
      } else {
        expectRecords([...wal.iter()], except(5));
        expect(reports).toEqual([lsns[5]!]);
      }
      bytes[lsns[5]! + 8] = original;
      await Bun.write(path, bytes);
    }
  });
});

describe("bad policy options", () => {
  test.each([
    { recovery: "maybe" },
    { recovery: null },
    { onCorruption: 1 },
    { onCorruption: "repair" },
    { onCorrupt: "x" },
    { segmentSize: 0 },
    { segmentSize: 1.5 },
  ])("%p throws INVALID_ARGUMENT before anything is created", (options) => {
    const path = logPath(dir);
    expect(walErrorOf(() => Wal.open(path, options as never)).code).toBe("INVALID_ARGUMENT");
    expect(existsSync(path)).toBe(false);
  });
});
