/**
 * What a log reports about itself: `stats()` (barriers and their latency, records per barrier,
 * segments, truncations, damage met), the `onSlowSync` hook, and `checksum(from, to)`, which
 * must equal the CRC-32C of the bytes in the range and tell two logs apart by one record.
 */

import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { crc32c } from "../src/crc32c.ts";
import { MemoryStore, Wal } from "../src/index.ts";
import { walErrorOf } from "./support/errors.ts";
import { seededRecords } from "./support/random.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();
const { payloads } = seededRecords(0x3e7, 30, 500);

/**
 * Barrier times are read from `performance.now`. A test that checks them runs on a fake clock
 * (`onFakeClock`), which only a slow store moves: so the figures are exact and no loaded
 * machine can move them, and nothing sleeps.
 */
let fakeNow = 0;

/** Runs `body` with `performance.now` reading the fake clock, then puts the real one back. */
async function onFakeClock(body: () => void | Promise<void>): Promise<void> {
  const real = performance.now;
  performance.now = () => fakeNow;
  try {
    await body();
  } finally {
    performance.now = real;
  }
}

/** A MemoryStore whose barrier takes `delayMs` on the fake clock (a slow disk). */
function slowStore(delayMs: number): MemoryStore {
  const store = new MemoryStore();
  const sync = store.sync.bind(store);
  store.sync = () => {
    fakeNow += delayMs;
    sync();
  };
  return store;
}

describe("stats()", () => {
  test("counts barriers with their latency, records per barrier and truncations", async () => {
    await onFakeClock(countsBarriers);
  });

  async function countsBarriers(): Promise<void> {
    using wal = Wal.withStore(slowStore(3));
    expect(wal.stats()).toMatchObject({
      appends: 0,
      barriers: 0,
      recordsPerBarrier: 0,
      barrierLatency: { count: 0, p50: 0, p99: 0, max: 0 },
    });
    for (let i = 0; i < 4; i++) wal.appendAndSync(payloads[i]!);
    await Promise.all(payloads.slice(4, 12).map((p) => wal.commit(p)));
    const lsn = wal.append(payloads[12]!);
    wal.append(payloads[13]!);
    wal.sync();
    wal.truncateAfter(lsn);
    const stats = wal.stats();
    expect(stats.appends).toBe(14);
    expect(stats.barriers).toBeGreaterThanOrEqual(6);
    expect(stats.barrierLatency.count).toBe(stats.barriers);
    expect(stats.recordsPerBarrier).toBeCloseTo(14 / stats.barriers, 10);
    // Every barrier took 3 ms: the buckets' bound is capped by the exact maximum.
    expect(stats.barrierLatency).toMatchObject({ p50: 3, p99: 3, max: 3 });
    expect(stats.truncations).toBe(1);
    expect(stats.slowSyncs).toBe(0);
  }

  test("counts segments created and deleted, and damage met at open and by iteration", () => {
    const logDir = join(dir, "segments");
    {
      using wal = Wal.open(logDir, { segmentSize: 4096 });
      // Each payload eight times over: tens of KB, so that many 4 KiB segments come and go.
      const lsns = payloads.map((p) => wal.append(Buffer.concat(Array(8).fill(p))));
      wal.sync();
      const created = wal.stats().segmentsCreated;
      expect(created).toBe(Math.ceil(wal.len / 4096));
      expect(created).toBeGreaterThan(8);
      wal.truncateBefore(lsns[20]!);
      expect(wal.stats().segmentsDeleted).toBe(Math.floor(lsns[20]! / 4096));
      expect(wal.stats().truncations).toBe(1);
    }
    const path = logPath(dir);
    let lsns: number[];
    {
      using wal = Wal.open(path, { preallocate: 0 });
      lsns = payloads.map((p) => wal.append(p));
      wal.sync();
      expect(wal.stats().corruptionsSeen).toBe(0);
    }
    const image = new Uint8Array(readFileSync(path));
    image[lsns[5]! + 8]! ^= 1; // two damaged records with valid ones after each
    image[lsns[15]! + 8]! ^= 1;
    writeFileSync(path, image);
    using wal = Wal.open(path, { recovery: "skip" });
    expect(wal.stats().corruptionsSeen).toBe(2);
    expect([...wal.iter()]).toHaveLength(payloads.length - 2);
    expect(wal.stats().corruptionsSeen).toBe(4);
  });
});

describe("onSlowSync", () => {
  test("is called with the barrier's time when it reaches slowSyncThreshold, and only then", () =>
    onFakeClock(callsOnSlowSync));

  async function callsOnSlowSync(): Promise<void> {
    const slow: number[] = [];
    using wal = Wal.withStore(slowStore(30), {
      slowSyncThreshold: 20,
      onSlowSync: (ms) => slow.push(ms),
    });
    wal.appendAndSync("one");
    await wal.commit("two");
    expect(slow).toEqual([30, 30]);
    expect(wal.stats().slowSyncs).toBe(2);
    using fast = Wal.withStore(new MemoryStore(), {
      slowSyncThreshold: 1000,
      onSlowSync: (ms) => slow.push(ms),
    });
    fast.appendAndSync("three");
    expect(slow).toHaveLength(2);
    expect(
      walErrorOf(() => Wal.withStore(new MemoryStore(), { onSlowSync: 5 } as never)).code,
    ).toBe("INVALID_ARGUMENT");
  }
});

describe("checksum(from, to)", () => {
  test("is the CRC-32C of the log's bytes in the range, and tells logs apart", () => {
    const path = logPath(dir);
    using wal = Wal.open(path, { preallocate: 0 });
    const lsns = payloads.map((p) => wal.append(p));
    wal.sync();
    const bytes = new Uint8Array(readFileSync(path));
    expect(wal.checksum(0, wal.len)).toBe(crc32c(bytes));
    expect(wal.checksum(lsns[3]!, lsns[9]!)).toBe(crc32c(bytes, lsns[3]!, lsns[9]!));
    expect(wal.checksum(lsns[4]!, lsns[4]!)).toBe(0);
    using replica = Wal.withStore(new MemoryStore());
    payloads.forEach((p, i) => {
      replica.append(i === 7 ? p.map((b) => b ^ 1) : p);
    });
    expect(replica.checksum(0, lsns[7]!)).toBe(wal.checksum(0, lsns[7]!));
    expect(replica.checksum(lsns[7]!, lsns[8]!)).not.toBe(wal.checksum(lsns[7]!, lsns[8]!));
    expect(replica.checksum(lsns[8]!, replica.len)).toBe(wal.checksum(lsns[8]!, wal.len));
  });

  test("ends that are not record boundaries of the log are INVALID_ARGUMENT", () => {
    using wal = Wal.withStore(new MemoryStore());
    const lsns = wal.appendBatch(["aaaa", "bbbb", "cccc"]);
    for (const [from, to] of [
      [lsns[0]! + 1, lsns[2]!],
      [lsns[0]!, lsns[2]! + 3],
      [lsns[2]!, lsns[1]!],
      [0, wal.len + 1],
      [-1, 4],
      [0.5, 4],
    ] as const) {
      expect(walErrorOf(() => wal.checksum(from, to)).code, `${from}..${to}`).toBe(
        "INVALID_ARGUMENT",
      );
    }
  });
});
