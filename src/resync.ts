/**
 * @module
 * Finding the next valid record after damage, in time linear in the bytes searched.
 *
 * After damage a length field cannot be trusted, so every offset is a candidate: a record may
 * start at any byte. Checking a candidate by computing the CRC over its payload would cost its
 * length, and payloads full of small integers make most offsets plausible candidates, so the
 * naive search is quadratic (a 64 KiB region of such words took half a second, 128 KiB two).
 *
 * Instead the search keeps a running CRC. With `C(x)` the CRC-32C of the bytes from the origin
 * to `x`, the CRC of any range `[a, b)` is `C(b) ^ crc32cCombine(C(a), 0, b - a)`
 * (src/crc32c.ts). `C` at each candidate's start advances one byte per offset; `C` at its end
 * comes from a checkpoint stored every {@link CHECKPOINT_SPACING} bytes plus at most that many
 * bytes of CRC. So a candidate costs a bounded amount of work whatever its length, and memory is
 * one read buffer and one checkpoint per spacing over at most `maxRecordSize` bytes ahead.
 */

import type { ByteSource } from "./byte-source.ts";
import { crc32c, crc32cCombine } from "./crc32c.ts";
import { HEADER_SIZE, LENGTH_OFFSET, readU32 } from "./record.ts";

/** Bytes between stored running CRCs: each candidate reads and checksums at most this many. */
const CHECKPOINT_SPACING = 256;
/** The forward readers' buffer size. */
const READ_CHUNK = 64 * 1024;

/**
 * The offset of the first whole, checksum-valid record starting in `[origin, before)` of
 * `source` and ending by `end`, with a payload of at most `maxRecordSize` bytes; `end` when
 * there is none (or the source holds fewer bytes than `end`). `before` defaults to `end`.
 */
export function findNextRecord(
  source: ByteSource,
  origin: number,
  end: number,
  maxRecordSize: number,
  before = end,
): number {
  if (end - origin < HEADER_SIZE) return end;
  // Built on the first candidate too long to check from the chunk: a search through random
  // bytes or zeros never needs it (its ring is maxRecordSize / 64 bytes).
  let checkpoints: RunningCrc | null = null;
  const chunk = new Uint8Array(Math.min(READ_CHUNK, end - origin));
  // C(crcPosition) = crc: advanced lazily, only when a plausible candidate needs it, so an
  // offset whose length field does not fit costs one read of that field.
  let crc = 0;
  let crcPosition = origin;
  let candidate = origin;
  while (candidate + HEADER_SIZE <= end && candidate < before) {
    // The chunk holds [chunkStart, chunkStart + filled): the headers of the candidates tried in
    // this pass, and every byte C has yet to cover (crcPosition is never below candidate).
    const chunkStart = candidate;
    const filled = source.read(
      chunk.subarray(0, Math.min(chunk.length, end - chunkStart)),
      chunkStart,
    );
    const last = chunkStart + filled - HEADER_SIZE;
    if (last < candidate) return end; // the source holds fewer bytes than `end`
    for (const stop = Math.min(last, before - 1); candidate <= stop; candidate++) {
      const at = candidate - chunkStart;
      const length = readU32(chunk, at + LENGTH_OFFSET);
      if (length > maxRecordSize || length > end - candidate - HEADER_SIZE) continue;
      if (length <= CHECKPOINT_SPACING && at + HEADER_SIZE + length <= filled) {
        // A short frame in the chunk: its own CRC costs no more than the running one would.
        if (crc32c(chunk, at + LENGTH_OFFSET, at + HEADER_SIZE + length) === readU32(chunk, at)) {
          return candidate;
        }
        continue;
      }
      const coverage = candidate + LENGTH_OFFSET;
      crc = crc32c(chunk, crcPosition - chunkStart, coverage - chunkStart, crc);
      crcPosition = coverage;
      const recordEnd = candidate + HEADER_SIZE + length;
      checkpoints ??= new RunningCrc(source, origin, end, Math.min(maxRecordSize, end - origin));
      const crcToEnd = checkpoints.at(recordEnd, chunk, chunkStart, filled);
      if (crcToEnd < 0) return end;
      const covered = recordEnd - coverage;
      const actual = (crcToEnd ^ crc32cCombine(crc, 0, covered)) >>> 0;
      if (actual === readU32(chunk, at)) return candidate;
    }
    // Keep C's position inside the next chunk, which starts at the first untried candidate
    // (a plausible candidate may have left it up to 3 bytes past that already).
    if (crcPosition < candidate) {
      crc = crc32c(chunk, crcPosition - chunkStart, candidate - chunkStart, crc);
      crcPosition = candidate;
    }
  }
  return end;
}

/**
 * C(x), the CRC-32C of `[origin, x)`, for any `x` up to `reach` bytes past the last one asked:
 * checkpoints every {@link CHECKPOINT_SPACING} bytes in a ring, computed ahead as needed by a
 * forward pass, then at most that many bytes more per question.
 */
