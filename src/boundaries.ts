/**
 * @module
 * A sparse index of record boundaries, so `iterFrom(lsn)` can prove `lsn` is where a record
 * starts without scanning the log from its beginning.
 *
 * Why it exists: a CRC check at an arbitrary offset is not proof of a boundary. A log whose
 * payloads carry framed records of their own (a replica storing a primary's frames, say) has
 * valid-looking frames inside payloads, and seeking into one would return garbage. Instead,
 * `iterFrom` starts at the nearest known boundary at or below the target and walks forward
 * over whole records; the target must be one of the starts it passes.
 *
 * Cost: one entry per STRIDE bytes of log (8 bytes of memory per 256 KiB, 32 KiB per GiB),
 * and a seek walks at most STRIDE bytes plus one record.
 */

import { assert } from "./assert.ts";

/** The distance between indexed points, in bytes of log. */
const STRIDE = 256 * 1024;

/** Known record starts: one per stride, plus the frontier below which all starts are known. */
export class RecordBoundaries {
  /** `starts[k]`: the LSN of the first record at or after `base + k * STRIDE`. */
  private starts: number[] = [];
  /** The LSN of the first record in the log (0 until a prefix is dropped). */
  private base: number;
  /** The next stride start that has no entry yet. */
  private nextStride: number;
  /** A record boundary; every record start below it has been observed. */
  frontier: number;

  /** @param base - the LSN of the first record in the log (0 until a prefix is dropped). */
  constructor(base: number) {
    this.base = base;
    this.nextStride = base;
    this.frontier = base;
  }

  /** The log now starts at `base` (`truncateBefore` dropped a prefix): forgets everything. */
  restart(base: number): void {
    this.starts = [];
    this.base = base;
    this.nextStride = base;
    this.frontier = base;
  }

  /**
   * Notes that a whole record occupies `[lsn, next)`. Records are only indexed in order from
   * the frontier; observations elsewhere (an iterator behind it) are ignored, so any reader can
   * report what it walks without coordinating.
   */
  observe(lsn: number, next: number): void {
    if (lsn !== this.frontier) return;
    // A record has a header: the frontier only moves forward.
    assert(next > lsn, "a record must end after it starts");
    while (this.nextStride <= lsn) {
      this.starts.push(lsn);
      this.nextStride += STRIDE;
    }
    this.frontier = next;
  }

  /** The log was cut to `end`, a record boundary: forgets every start at or past it. */
  cut(end: number): void {
    while (this.starts.length > 0 && this.starts[this.starts.length - 1]! >= end) this.starts.pop();
    this.nextStride = this.base + this.starts.length * STRIDE;
    this.frontier = Math.min(this.frontier, end);
  }

  /** The largest known record boundary at or below `target` (`target` ≥ base). */
  floor(target: number): number {
    if (target >= this.frontier) return this.frontier;
    let k = Math.min(Math.floor((target - this.base) / STRIDE), this.starts.length - 1);
    // Entry k may lie past the target when a long record covers the start of its stride.
    while (k > 0 && this.starts[k]! > target) k--;
    return this.starts[k] ?? this.base;
  }
}
