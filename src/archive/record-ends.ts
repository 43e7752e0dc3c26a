/**
 * @module
 * Where the last whole record ends in a log's bytes fed in LSN order. The archiver's
 * `archivedLsn` may stand only at a record's end, and records span segments freely (DESIGN §3),
 * so the end of a sealed segment is seldom one: a record that starts in it and ends in the next
 * is not in the archive until the next is. `RecordEnds` follows the length in each record's
 * header from a record start it is given, through bytes that come in pieces (a header cut by a
 * segment's end included). It checks no CRC: the bytes are the log's own durable ones.
 */

import { HEADER_SIZE, LENGTH_OFFSET, readU32 } from "../record.ts";

/** Follows record headers through a log's bytes, fed in LSN order from a record's start. */
export class RecordEnds {
  /** Every record below this LSN is whole in the bytes fed: a record's start. */
  #end: number;
  /** The bytes fed reach this LSN. */
  #fed: number;
  /** Where the record at `#end` ends, once its header is read; -1 before. */
  #recordEnd = -1;
  /** The first bytes of the header at `#end`, while the bytes fed stop inside it. */
  readonly #header = new Uint8Array(HEADER_SIZE);
  #headerHave = 0;

  /** Follows the records from `recordStart`, which must be one (the head, or a durable end). */
  constructor(recordStart: number) {
    this.#end = recordStart;
    this.#fed = recordStart;
  }

  /** Every record that starts below this LSN is whole in the bytes fed. */
  get end(): number {
    return this.#end;
  }

  /**
   * Feeds the log's bytes at `[start, start + bytes.length)`. They may repeat bytes fed before
   * (a sealed segment after its partials), not leave a hole after them.
   * @returns {@link RecordEnds.end}.
   */
  feed(bytes: Uint8Array, start: number): number {
    if (start > this.#fed)
      throw new RangeError(`bytes from LSN ${start} fed where only ${this.#fed} was reached`);
    const stop = start + bytes.length;
    for (;;) {
      if (this.#recordEnd < 0) {
        const headerEnd = this.#end + HEADER_SIZE;
        if (this.#headerHave === 0 && this.#end >= start && headerEnd <= stop) {
          this.#recordEnd = headerEnd + readU32(bytes, this.#end - start + LENGTH_OFFSET);
        } else {
          // The header is cut by the end of these bytes, or of the ones fed before.
          const from = this.#end + this.#headerHave;
          const to = Math.min(headerEnd, stop);
          if (to > from) {
            this.#header.set(bytes.subarray(from - start, to - start), this.#headerHave);
            this.#headerHave += to - from;
          }
          if (this.#headerHave < HEADER_SIZE) break;
          this.#recordEnd = headerEnd + readU32(this.#header, LENGTH_OFFSET);
          this.#headerHave = 0;
        }
      }
      if (this.#recordEnd > stop) break;
      this.#end = this.#recordEnd;
      this.#recordEnd = -1;
    }
    this.#fed = Math.max(this.#fed, stop);
    return this.#end;
  }
}