class RunningCrc {
  private readonly ring: Int32Array;
  private readonly reader: ForwardReader;
  /** Checkpoints 0..computed-1 have been computed (the oldest ones overwritten in the ring). */
  private computed = 1;
  /** The bytes after a checkpoint, when neither the caller's chunk nor the reader holds them. */
  private readonly scratch = new Uint8Array(CHECKPOINT_SPACING);

  constructor(
    private readonly source: ByteSource,
    private readonly origin: number,
    private readonly end: number,
    reach: number,
  ) {
    this.ring = new Int32Array(Math.ceil((reach + HEADER_SIZE) / CHECKPOINT_SPACING) + 2);
    this.ring[0] = 0; // C(origin): the CRC of nothing
    this.reader = new ForwardReader(source, end);
  }

  /**
   * C(x), or -1 when the source holds fewer bytes than asked. The bytes between the checkpoint
   * and `x` come from `window` (the caller's chunk, which starts at `windowStart` and holds
   * `windowFilled` bytes) or this object's own buffer when either holds them, so that a dense
   * run of short candidates (a zero-filled region: every offset has length 0) costs no read.
   */
  at(x: number, window: Uint8Array, windowStart: number, windowFilled: number): number {
    const index = Math.floor((x - this.origin) / CHECKPOINT_SPACING);
    while (this.computed <= index) {
      const from = this.origin + (this.computed - 1) * CHECKPOINT_SPACING;
      const at = this.reader.hold(from, CHECKPOINT_SPACING);
      if (at < 0) return -1;
      const previous = this.ring[(this.computed - 1) % this.ring.length]!;
      const next = crc32c(this.reader.buffer, at, at + CHECKPOINT_SPACING, previous >>> 0);
      this.ring[this.computed % this.ring.length] = next;
      this.computed++;
    }
    const checkpoint = this.ring[index % this.ring.length]! >>> 0;
    const from = this.origin + index * CHECKPOINT_SPACING;
    if (x === from) return checkpoint;
    if (from >= windowStart && x <= windowStart + windowFilled) {
      return crc32c(window, from - windowStart, x - windowStart, checkpoint);
    }
    const buffered = this.reader.indexOf(from, x - from);
    if (buffered >= 0) {
      return crc32c(this.reader.buffer, buffered, buffered + x - from, checkpoint);
    }
    const view = this.scratch.subarray(0, x - from);
    if (x > this.end || this.source.read(view, from) < view.length) return -1;
    return crc32c(view, 0, view.length, checkpoint);
  }
}

/** Buffered reads of a source at non-decreasing positions. */
class ForwardReader {
  readonly buffer = new Uint8Array(READ_CHUNK);
  private position = 0;
  private filled = 0;

  constructor(
    private readonly source: ByteSource,
    private readonly end: number,
  ) {}

  /** Where `[position, position + size)` is in the buffer, or -1 when it is not all there. */
  indexOf(position: number, size: number): number {
    return position >= this.position && position + size <= this.position + this.filled
      ? position - this.position
      : -1;
  }

  /** Buffers `[position, position + size)` (size ≤ the chunk); its index, or -1 if short. */
  hold(position: number, size: number): number {
    const index = this.indexOf(position, size);
    if (index >= 0) return index;
    const want = Math.min(READ_CHUNK, this.end - position);
    this.position = position;
    this.filled = want > 0 ? this.source.read(this.buffer.subarray(0, want), position) : 0;
    return this.filled >= size ? 0 : -1;
  }
}

/**
 * The start of a whole, valid record that begins before `position` and ends after it, or -1
 * when none does: evidence that `position` is not a record boundary at all. Recovery asks it
 * when the record at a segmented log's head is damaged with nothing valid after it: a torn
 * append there is normal, but a valid record spanning the head means the bytes are read at the
 * wrong offsets (the log opened with another segment size), and cutting would destroy them.
 */
export function findRecordSpanning(
  source: ByteSource,
  position: number,
  end: number,
  maxRecordSize: number,
): number {
  const header = new Uint8Array(HEADER_SIZE);
  // The source may hold nothing below some point (a segmented log's first segment): start at
  // the lowest readable byte within reach, found by bisection since what is held is a suffix.
  let origin = Math.max(0, position - HEADER_SIZE - maxRecordSize);
  for (let high = position; origin < high; ) {
    const middle = Math.floor((origin + high) / 2);
    if (source.read(header.subarray(0, 1), middle) === 1) high = middle;
    else origin = middle + 1;
  }
  while (origin < position) {
    const found = findNextRecord(source, origin, end, maxRecordSize, position);
    if (found >= position || found >= end) return -1;
    if (source.read(header, found) < HEADER_SIZE) return -1;
    if (found + HEADER_SIZE + readU32(header, LENGTH_OFFSET) > position) return found;
    origin = found + 1;
  }
  return -1;
}
