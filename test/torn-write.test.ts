/**
 * A crash mid-append leaves a torn tail: any prefix of the bytes the log held. Recovery must keep
 * exactly the records wholly inside that prefix, cut the rest, and let the next append land on
 * the boundary it cut to. Run over both stores, cutting the log at every byte offset.
 */

import { describe, expect, test } from "bun:test";
import type { Wal, WalRecord } from "../src/index.ts";
import { SCAN_CHUNK_SIZE } from "../src/scan.ts";
import { mulberry32, randomBytes } from "./support/random.ts";
import {
  allStoreKinds,
  type LogUnderTest,
  SEGMENT_SIZE,
  type StoreKind,
} from "./support/stores.ts";
import { tempDir } from "./support/temp.ts";

const dir = tempDir();
const utf8 = new TextEncoder();

/** The payload the torn-tail tests append after recovery, to prove the boundary is clean. */
const MARKER = utf8.encode("appended after recovery");

/** Larger than one scan chunk, so it crosses the scanner's 1 MiB refill. */
const BIG_RECORD_SIZE = SCAN_CHUNK_SIZE + 20_011;

/** Small records of every awkward size: empty, one byte, strings, a few KiB. */
function smallPayloads(next: () => number): Uint8Array[] {
  return [
    new Uint8Array(0),
    Uint8Array.of(0x5a),
    utf8.encode("a"),
    utf8.encode("a state change"),
    new Uint8Array(0),
    randomBytes(next, 7),
    utf8.encode("a somewhat longer string record, with ünïcödé"),
    randomBytes(next, 3 * 1024 + 17),
    new Uint8Array(0),
    randomBytes(next, 4096),
    utf8.encode("z"),
  ];
}

/**
 * The memory store's record set: the small records, then one record over 1 MiB, then a few
 * small ones after it (so a cut past the big record must scan through it).
 */
function memoryPayloads(): Uint8Array[] {
  const next = mulberry32(0x7042);
  return [
    ...smallPayloads(next),
    randomBytes(next, BIG_RECORD_SIZE),
    utf8.encode("after the big record"),
    new Uint8Array(0),
    Uint8Array.of(1),
  ];
}

/**
 * The file store's record set is smaller: every reopen of a file costs an open, a lock, a
 * directory sync and a durable truncate, so it drops the 3 KiB and 4 KiB records (keeping the
 * file under ~30 s on 2 cores). It keeps the record over 1 MiB, sampled as for the memory store.
 */
function filePayloads(): Uint8Array[] {
  const next = mulberry32(0xf11e);
  const small = smallPayloads(next).filter((p) => p.length < 1024);
  return [
    ...small,
    randomBytes(next, 1500),
    randomBytes(next, BIG_RECORD_SIZE),
    utf8.encode("after"),
    new Uint8Array(0),
  ];
}

/** The frames' start offsets (LSNs) and the log's end, for payloads appended from LSN 0. */
function layout(payloads: Uint8Array[]): { lsns: number[]; total: number } {
  const lsns: number[] = [];
  let at = 0;
  for (const payload of payloads) {
    lsns.push(at);
    at += 8 + payload.length;
  }
  return { lsns, total: at };
}

/**
 * Every byte offset would be too slow across the large record (each cut there re-reads over a
 * megabyte), so the offsets are: every offset up to 64 bytes into the large record (the whole
 * small part, every header byte included); every offset within 64 bytes of each record
 * boundary and of the scanner's chunk size; every 4093rd offset (a prime, so the samples fall at
 * every phase of the 4-byte fields and of any power-of-two buffer); and the end.
 */
function cutOffsets(lsns: number[], total: number, denseEnd: number): number[] {
  const marks = [...lsns, total, SCAN_CHUNK_SIZE];
  const near = (offset: number) => marks.some((mark) => Math.abs(offset - mark) <= 64);
  const offsets: number[] = [];
  for (let offset = 0; offset <= total; offset++) {
    if (offset <= denseEnd || near(offset) || offset % 4093 === 0 || offset === total) {
      offsets.push(offset);
    }
  }
  return offsets;
}

/** The sweeps reopen the log hundreds of times; a segmented log syncs each segment per open. */
const SWEEP_TIMEOUT = 60_000;

/**
 * The cut offsets `kind` checks: all of them, except over segmented logs, where every reopen
 * syncs each segment: there, every 41st offset and every one within 4 bytes of a segment edge.
 */
