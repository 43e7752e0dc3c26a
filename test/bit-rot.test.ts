/**
 * Bit rot: a sealed log damaged at rest, as a failing disk damages it, must never lose a record
 * silently. Recovery has to notice every such damage, keep every record before it, invent none,
 * and say what it cut.
 *
 * Fault model: a log of exactly 64 KiB (524,288 bits) of records of varied sizes, written,
 * synced and closed, then damaged once between close and open: one bit flipped, or one aligned
 * 512-byte sector zeroed (what a drive hands back for a sector it lost). Damage under an open
 * log is test/recovery-policy.test.ts's business.
 *
 * The oracle, for every case and every store:
 * - the default open (`onCorruption: "truncate"`) reports the damage: `reason` set, `end` at the
 *   damaged record's LSN, `bytesDropped` = 65,536 - `end`, and `recordsDropped` = the intact
 *   records after it, exactly;
 * - the records before the damage come back byte-exact at their LSNs (else "lost"), no record
 *   comes back that the original log did not hold (else "phantom"), and opening a second time
 *   gives the same records;
 * - `onCorruption: "fail"` refuses with a `CorruptionError` at the damaged record and leaves
 *   every byte as it was whenever intact records follow the damage; damage with none after it
 *   is a torn tail, cut alike by every mode, `"fail"` and `recovery: "skip"` included;
 * - `recovery: "skip"` keeps every intact record and drops none;
 * - everything thrown is a `WalError` (else "untyped").
 *
 * Which record is damaged: a flip damages the record holding the bit. A zeroed sector damages the
 * records whose bytes it changed: the first record overlapping the sector, unless every byte it
 * shares with the sector was zero already. The records after the damage are all found again,
 * because nothing in a zeroed sector reads as a record: an all-zero header holds CRC 0 and
 * length 0, while a zero length field has CRC-32C 0x48674BC7 (src/record.ts reports it as a
 * "zero-filled header"), and a header straddling the sector's edge matches its CRC by chance
 * only (2^-32). A flip is detected because CRC-32C catches every single-bit error in the bytes
 * it covers and a flipped CRC field no longer matches; a flipped length field makes the CRC
 * cover other bytes, which match by chance only (2^-32 again; the seed makes it reproducible).
 *
 * Knobs: WAL_SEED replays a run (the log's payloads and the sample of flips). WAL_BITFLIPS sizes
 * the sample over the memory store (default 10,000 × WAL_SCALE, a quarter of it in headers,
 * where a flip steers the scan); WAL_BITROT_EXHAUSTIVE=1 flips every bit instead (about a
 * ten minutes here).
 * WAL_BITFLIPS_DISK sizes the sample run over the file store and the segmented store (default
 * 200 each). All 128 sectors are zeroed on every store, always.
 */

import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { crc32c } from "../src/crc32c.ts";
import {
  CorruptionError,
  MemoryStore,
  type RecoveryReport,
  Wal,
  WalError,
  type WalOptions,
  type WalRecord,
} from "../src/index.ts";
import { sealFrame } from "../src/record.ts";
import { reportFigures, sized } from "./support/knobs.ts";
import { mulberry32, randomBytes, seedFromEnv } from "./support/random.ts";
import {
  fileStoreKind,
  type LogUnderTest,
  type StoreKind,
  segmentedStoreKind,
} from "./support/stores.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();
const SEED = seedFromEnv(0x0b17_5e7);
const LOG_SIZE = 64 * 1024;
const BIT_COUNT = LOG_SIZE * 8;
const SECTOR_SIZE = 512;
const HEADER_SIZE = 8;
/** Payloads are at most this long, so that the log holds about a hundred records. */
const PAYLOAD_SIZE_MAX = 1500;

const EXHAUSTIVE = process.env.WAL_BITROT_EXHAUSTIVE === "1";
const FLIPS = EXHAUSTIVE ? BIT_COUNT : Math.min(sized("WAL_BITFLIPS", 10_000), BIT_COUNT);
const DISK_FLIPS = Math.min(sized("WAL_BITFLIPS_DISK", 200), BIT_COUNT);

