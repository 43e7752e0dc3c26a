/**
 * @module
 * Reading records from a byte source: the scanner that streams `[start, end)` in large chunks
 * and classifies the bytes at each offset (docs/ON_DISK_FORMAT.md, "Reading"; the layout is
 * src/record.ts), and the walk past damage to the end of a range that recovery and the CLI
 * both make. The search for the next valid record after damage is src/resync.ts.
 */

import type { ByteSource } from "./byte-source.ts";
import { Crc32cBatch, crc32c } from "./crc32c.ts";
import { HEADER_SIZE, LENGTH_OFFSET, readU32 } from "./record.ts";
import { findNextRecord } from "./resync.ts";

/** What {@link RecordScanner.next} found at its offset. */
export enum Scan {
  /** A whole record whose CRC matches; its fields are on the scanner. */
  Record = 0,
  /** The offset reached the end of the range: no bytes left. */
  End = 1,
  /** Bytes remain but they are not a valid record; `reason` says why. */
  Invalid = 2,
}

/** How much the scanner reads per call: large enough to make the read cost vanish per record. */
export const SCAN_CHUNK_SIZE = 1024 * 1024;

/**
 * Walks records in `[start, end)` of a byte source (a store), streaming it in chunks. Memory
 * stays bounded by one chunk plus the largest record, whatever the log size: a record longer
 * than the chunk gets a buffer of its own size, allocated only after its length passed both
 * checks (at most `maxRecordSize`, and no longer than the bytes left in the range).
 *
 * Each call to `next()` classifies the bytes at `offset` (docs/ON_DISK_FORMAT.md, "Reading"):
 * - fewer than 8 bytes left: `Invalid`, "incomplete header" (a write torn inside the header);
 * - length above `maxRecordSize`: `Invalid` before any payload byte is read;
 * - payload running past `end`: `Invalid`, "incomplete payload" (a write torn inside the payload);
 * - CRC mismatch: `Invalid` (torn, or damaged on disk; an all-zero header lands here too,
 *   because the CRC-32C of four zero bytes is not zero);
 * - otherwise `Record`: `lsn`, `payloadOffset`, `payloadLength` and `buffer` describe it, valid
 *   until the next call. The scanner never allocates per record.
 */
export class RecordScanner {
  /** LSN of the record found by the last `next()`, or of the invalid bytes. */
  lsn: number;
  /** Where the next `next()` looks: the end of the last record found. */
  offset: number;
  /** Holds the last record found at `buffer[payloadOffset..+payloadLength)`. */
  buffer: Uint8Array;
  payloadOffset = 0;
  payloadLength = 0;
  /** Why the bytes at `lsn` are not a record, after `next()` returned `Invalid`. */
  reason = "";
  /**
   * After `next()` returned `Invalid` because the length exceeds `maxRecordSize` (and not the
   * bytes left), that length; otherwise -1. Lets recovery tell a record written under a larger
   * limit from a torn header before it cuts anything.
   */
  oversizeLength = -1;

  /**
   * No record starts at or past this offset (the store holds only zeros from there to `end`;
   * see src/zero-tail.ts): `resync` tries no candidate there. Defaults to `end`.
   */
  zerosFrom: number;

  /** Store position of `buffer[0]`, and how many bytes from there the buffer holds. */
  private bufferPosition = 0;
  private bufferFilled = 0;

  /**
   * Checksums computed ahead, a buffer's worth of frames in one call (see `checkAhead`): the
   * frame starting at `checkedNext` and each one after it, up to `checkedEnd`, matched its CRC.
   * Store positions, so they survive the buffer sliding.
   */
  private checkedNext = -1;
  private checkedEnd = -1;
  private readonly checkBatch = new Crc32cBatch();

  constructor(
    private readonly source: ByteSource,
    start: number,
    /** Where the range ends: the scanner never reads at or past it. */
    readonly end: number,
    private readonly maxRecordSize: number,
    /**
     * How much to read ahead per call. A reader that expects only a few new records before
     * a zero-filled tail (a live tail) passes less, so that each look reads little of it.
     */
    private readonly chunkSize = SCAN_CHUNK_SIZE,
  ) {
    this.offset = start;
    this.lsn = start;
    this.zerosFrom = end;
    this.buffer = new Uint8Array(Math.min(chunkSize, Math.max(HEADER_SIZE, end - start)));
  }

