/**
 * The segment table (src/store/segment-table.ts), white-box, in one thread: a write into the
 * next segment rolls only once the newest is whole, counting in an Int32 or, for segments of
 * 2 GiB or more, a BigInt64; a broken table stops every waiter; a segment that never fills
 * stalls once bytes stop arriving; a pinned barrier never runs on an entry that was emptied.
 */

import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Platform, WalError } from "../src/index.ts";
import { currentPlatform } from "../src/platform/index.ts";
import { segmentName } from "../src/store/segment-layout.ts";
import { type SegmentDescriptors, SegmentTable } from "../src/store/segment-table.ts";
import { SegmentedStore } from "../src/store/segmented.ts";

/** A table whose descriptors are fake numbers; closing one records it. */
function tableOf(segmentSize: number, written: number, stallTimeout = 60_000) {
  const closed: number[] = [];
  const table = SegmentTable.create(
    { segmentSize, highest: 0, written, head: 0 },
    (fd) => closed.push(fd),
    stallTimeout,
    () => {
      throw new Error("the test would wait: nothing else can fill the segment");
    },
  );
  table.install(0, { fd: 100, rollFd: 101 });
  const rolls: number[] = [];
  const roll = (index: number): SegmentDescriptors => {
    rolls.push(index);
    return { fd: 200 + index, rollFd: 300 + index };
  };
  return { table, closed, rolls, roll };
}

test.each([
  ["an Int32", 64 * 1024],
  ["a BigInt64 (segments of 4 GiB)", 2 ** 32],
])(
  "WRITTEN counts in %s: the next segment comes once the newest is whole, and only then",
  (_cell, size) => {
    const { table, rolls, roll } = tableOf(size, size - 10);
    expect(table.writable(0, roll)).toBe(100);
    // Segment 0 lacks 10 bytes: a write into segment 1 would wait (the idle seam throws here).
    expect(() => table.writable(1, roll)).toThrow("the test would wait");
    table.wrote(4);
    expect(() => table.writable(1, roll)).toThrow("the test would wait");
    table.wrote(6);
    expect(table.writable(1, roll)).toBe(201);
    expect(rolls).toEqual([1]);
    expect(table.highest).toBe(1);
    expect(table.created).toBe(1);
    // The new segment starts empty.
    expect(() => table.writable(2, roll)).toThrow("the test would wait");
  },
);

test("a broken table stops every writer waiting for a segment with IO", () => {
  const { table, roll } = tableOf(4096, 100);
  table.breakTable();
  const error = (() => {
    try {
      table.writable(1, roll);
    } catch (caught) {
      return caught;
    }
  })();
  expect(error).toBeInstanceOf(WalError);
  expect((error as WalError).code).toBe("IO");
});

test("a segment that never fills stalls the next write once bytes stop arriving, and breaks the table", () => {
  // The wait seam plays the other writers: a byte arrives in each of the first 5 waits, which
  // together outlast the 50 ms stall timeout, so only progress resetting it lets them all run;
  // then none arrives. Every wait sleeps for real, never past the stall timeout.
  const timeouts: number[] = [];
  let waits = 0;
  const table: SegmentTable = SegmentTable.create(
    { segmentSize: 4096, highest: 0, written: 100, head: 0 },
    () => {},
    50,
    (cells, index, value, timeout) => {
      waits++;
      if (waits <= 5) table.wrote(1);
      timeouts.push(timeout);
      Atomics.wait(cells, index, value, 20);
    },
  );
  table.install(0, { fd: 100, rollFd: 101 });
  let code = "";
  try {
    table.writable(1, () => ({ fd: 1, rollFd: 2 }));
  } catch (error) {
    code = (error as WalError).code;
  }
  expect(code).toBe("STALLED");
  expect(waits).toBeGreaterThan(5);
  expect(timeouts.length).toBeGreaterThan(0);
  for (const timeout of timeouts) expect(timeout).toBeLessThanOrEqual(50);
  expect(() => table.writable(1, () => ({ fd: 1, rollFd: 2 }))).toThrow("failed");
});

test("a barrier pins the entry it runs on; an emptied entry runs no barrier and its descriptors close", () => {
  const { table, closed } = tableOf(4096, 0);
  expect(table.pinned(0, (fd) => fd)).toBe(100);
  expect(table.takeRollFd(0)).toBe(101);
  expect(table.takeRollFd(0)).toBe(-1);
  table.forget(0);
  expect(closed).toEqual([100]);
  expect(table.pinned(0, () => "ran")).toBeNull();
  expect(table.descriptors(0)).toBeNull();
});

test("installing a segment into a used entry closes the one it held, both descriptors", () => {
  const { table, closed } = tableOf(4096, 0);
  // Four entries: segment 4 takes segment 0's.
  table.install(4, { fd: 104, rollFd: 105 });
  expect(closed.sort()).toEqual([100, 101]);
  expect(table.descriptors(4)).toEqual({ fd: 104, rollFd: 105 });
});

test("a roll seals the full segment through an open file of its own, not the one leaders sync", () => {
  // Two open files of one segment are each told of a writeback error (DESIGN rule 7), so a
  // roll's barrier and a leader's, running at once, both hear of it. One shared open file would
  // report it to whichever ran first, and the other could return success over lost bytes.
  const dir = mkdtempSync(join(tmpdir(), "wal-db-seal-"));
  try {
    const barriers: { fd: number; path: string }[] = [];
    const real = currentPlatform();
    const platform: Platform = {
      ...real,
      barrier: (fd, path, strength) => {
        barriers.push({ fd, path });
        return real.barrier(fd, path, strength);
      },
    };
    const store = SegmentedStore.open(dir, 4096, { platform });
    try {
      store.write(new Uint8Array(100), 100, 0);
      store.sync(0, 100); // a leader's barrier on segment 0
      store.write(new Uint8Array(4000), 4000, 100); // fills segment 0 and rolls into 1
      const segment0 = join(dir, segmentName(0));
      const onSegment0 = barriers.filter((barrier) => barrier.path === segment0);
      expect(onSegment0).toHaveLength(2);
      const [leader, seal] = onSegment0;
      expect(seal!.fd).not.toBe(leader!.fd);
    } finally {
      store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