function sampledFor(kind: StoreKind, offsets: number[]): number[] {
  if (kind.name !== "segmented") return offsets;
  const nearEdge = (offset: number) => {
    const local = offset % SEGMENT_SIZE;
    return local <= 4 || local >= SEGMENT_SIZE - 4;
  };
  return offsets.filter(
    (offset, i) => i % 41 === 0 || nearEdge(offset) || i === offsets.length - 1,
  );
}

/** Appends the payloads to a new log, closes it, and returns the log with its raw bytes. */
function writeLog(
  kind: StoreKind,
  payloads: Uint8Array[],
): { log: LogUnderTest; image: Uint8Array } {
  const log = kind.create();
  {
    using wal = log.open();
    for (const payload of payloads) wal.append(payload);
    wal.sync();
  }
  return { log, image: log.bytes() };
}

/** Fails unless `records` are exactly the first records of the log, at their LSNs. */
function expectRecords(
  records: WalRecord[],
  lsns: number[],
  payloads: Uint8Array[],
  context: string,
): void {
  expect(records.length, context).toBe(payloads.length);
  // One comparison loop and one assertion: thousands of cuts each check thousands of records,
  // and Buffer.equals is much faster than toEqual on a megabyte.
  const mismatch = records.findIndex(
    (record, i) => record.lsn !== lsns[i] || !Buffer.from(record.data).equals(payloads[i]!),
  );
  expect(mismatch, `${context}: first record that differs`).toBe(-1);
}

/**
 * Cuts the log's bytes at `offset`, reopens it, and checks everything recovery promises; then
 * appends a marker and reopens again to see it land on the boundary and read back.
 */
function checkCut(
  log: LogUnderTest,
  image: Uint8Array,
  lsns: number[],
  payloads: Uint8Array[],
  offset: number,
): void {
  const whole = lsns.filter((lsn, i) => lsn + 8 + payloads[i]!.length <= offset).length;
  const boundary = whole === 0 ? 0 : lsns[whole - 1]! + 8 + payloads[whole - 1]!.length;
  const kept = payloads.slice(0, whole);
  const context = `cut at ${offset} (boundary ${boundary})`;

  log.setBytes(image.subarray(0, offset));
  let wal: Wal = log.open();
  try {
    expect(wal.len, context).toBe(boundary);
    expect(wal.recovery.storeSize, context).toBe(offset);
    expect(wal.recovery.end, context).toBe(boundary);
    expect(wal.recovery.records, context).toBe(whole);
    expect(wal.recovery.bytesDropped, context).toBe(offset - boundary);
    if (offset === boundary) expect(wal.recovery.reason, context).toBeNull();
    else expect(wal.recovery.reason, context).toMatch(/incomplete (header|payload)/);
    expectRecords([...wal.iter()], lsns, kept, context);
    expect(wal.append(MARKER), context).toBe(boundary);
    wal.sync();
  } finally {
    wal.close();
  }

  wal = log.open();
  try {
    expect(wal.recovery.bytesDropped, context).toBe(0);
    expect(wal.len, context).toBe(boundary + 8 + MARKER.length);
    expectRecords([...wal.iter()], [...lsns.slice(0, whole), boundary], [...kept, MARKER], context);
  } finally {
    wal.close();
  }
}