/** The sealed log every case damages a copy of. */
interface SealedLog {
  readonly bytes: Uint8Array;
  readonly lsns: readonly number[];
  readonly payloads: readonly Uint8Array[];
  /** Record index by LSN. */
  readonly indexOf: ReadonlyMap<number, number>;
}

/**
 * Writes the sealed log through `Wal.open` into a file: payloads drawn from `seed`, record 1 and
 * one in sixteen of the others empty, one in sixteen at most 16 bytes, the rest up to 1,500
 * bytes, and the last sized so that the log ends at exactly 64 KiB.
 */
function sealLog(seed: number): SealedLog {
  const next = mulberry32(seed);
  const payloads: Uint8Array[] = [];
  let size = 0;
  while (LOG_SIZE - size - HEADER_SIZE > PAYLOAD_SIZE_MAX) {
    const kind = payloads.length === 1 ? 0 : next() % 16;
    const length = kind === 0 ? 0 : kind === 1 ? next() % 17 : next() % (PAYLOAD_SIZE_MAX + 1);
    payloads.push(randomBytes(next, length));
    size += HEADER_SIZE + length;
  }
  payloads.push(randomBytes(next, LOG_SIZE - size - HEADER_SIZE));
  const path = logPath(dir, "sealed");
  const lsns: number[] = [];
  {
    // No zero-filled tail: the sealed log is exactly its 64 KiB of records.
    using wal = Wal.open(path, { preallocate: 0 });
    for (const payload of payloads) lsns.push(wal.append(payload));
    wal.sync();
  }
  const bytes = new Uint8Array(readFileSync(path));
  return { bytes, lsns, payloads, indexOf: new Map(lsns.map((lsn, i) => [lsn, i])) };
}

const sealed = sealLog(SEED);
const RECORD_COUNT = sealed.payloads.length;
const frameEnd = (i: number) => sealed.lsns[i]! + HEADER_SIZE + sealed.payloads[i]!.length;

/** One damaged copy of the sealed log and what recovery must make of it. */
interface Case {
  /** What was done, for failure messages: "bit 12345", "sector 7". */
  readonly label: string;
  readonly bytes: Uint8Array;
  /** The first record whose bytes changed. */
  readonly damaged: number;
  /** Records after `damaged` whose bytes did not change. */
  readonly intactAfter: readonly number[];
  /** What `reason` must match at the damaged record. */
  readonly reason: RegExp;
}

/** The record holding byte `offset` of the sealed log. */
function recordAt(offset: number): number {
  let low = 0;
  let high = RECORD_COUNT - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (sealed.lsns[middle]! <= offset) low = middle;
    else high = middle - 1;
  }
  return low;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);

/** The sealed log with bit `bit` flipped: it damages exactly the record holding it. */
function flipCase(bit: number): Case {
  const bytes = sealed.bytes.slice();
  const offset = bit >>> 3;
  bytes[offset]! ^= 1 << (bit & 7);
  const damaged = recordAt(offset);
  // A flipped length field may also claim more bytes than the log holds; anywhere else only
  // the checksum can tell.
  const inLength = offset - sealed.lsns[damaged]! >= 4 && offset - sealed.lsns[damaged]! < 8;
  return {
    label: `bit ${bit} (byte ${offset}, record ${damaged} at LSN ${sealed.lsns[damaged]})`,
    bytes,
    damaged,
    intactAfter: range(damaged + 1, RECORD_COUNT),
    reason: inLength ? /^(checksum mismatch|incomplete payload)/ : /^checksum mismatch/,
  };
}

