/**
 * @module
 * Where `commit` frames its records until they are written: every commit a thread makes before
 * its next barrier round starts (a loop, a `Promise.all`, many callers in one tick) lands in one
 * buffer, which the round writes with one reservation and one write, then covers with one
 * barrier. A write per commit cost more than the barrier it shared once hundreds of commits
 * shared it (each `pwrite` ~1.5 µs, ~3 µs beside a running `fdatasync`).
 *
 * A staged record has no LSN yet: it gets one when its batch is written. Every other call of
 * the same `Wal` writes the staged records first, so records still get LSNs in call order.
 */

import { HEADER_SIZE, sealFrame } from "./record.ts";

/**
 * One write's worth of staged commits. `lsn` is -1 until the batch is written, then the LSN of
 * its first record; a commit's LSN is `lsn` plus its offset in the batch.
 */
export interface CommitBatch {
  lsn: number;
  /** The log's cut count when the batch was written (see `SharedLog.goal`). */
  cuts: number;
  /** Set when writing the batch failed: every commit in it rejects with this. */
  error: unknown;
}

/** The most bytes of frames staged before they are written, whatever the round is doing. */
export const COMMIT_STAGING_LIMIT = 4 * 1024 * 1024;

/** The frames of the commits staged since the last write, and the batch they will form. */
export class CommitStaging {
  /** The staged frames, back to back, in `frames[0..bytes)`. */
  frames = new Uint8Array(0);
  bytes = 0;
  /** How many records are staged. */
  count = 0;
  /** The batch the staged records will be written as. */
  batch: CommitBatch = newBatch();

  /**
   * Frames `payload` after the staged records and returns its offset in the batch. The caller
   * checked its size, and that it fits under {@link COMMIT_STAGING_LIMIT} with the rest.
   */
  stage(payload: Uint8Array): number {
    const offset = this.bytes;
    const end = offset + HEADER_SIZE + payload.length;
    if (end > this.frames.length) {
      // Doubling: a burst of commits costs a logarithmic number of copies, then none.
      const grown = new Uint8Array(
        Math.min(COMMIT_STAGING_LIMIT, Math.max(end, this.frames.length * 2, 4096)),
      );
      grown.set(this.frames.subarray(0, offset));
      this.frames = grown;
    }
    this.frames.set(payload, offset + HEADER_SIZE);
    sealFrame(this.frames, payload.length, offset);
    this.bytes = end;
    this.count++;
    return offset;
  }

  /** Starts a new batch after the staged one was written (or failed); keeps the buffer. */
  reset(): void {
    this.bytes = 0;
    this.count = 0;
    this.batch = newBatch();
  }
}

function newBatch(): CommitBatch {
  return { lsn: -1, cuts: 0, error: undefined };
}