describe.each(allStoreKinds(dir))("$name store", (kind) => {
  const payloads = kind.name === "memory" ? memoryPayloads() : filePayloads();
  const { lsns, total } = layout(payloads);
  const bigIndex = payloads.findIndex((p) => p.length === BIG_RECORD_SIZE);
  const bigLsn = lsns[bigIndex]!;

  test(
    "Wal.open() cuts a torn tail at every offset of the small records, and samples the large one",
    () => {
      // The set's premise: a record over 1 MiB that crosses the first scan chunk, empty and
      // one-byte records.
      expect(bigLsn).toBeLessThan(SCAN_CHUNK_SIZE);
      expect(bigLsn + 8 + BIG_RECORD_SIZE).toBeGreaterThan(SCAN_CHUNK_SIZE);
      expect(payloads.some((p) => p.length === 0)).toBe(true);
      expect(payloads.some((p) => p.length === 1)).toBe(true);
      const { log, image } = writeLog(kind, payloads);
      expect(image.length).toBe(total);
      const offsets = cutOffsets(lsns, total, bigLsn + 64);
      // Every offset of the small part, the whole large record sampled.
      expect(offsets.slice(0, bigLsn + 65)).toEqual(
        Array.from({ length: bigLsn + 65 }, (_, i) => i),
      );
      expect(offsets.at(-1)).toBe(total);
      for (const offset of sampledFor(kind, offsets)) checkCut(log, image, lsns, payloads, offset);
    },
    SWEEP_TIMEOUT,
  );

  test(
    "Wal.open() cuts a torn tail inside a small record that straddles a scan chunk",
    () => {
      // 1000-byte records past 1 MiB: one of them spans the end of the scanner's first chunk, so
      // reading it slides the chunk rather than allocating a larger buffer.
      const next = mulberry32(0x5151);
      const straddling = Array.from({ length: 1060 }, () => randomBytes(next, 1000));
      const layoutOf = layout(straddling);
      const { log, image } = writeLog(kind, straddling);
      const index = layoutOf.lsns.findIndex((lsn) => lsn + 1008 > SCAN_CHUNK_SIZE);
      const start = layoutOf.lsns[index]!;
      expect(start).toBeLessThan(SCAN_CHUNK_SIZE);
      // Every offset around the record's header, its end and the chunk edge; every 97th between.
      const offsets = new Set<number>();
      for (let offset = start - 16; offset <= start + 1008 + 16; offset++) {
        const nearEdge = [start, start + 1008, SCAN_CHUNK_SIZE].some(
          (m) => Math.abs(offset - m) <= 24,
        );
        if (nearEdge || offset % 97 === 0) offsets.add(offset);
      }
      offsets.add(layoutOf.total);
      offsets.add(layoutOf.total - 1);
      for (const offset of sampledFor(kind, [...offsets])) {
        checkCut(log, image, layoutOf.lsns, straddling, offset);
      }
    },
    SWEEP_TIMEOUT,
  );

  test("Wal.open() of a tail whose last byte is garbage instead of missing keeps the prefix", () => {
    const { log, image } = writeLog(kind, payloads.slice(0, bigIndex));
    const last = bigIndex - 1;
    expect(payloads[last]!.length).toBeGreaterThan(0); // its final byte is payload, under the CRC
    const damaged = image.slice();
    damaged[damaged.length - 1]! ^= 0xff;
    log.setBytes(damaged);
    using wal = log.open();
    expect(wal.len).toBe(lsns[last]!);
    expect(wal.recovery.records).toBe(last);
    expect(wal.recovery.bytesDropped).toBe(8 + payloads[last]!.length);
    expect(wal.recovery.reason).toMatch(/checksum mismatch/);
    expectRecords([...wal.iter()], lsns, payloads.slice(0, last), "garbage tail");
    expect(wal.append(MARKER)).toBe(lsns[last]!);
  });

  test("Wal.open() of a tail whose header is torn into garbage keeps the prefix", () => {
    // The crash wrote a header of random bytes but no payload: a length that runs past the end.
    const { log, image } = writeLog(kind, payloads.slice(0, 4));
    const { total: end } = layout(payloads.slice(0, 4));
    const damaged = new Uint8Array(end + 8);
    damaged.set(image);
    damaged.set([0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0x0f], end);
    log.setBytes(damaged);
    using wal = log.open();
    expect(wal.len).toBe(end);
    expect(wal.recovery.bytesDropped).toBe(8);
    expect(wal.recovery.reason).toMatch(/incomplete payload/);
    expectRecords([...wal.iter()], lsns, payloads.slice(0, 4), "garbage header");
  });

  test.each([
    [4096, /zero-filled/],
    [8, /zero-filled/],
    [5, /incomplete header/],
    [1024 * 1024 + 3, /zero-filled/],
  ])(
    "Wal.open() of valid records then %i zero bytes (preallocated space) keeps the records",
    (zeros, reason) => {
      const kept = payloads.slice(0, 6);
      const { total: end } = layout(kept);
      const { log, image } = writeLog(kind, kept);
      const padded = new Uint8Array(end + zeros);
      padded.set(image);
      log.setBytes(padded);
      {
        using wal = log.open();
        expect(wal.len).toBe(end);
        expect(wal.recovery.records).toBe(kept.length);
        expect(wal.recovery.storeSize).toBe(end + zeros);
        expect(wal.recovery.bytesDropped).toBe(zeros);
        expect(wal.recovery.reason).toMatch(reason);
        expectRecords([...wal.iter()], lsns, kept, `${zeros} zeros`);
        expect(wal.append(MARKER)).toBe(end);
      }
      // The zeros were cut, and the marker follows the records directly.
      expect(log.bytes().length).toBe(end + 8 + MARKER.length);
    },
  );
});