/** The sealed log with sector `sector` zeroed; the damage is read off the bytes it changed. */
function sectorCase(sector: number): Case {
  const bytes = sealed.bytes.slice();
  const from = sector * SECTOR_SIZE;
  bytes.fill(0, from, from + SECTOR_SIZE);
  const changed = (i: number) => {
    for (let at = sealed.lsns[i]!; at < frameEnd(i); at++) {
      if (bytes[at] !== sealed.bytes[at]) return true;
    }
    return false;
  };
  const overlapping = range(recordAt(from), recordAt(from + SECTOR_SIZE - 1) + 1);
  const damaged = overlapping.find(changed);
  if (damaged === undefined) throw new Error(`zeroing sector ${sector} changed no record`);
  const lsn = sealed.lsns[damaged]!;
  const headerZeroed = lsn >= from && lsn + HEADER_SIZE <= from + SECTOR_SIZE;
  return {
    label: `sector ${sector} (bytes ${from}..${from + SECTOR_SIZE}, record ${damaged} at LSN ${lsn})`,
    bytes,
    damaged,
    intactAfter: range(damaged + 1, RECORD_COUNT).filter((i) => !changed(i)),
    reason: headerZeroed
      ? /^zero-filled header \(space never written\)$/
      : /^(checksum mismatch|incomplete payload)/,
  };
}

/** What the checks of one batch of cases found. */
interface Tally {
  cases: number;
  /** Cases whose default open reported damage at the damaged record. */
  detected: number;
  lost: number;
  phantom: number;
  untyped: number;
  /** Every other broken expectation: a report field, a refusal, a record kept that was cut. */
  mismatches: number;
  /** The first few problems of any kind, described, for the failure message. */
  readonly examples: string[];
}

const newTally = (): Tally => ({
  cases: 0,
  detected: 0,
  lost: 0,
  phantom: 0,
  untyped: 0,
  mismatches: 0,
  examples: [],
});

const EXAMPLES_KEPT = 10;

function note(tally: Tally, c: Case, what: string): void {
  if (tally.examples.length < EXAMPLES_KEPT) tally.examples.push(`${c.label}: ${what}`);
}

