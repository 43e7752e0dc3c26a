/**
 * A Worker for reservation.test.ts: attaches to a log's shared state, makes `count`
 * reservations of seeded sizes, marks each one's bytes in the shared `disk` before it
 * releases the slot (as a write would), and posts every [lsn, size] it got.
 */

import { SharedLog } from "../src/commit.ts";
import { mulberry32 } from "./support/random.ts";

declare var self: Worker;

/** What the test asks each Worker to do. */
export interface ReservationTask {
  readonly buffer: SharedArrayBuffer;
  /** One byte per LSN from `start`: the Worker sets its bytes to its number + 1. */
  readonly disk: Uint8Array;
  readonly start: number;
  readonly worker: number;
  readonly count: number;
  readonly seed: number;
  /** Sizes are drawn from [8, maxSize]. */
  readonly maxSize: number;
}

self.onmessage = (event: MessageEvent<ReservationTask>) => {
  const task = event.data;
  const shared = SharedLog.attach(task.buffer, 10_000);
  if (shared === null) throw new Error("not a log's shared state");
  const random = mulberry32(task.seed);
  const reservations: [number, number][] = [];
  for (let k = 0; k < task.count; k++) {
    const size = 8 + (random() % (task.maxSize - 7));
    const slot = shared.takeWriteSlot(task.worker);
    const lsn = shared.reserve(slot, size);
    task.disk.fill(task.worker + 1, lsn - task.start, lsn - task.start + size);
    shared.releaseWriteSlot(slot, 1);
    reservations.push([lsn, size]);
  }
  self.postMessage(reservations);
};