  /** Classifies the bytes at `offset`; on `Record`, advances `offset` past them. */
  next(): Scan {
    const lsn = this.offset;
    this.lsn = lsn;
    this.oversizeLength = -1;
    const left = this.end - lsn;
    if (left <= 0) return Scan.End;
    if (left < HEADER_SIZE) return this.invalid(`incomplete header: ${left} of 8 bytes`);
    if (!this.hold(lsn, HEADER_SIZE))
      return this.invalid("incomplete header: the store ended early");

    let at = lsn - this.bufferPosition;
    const length = readU32(this.buffer, at + LENGTH_OFFSET);
    if (length > left - HEADER_SIZE) {
      return this.invalid(
        `incomplete payload: length ${length} but ${left - HEADER_SIZE} bytes follow`,
      );
    }
    if (length > this.maxRecordSize) {
      this.oversizeLength = length;
      return this.invalid(`length ${length} exceeds maxRecordSize ${this.maxRecordSize}`);
    }
    if (!this.hold(lsn, HEADER_SIZE + length)) {
      return this.invalid("incomplete payload: the store ended early");
    }

    at = lsn - this.bufferPosition;
    const frameEnd = lsn + HEADER_SIZE + length;
    if (lsn !== this.checkedNext || lsn >= this.checkedEnd) this.checkAhead(lsn);
    if (lsn === this.checkedNext && lsn < this.checkedEnd) {
      this.checkedNext = frameEnd;
      return this.found(at, length);
    }
    const stored = readU32(this.buffer, at);
    const actual = crc32c(this.buffer, at + LENGTH_OFFSET, at + HEADER_SIZE + length);
    if (stored !== actual) {
      return this.invalid(
        stored === 0 && length === 0
          ? "zero-filled header (space never written)"
          : `checksum mismatch: stored ${hex(stored)}, computed ${hex(actual)}`,
      );
    }
    return this.found(at, length);
  }

  /** The record of `length` bytes at `buffer[at]` matched its CRC: stands on it, past it. */
  private found(at: number, length: number): Scan {
    this.payloadOffset = at + HEADER_SIZE;
    this.payloadLength = length;
    this.offset = this.bufferPosition + at + HEADER_SIZE + length;
    return Scan.Record;
  }

  /**
   * Checks the CRCs of the whole frames buffered from `lsn` on, in one call, and notes how far
   * they matched (`checkedNext`, `checkedEnd`). Each frame's length passes the same checks as in
   * `next` before its range is taken; the walk stops at the first that does not, at the end of
   * the buffered bytes, and the note stops before the first CRC that does not match, so
   * `next` classifies that frame itself, as it classifies every frame not checked ahead.
   */
  private checkAhead(lsn: number): void {
    const limit = Math.min(this.bufferPosition + this.bufferFilled, this.end);
    const batch = this.checkBatch;
    batch.clear();
    for (let position = lsn; position + HEADER_SIZE <= limit; ) {
      const at = position - this.bufferPosition;
      const length = readU32(this.buffer, at + LENGTH_OFFSET);
      if (length > this.maxRecordSize || position + HEADER_SIZE + length > limit) break;
      batch.add(at + LENGTH_OFFSET, at + HEADER_SIZE + length);
      position += HEADER_SIZE + length;
    }
    this.checkedNext = lsn;
    this.checkedEnd = lsn;
    if (batch.count < 2) return; // one frame: no call saved
    batch.run(this.buffer);
    let matched = 0;
    while (
      matched < batch.count &&
      batch.crc(matched) === readU32(this.buffer, batch.start(matched) - LENGTH_OFFSET)
    ) {
      matched++;
    }
    if (matched > 0) this.checkedEnd = this.bufferPosition + batch.end(matched - 1);
  }

  /**
   * After `next()` found damage at `lsn`: moves `offset` to the first offset past it where a
   * whole record validates, or to the end when none does, and returns it. It tries every
   * offset, because a damaged length field cannot be trusted to say where the next record
   * starts; src/resync.ts does it in time linear in the bytes searched.
   */
  resync(): number {
    const damaged = this.lsn;
    const found = findNextRecord(
      this.source,
      damaged + 1,
      this.end,
      this.maxRecordSize,
      this.zerosFrom,
    );
    this.offset = found;
    this.lsn = damaged;
    return found;
  }

  /**
   * After `next()` returned `Invalid` with an `oversizeLength`: whether the bytes at `lsn` are
   * a whole, checksum-valid record that is only longer than `maxRecordSize` (the log was
   * written with a larger limit), not damage. Its CRC is computed in chunks, so that checking
   * a record of any size allocates one chunk.
   */
  isOversizeRecord(): boolean {
    return (
      this.oversizeLength >= 0 && frameChecksumMatches(this.source, this.lsn, this.oversizeLength)
    );
  }