function mismatch(tally: Tally, c: Case, what: string): void {
  tally.mismatches++;
  note(tally, c, what);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

/**
 * Compares records read back with the sealed log: each must be an original record, byte-exact
 * at its LSN (else a phantom), and each record of `expected` must be among them (else lost). An
 * original record outside `expected` is a mismatch: the policy should have cut it.
 */
function checkRecords(
  tally: Tally,
  c: Case,
  mode: string,
  found: readonly WalRecord[],
  expected: readonly number[],
): void {
  const wanted = new Set(expected);
  const seen = new Set<number>();
  for (const record of found) {
    const index = sealed.indexOf.get(record.lsn);
    if (index === undefined || !sameBytes(record.data, sealed.payloads[index]!)) {
      tally.phantom++;
      note(tally, c, `${mode} read a record at LSN ${record.lsn} that was never written`);
    } else if (!wanted.has(index)) {
      mismatch(tally, c, `${mode} kept record ${index}, which it should have cut`);
    } else {
      seen.add(index);
    }
  }
  for (const index of expected) {
    if (seen.has(index)) continue;
    tally.lost++;
    note(tally, c, `${mode} lost record ${index} at LSN ${sealed.lsns[index]}`);
  }
}

/**
 * Runs `action` and returns what it threw, or undefined. A throw that is not a WalError counts
 * as untyped; any throw at all is a mismatch unless `mayThrow`.
 */
function attempt(
  tally: Tally,
  c: Case,
  mode: string,
  mayThrow: boolean,
  action: () => void,
): unknown {
  try {
    action();
    return undefined;
  } catch (error) {
    if (!(error instanceof WalError)) {
      tally.untyped++;
      note(tally, c, `${mode} threw a non-WalError: ${String(error)}`);
    } else if (!mayThrow) {
      mismatch(tally, c, `${mode} threw ${error.message}`);
    }
    return error ?? new Error("undefined was thrown");
  }
}

/** Report fields that differ from `expected` (a RegExp must match), as mismatches. */
function checkReport(
  tally: Tally,
  c: Case,
  mode: string,
  report: RecoveryReport,
  expected: Record<string, unknown>,
): void {
  const fields = report as unknown as Record<string, unknown>;
  for (const [field, want] of Object.entries(expected)) {
    const got = fields[field];
    const ok =
      want instanceof RegExp ? typeof got === "string" && want.test(got) : Object.is(got, want);
    if (!ok) mismatch(tally, c, `${mode} reported ${field} ${String(got)}, not ${String(want)}`);
  }
}

/**
 * Opens `log` holding the bytes of `c` under each policy and tallies every broken expectation
 * (the oracle at the top of this file). It tallies rather than asserts, so that the negative
 * controls can show each count fires.
 */
function checkCase(log: LogUnderTest, c: Case, tally: Tally): void {
  tally.cases++;
  const lsn = sealed.lsns[c.damaged]!;
  const before = range(0, c.damaged);
  const torn = c.intactAfter.length === 0;
  const cut = {
    head: 0,
    records: c.damaged,
    storeSize: LOG_SIZE,
    end: lsn,
    bytesDropped: LOG_SIZE - lsn,
    reason: c.reason,
    recordsDropped: c.intactAfter.length,
    damagedRegions: 0,
  };

  // "fail" refuses and changes nothing, unless the damage is a torn tail, which it cuts.
  log.setBytes(c.bytes);
  const refusal = attempt(tally, c, '"fail"', !torn, () => {
    using wal = log.open({ onCorruption: "fail" });
    if (!torn) {
      mismatch(tally, c, `"fail" opened though ${c.intactAfter.length} intact records follow`);
      return;
    }
    checkReport(tally, c, '"fail"', wal.recovery, cut);
    checkRecords(tally, c, '"fail"', [...wal.iter()], before);
  });
  if (refusal instanceof WalError) {
    if (!(refusal instanceof CorruptionError) || refusal.code !== "CORRUPTION") {
      mismatch(tally, c, `"fail" threw ${refusal.code}, not a CorruptionError`);
    } else if (refusal.offset !== lsn) {
      mismatch(tally, c, `"fail" named offset ${refusal.offset}, not ${lsn}`);
    }
    if (!sameBytes(log.bytes(), c.bytes)) mismatch(tally, c, `"fail" changed the stored bytes`);
  }

  // "skip" keeps every intact record and drops none; only a torn tail is cut.
  log.setBytes(c.bytes);
  attempt(tally, c, '"skip"', false, () => {
    using wal = log.open({ recovery: "skip" });
    const kept = {
      ...cut,
      records: c.damaged + c.intactAfter.length,
      end: LOG_SIZE,
      bytesDropped: 0,
      recordsDropped: 0,
      damagedRegions: 1,
    };
    checkReport(tally, c, '"skip"', wal.recovery, torn ? cut : kept);
    checkRecords(tally, c, '"skip"', [...wal.iter()], [...before, ...c.intactAfter]);
  });

  // The default cuts at the damage and says what it cut; a second open reads the same records.
  log.setBytes(c.bytes);
  let first: WalRecord[] = [];
  attempt(tally, c, "the default open", false, () => {
    using wal = log.open();
    if (wal.recovery.reason !== null && wal.recovery.end === lsn) tally.detected++;
    checkReport(tally, c, "the default open", wal.recovery, cut);
    first = [...wal.iter()];
    checkRecords(tally, c, "the default open", first, before);
  });
  attempt(tally, c, "the second open", false, () => {
    using wal = log.open();
    const clean = { records: c.damaged, storeSize: lsn, end: lsn, reason: null, recordsDropped: 0 };
    checkReport(tally, c, "the second open", wal.recovery, clean);
    const again = [...wal.iter()];
    checkRecords(tally, c, "the second open", again, before);
    const same =
      again.length === first.length &&
      again.every((r, i) => r.lsn === first[i]!.lsn && sameBytes(r.data, first[i]!.data));
    if (!same) mismatch(tally, c, "the second open read other records than the first");
  });
}

/** Asserts that a batch of `cases` found nothing wrong, showing the first problems if it did. */
function expectClean(tally: Tally, cases: number): void {
  expect(tally.examples).toEqual([]);
  const { examples: _, ...counts } = tally;
  expect(counts).toEqual({
    cases,
    detected: cases,
    lost: 0,
    phantom: 0,
    untyped: 0,
    mismatches: 0,
  });
}

/**
 * `count` distinct bit positions drawn from `seed`, one draw in four from a record header: the
 * headers are 1% of the bits, but a flip there changes where the scan looks next.
 */
function sampleBits(count: number, seed: number): number[] {
  if (count >= BIT_COUNT) return range(0, BIT_COUNT);
  const next = mulberry32(seed);
  const chosen = new Set<number>();
  while (chosen.size < count) {
    chosen.add(
      next() % 4 === 0
        ? sealed.lsns[next() % RECORD_COUNT]! * 8 + (next() % (HEADER_SIZE * 8))
        : next() % BIT_COUNT,
    );
  }
  return [...chosen];
}

/** The totals over every store, for the figures. */
const totals = { ...newTally(), flips: 0, sectors: 0 };

function addToTotals(tally: Tally, unit: "flips" | "sectors"): void {
  totals[unit] += tally.cases;
  totals.cases += tally.cases;
  totals.detected += tally.detected;
  totals.lost += tally.lost;
  totals.phantom += tally.phantom;
  totals.untyped += tally.untyped;
}

afterAll(() => {
  reportFigures("bit rot", {
    checked: totals.cases,
    unit: "bit flips and zeroed sectors",
    lost: totals.lost,
    phantom: totals.phantom,
    untyped: totals.untyped,
    extra: { flips: totals.flips, sectors: totals.sectors, detected: totals.detected },
    seed: SEED,
  });
});

/**
 * A log over one `MemoryStore`, the fast path for the large sample: `setBytes` starts a store from
 * the bytes, and each open, a reopen, recovers that same store (closing it keeps its bytes).
 */
function memoryLog(): LogUnderTest {
  let store = new MemoryStore();
  return {
    open: (options) => Wal.withStore(store, options),
    bytes: () => store.snapshot(),
    setBytes(bytes) {
      store = new MemoryStore(bytes);
    },
  };
}

const memoryKind: StoreKind = { name: "memory", create: memoryLog };

/** Generous: a case costs well under a millisecond in memory, a few on disk. */
const timeoutFor = (cases: number, each: number) => Math.max(60_000, cases * each);

const diskKinds: StoreKind[] = [fileStoreKind(dir), segmentedStoreKind(dir)];

describe(`bit rot in a sealed 64 KiB log of ${RECORD_COUNT} records (WAL_SEED=${SEED})`, () => {
  test("the sealed log is 64 KiB of whole records, of varied sizes, and opens clean", () => {
    expect(sealed.bytes.length).toBe(LOG_SIZE);
    expect(frameEnd(RECORD_COUNT - 1)).toBe(LOG_SIZE);
    const sizes = sealed.payloads.map((payload) => payload.length);
    expect(sizes).toContain(0);
    expect(Math.max(...sizes)).toBeGreaterThan(1000);
    const log = memoryLog();
    log.setBytes(sealed.bytes);
    using wal = log.open();
    expect(wal.recovery).toEqual({
      head: 0,
      records: RECORD_COUNT,
      storeSize: LOG_SIZE,
      end: LOG_SIZE,
      bytesDropped: 0,
      reason: null,
      recordsDropped: 0,
      damagedRegions: 0,
      barrier: "full",
    });
    expect([...wal.iter()].map((record) => record.lsn)).toEqual([...sealed.lsns]);
  });

  test("an all-zero header is never a record: CRC-32C of a zero length field is not 0", () => {
    expect(crc32c(new Uint8Array(4))).toBe(0x48674bc7);
    const log = memoryLog();
    log.setBytes(new Uint8Array(SECTOR_SIZE));
    using wal = log.open();
    expect(wal.recovery.records).toBe(0);
    expect(wal.recovery.reason).toBe("zero-filled header (space never written)");
    expect(wal.recovery.recordsDropped).toBe(0);
  });

  test(
    `Wal.open() after each of ${FLIPS} single-bit flips, memory store (WAL_SEED=${SEED})`,
    () => {
      const tally = newTally();
      const log = memoryLog();
      for (const bit of sampleBits(FLIPS, SEED ^ 0xf1195)) checkCase(log, flipCase(bit), tally);
      addToTotals(tally, "flips");
      expectClean(tally, FLIPS);
    },
    timeoutFor(FLIPS, 5),
  );

  test.each(diskKinds)(
    `Wal.open() after each of ${DISK_FLIPS} single-bit flips, $name store (WAL_SEED=${SEED})`,
    (kind) => {
      const tally = newTally();
      const log = kind.create();
      for (const bit of sampleBits(DISK_FLIPS, SEED ^ 0xd15c)) checkCase(log, flipCase(bit), tally);
      addToTotals(tally, "flips");
      expectClean(tally, DISK_FLIPS);
    },
    timeoutFor(DISK_FLIPS, 100),
  );

  test.each([memoryKind, ...diskKinds])(
    `Wal.open() after each of the ${LOG_SIZE / SECTOR_SIZE} zeroed 512-byte sectors, $name store (WAL_SEED=${SEED})`,
    (kind) => {
      const tally = newTally();
      const log = kind.create();
      const sectors = range(0, LOG_SIZE / SECTOR_SIZE);
      for (const sector of sectors) checkCase(log, sectorCase(sector), tally);
      addToTotals(tally, "sectors");
      expectClean(tally, sectors.length);
    },
    timeoutFor(LOG_SIZE / SECTOR_SIZE, 100),
  );

  describe("negative controls: the checks catch what recovery must never do", () => {
    /** A flipped payload bit in a record in the middle, with intact records after it. */
    const middle = sealed.payloads.findIndex(
      (payload, i) => i >= RECORD_COUNT / 2 && payload.length > 0,
    );
    const damage = flipCase((sealed.lsns[middle]! + HEADER_SIZE) * 8 + 3);

    test("a disk that hides damage (recomputes the damaged record's CRC): a phantom, undetected", () => {
      const inner = memoryLog();
      const hiding: LogUnderTest = {
        open: (options?: WalOptions) => inner.open(options),
        bytes: () => inner.bytes(),
        setBytes(bytes) {
          const healed = bytes.slice();
          sealed.lsns.forEach((lsn, i) => {
            sealFrame(healed, sealed.payloads[i]!.length, lsn);
          });
          inner.setBytes(healed);
        },
      };
      const tally = newTally();
      checkCase(hiding, damage, tally);
      expect(tally.phantom).toBeGreaterThan(0);
      expect(tally.detected).toBe(0);
      expect(tally.mismatches).toBeGreaterThan(0);
      expect(tally.examples.join("\n")).toMatch(/was never written/);
    });

    test("a recovery that cuts one record too many: a lost record", () => {
      const inner = memoryLog();
      const greedy: LogUnderTest = {
        open: (options?: WalOptions) => inner.open(options),
        bytes: () => inner.bytes(),
        setBytes: (bytes) => inner.setBytes(bytes.subarray(0, sealed.lsns[middle - 1]!)),
      };
      const tally = newTally();
      checkCase(greedy, damage, tally);
      expect(tally.lost).toBeGreaterThan(0);
      expect(tally.examples.join("\n")).toMatch(new RegExp(`lost record ${middle - 1}\\b`));
    });

    test("an open that throws something other than a WalError: untyped", () => {
      const broken: LogUnderTest = {
        open: () => {
          throw new RangeError("not a WalError");
        },
        bytes: () => damage.bytes,
        setBytes: () => {},
      };
      const tally = newTally();
      checkCase(broken, damage, tally);
      expect(tally.untyped).toBe(4);
      expect(tally.detected).toBe(0);
    });
  });
});
