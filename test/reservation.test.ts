/**
 * The reservation protocol (src/reservation.ts, rules 1, 2 and 10 of commit.ts) with the
 * rebase point lowered from 1 GiB to a few hundred bytes, so the base moves every few
 * reservations: alone, across a cut, and from four Workers at once while the main thread
 * reads the watermark.
 */

import { describe, expect, test } from "bun:test";
import { SharedLog } from "../src/commit.ts";
import { I_OFFSET } from "../src/shared-layout.ts";
import type { ReservationTask } from "./reservation-worker.ts";
import { mulberry32 } from "./support/random.ts";

const START = 1_000_000_007;

describe("reservations while the base moves", () => {
  test("one thread: every LSN follows the last, across rebases, large writes and a cut", () => {
    const shared = SharedLog.create(START, 0, 1000, undefined, 100);
    const random = mulberry32(7);
    let end = START;
    let rebasesSeen = 0;
    for (let k = 0; k < 3000; k++) {
      // Mostly under the rebase point; some cross it, some (> 100) move the base themselves.
      const size = 8 + (random() % 150);
      const slot = shared.takeWriteSlot(0);
      const lsn = shared.reserve(slot, size);
      expect(lsn).toBe(end);
      // While the write is in flight the watermark stops at it; the next LSN is past it.
      expect(shared.written()).toBe(lsn);
      expect(shared.reserved).toBe(lsn + size);
      shared.releaseWriteSlot(slot, 1);
      end = lsn + size;
      expect(shared.written()).toBe(end);
      if (size > 100) rebasesSeen++;
      if (k === 1500) {
        end -= 500;
        const cutTo = end;
        shared.exclusive(shared.newId(), () => shared.cut(cutTo));
        expect(shared.reserved).toBe(end);
        expect(shared.written()).toBe(end);
      }
    }
    expect(rebasesSeen).toBeGreaterThan(100);
  });

  test("a rebase waits for a write counted from the old base: one that never ends stalls it", () => {
    const shared = SharedLog.create(0, 0, 50, undefined, 16);
    // Another thread's write, reserved and never finished (a Worker that died mid-append).
    const stuck = shared.takeWriteSlot(0);
    expect(shared.reserve(stuck, 10)).toBe(0);
    const slot = shared.takeWriteSlot(1);
    // 10 + 10 crosses 16: this one must rebase, and may not move the base under the first.
    expect(() => shared.reserve(slot, 10)).toThrow(expect.objectContaining({ code: "STALLED" }));
    // Nothing was reserved for the rebaser: the log still ends after the stuck write.
    expect(shared.written()).toBe(0);
    expect(shared.reserved).toBe(10);
  });

  test("a rebaser that dies before it says where the log ends stalls the log; no read hangs", () => {
    const shared = SharedLog.create(0, 0, 50, undefined, 16);
    const slot = shared.takeWriteSlot(0);
    expect(shared.reserve(slot, 10)).toBe(0);
    // What a writer that crossed the rebase point and died at once leaves: OFFSET past it,
    // LOCKED_END never published.
    Atomics.add(new Int32Array(shared.buffer), I_OFFSET, 10);
    expect(shared.written()).toBe(0);
    expect(shared.reserved).toBeGreaterThanOrEqual(10);
    expect(() => shared.takeWriteSlot(1)).toThrow(expect.objectContaining({ code: "POISONED" }));
  });

  test("four Workers: the reservations tile the log exactly, and the watermark never passes an unwritten byte", async () => {
    const rebaseAt = 512;
    const count = Number(process.env.WAL_DB_RESERVATIONS ?? 5000);
    const maxSize = 600; // past rebaseAt: some writes move the base themselves
    const shared = SharedLog.create(START, 0, 10_000, undefined, rebaseAt);
    const disk = new Uint8Array(new SharedArrayBuffer(4 * count * maxSize));
    const workers = Array.from(
      { length: 4 },
      () => new Worker(new URL("./reservation-worker.ts", import.meta.url)),
    );
    const results: [number, number][][] = [];
    const finished = Promise.all(
      workers.map(
        (worker, index) =>
          new Promise<void>((resolve, reject) => {
            worker.onmessage = (event: MessageEvent<[number, number][]>) => {
              results[index] = event.data;
              resolve();
            };
            worker.onerror = (event) => reject(new Error(event.message));
            const task: ReservationTask = {
              buffer: shared.buffer,
              disk,
              start: START,
              worker: index,
              count,
              seed: 100 + index,
              maxSize,
            };
            worker.postMessage(task);
          }),
      ),
    );
    let done = false;
    void finished.finally(() => {
      done = true;
    });
    // Meanwhile: the end only grows, and every byte below the watermark is written (rule 2),
    // whatever the base is doing. (The watermark itself may dip: a writer taking a slot holds
    // the LSN of the slot's earlier write for a moment.)
    let checked = START;
    let lastReserved = START;
    let reads = 0;
    while (!done) {
      const written = shared.written();
      const reserved = shared.reserved;
      expect(reserved).toBeGreaterThanOrEqual(lastReserved);
      expect(written).toBeLessThanOrEqual(shared.reserved);
      if (written > checked) {
        expect(disk.subarray(checked - START, written - START).indexOf(0)).toBe(-1);
        checked = written;
      }
      lastReserved = reserved;
      reads++;
      await Bun.sleep(0);
    }
    await finished;
    for (const worker of workers) worker.terminate();
    const all = results.flat().sort((a, b) => a[0] - b[0]);
    expect(all.length).toBe(4 * count);
    let end = START;
    for (const [lsn, size] of all) {
      expect(lsn).toBe(end);
      end += size;
    }
    expect(shared.reserved).toBe(end);
    expect(shared.written()).toBe(end);
    expect(disk.subarray(0, end - START).indexOf(0)).toBe(-1);
    expect(reads).toBeGreaterThan(0);
  }, 60_000);
});