  /** A copy of the last record's payload, safe to keep after the next call. */
  payload(): Uint8Array {
    return this.buffer.slice(this.payloadOffset, this.payloadOffset + this.payloadLength);
  }

  private invalid(reason: string): Scan {
    this.reason = reason;
    return Scan.Invalid;
  }

  /**
   * Ensures the buffer holds store bytes `[position, position + size)`, reading ahead up to a
   * chunk. `size` is at most `maxRecordSize + 8` and within `end`, both checked by the caller.
   * Returns false when the store holds fewer bytes than that (it shrank under the scan).
   */
  private hold(position: number, size: number): boolean {
    const have = this.bufferPosition + this.bufferFilled - position;
    if (position >= this.bufferPosition && have >= size) return true;

    const want = Math.min(Math.max(size, this.chunkSize), this.end - position);
    let kept = 0;
    if (want > this.buffer.length) {
      // A record longer than the chunk: its own buffer, replaced by a chunk-sized one later.
      const larger = new Uint8Array(want);
      if (have > 0)
        larger.set(this.buffer.subarray(position - this.bufferPosition, this.bufferFilled));
      this.buffer = larger;
      kept = Math.max(have, 0);
    } else if (have > 0) {
      // Slide the bytes already read to the front rather than reading them again.
      this.buffer.copyWithin(0, position - this.bufferPosition, this.bufferFilled);
      kept = have;
    } else if (this.buffer.length > this.chunkSize && want <= this.chunkSize) {
      this.buffer = new Uint8Array(this.chunkSize);
    }
    const target = this.buffer.subarray(kept, Math.min(this.buffer.length, want));
    const read = target.length > 0 ? this.source.read(target, position + kept) : 0;
    this.bufferPosition = position;
    this.bufferFilled = kept + read;
    return this.bufferFilled >= size;
  }
}

/**
 * Whether the frame at `lsn` with a payload of `length` bytes has a matching CRC, computed in
 * chunks so that checking a record of any size allocates one chunk. The caller has checked that
 * `lsn + 8 + length` lies within the source.
 */
function frameChecksumMatches(source: ByteSource, lsn: number, length: number): boolean {
  const chunk = new Uint8Array(Math.min(SCAN_CHUNK_SIZE, HEADER_SIZE + length));
  const end = lsn + HEADER_SIZE + length;
  let crc = 0;
  let stored = -1;
  for (let position = lsn; position < end; ) {
    const want = Math.min(chunk.length, end - position);
    const view = want === chunk.length ? chunk : chunk.subarray(0, want);
    if (source.read(view, position) < want) return false;
    // The first chunk starts with the stored CRC, which the checksum does not cover.
    const from = position === lsn ? LENGTH_OFFSET : 0;
    if (position === lsn) stored = readU32(view, 0);
    crc = crc32c(view, from, want, crc);
    position += want;
  }
  return crc === stored;
}

/** What {@link recordsToEnd} found. */
export interface RecordsToEnd {
  /** Whole, checksum-valid records, those longer than `maxRecordSize` included. */
  readonly records: number;
  /** Where the last of them ends; the scanner's starting offset when there is none. */
  readonly lastRecordEnd: number;
}

/**
 * Walks `scanner` from its offset to the end of its range, stepping over damage to the next
 * valid record (src/resync.ts) as often as it meets some: the records a cut at earlier damage
 * drops, as recovery counts them (`recordsDropped`) and the CLI shows the region they lie in.
 * A whole, valid record longer than `maxRecordSize` is one of them, and is stepped over whole:
 * trying every offset inside it would cost its size in header checks, and could take the
 * frames of a payload that carries framed records for records of the log. Nothing is kept or
 * refused here; the caller has already decided to cut.
 */
export function recordsToEnd(scanner: RecordScanner): RecordsToEnd {
  let records = 0;
  let lastRecordEnd = scanner.offset;
  for (;;) {
    const found = scanner.next();
    if (found === Scan.End) break;
    if (found === Scan.Record) {
      records++;
      lastRecordEnd = scanner.offset;
    } else if (scanner.isOversizeRecord()) {
      records++;
      scanner.offset = scanner.lsn + HEADER_SIZE + scanner.oversizeLength;
      lastRecordEnd = scanner.offset;
    } else if (scanner.resync() >= scanner.end) {
      break;
    }
  }
  return { records, lastRecordEnd };
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, "0")}`;
}
