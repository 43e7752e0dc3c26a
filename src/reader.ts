/**
 * @module
 * Reading the log back: walking records in LSN order, each checksum-checked, seeking to an LSN
 * in bounded time through the boundary index (boundaries.ts), and what to do at damage under
 * the `recovery` policy: throw it (`"stop"`), or step over it to the next valid record and
 * report it (`"skip"`). `iter`, `iterFrom`, `checksum`, `follow` and the truncations read
 * through here.
 */

import type { RecordBoundaries } from "./boundaries.ts";
import { type Codec, decodeWith } from "./codec.ts";
import { crc32c } from "./crc32c.ts";
import { CorruptionError, invalidArgument } from "./errors.ts";
import type { Lifecycle } from "./lifecycle.ts";
import type { ResolvedOptions } from "./options.ts";
import { HEADER_SIZE } from "./record.ts";
import { RecordScanner, Scan } from "./scan.ts";
import type { WalStore } from "./store/store.ts";

/** One record read back from the log. */
export interface WalRecord<T = Uint8Array> {
  /** Its log sequence number: the byte offset of its frame. */
  readonly lsn: number;
  /** Its payload, a copy the caller owns (decoded, with a codec). */
  readonly data: T;
}

/** What reading needs to know of the log's options. */
export interface ReadOptions<T> {
  readonly maxRecordSize: number;
  readonly policy: ResolvedOptions["recovery"];
  readonly onCorrupt: ResolvedOptions["onCorrupt"];
  readonly codec: Codec<T> | undefined;
}

/** Walks and seeks one log's records for a `Wal`. */
export class Reader<T> {
  /** Damaged regions met while reading, reported or thrown (`stats().corruptionsSeen`). */
  corruptionsSeen = 0;

  constructor(
    private readonly store: WalStore,
    private readonly index: RecordBoundaries,
    private readonly lifecycle: Lifecycle,
    private readonly options: ReadOptions<T>,
  ) {}

  /** A scanner at `start`, a record boundary, that reads no further than `end`. */
  scannerAt(start: number, end: number): RecordScanner {
    return new RecordScanner(this.store, start, end, this.options.maxRecordSize);
  }

  /**
   * A scanner at `lsn`, found by walking from the nearest known boundary below it; throws
   * unless a record starts there. Damage on the way is stepped over under `recovery: "skip"`.
   */
  seek(lsn: number, end: number): RecordScanner {
    const scanner = this.scannerAt(this.index.floor(lsn), end);
    while (scanner.offset < lsn && this.advance(scanner, false)) {
      this.note(scanner);
    }
    if (scanner.offset !== lsn) {
      throw invalidArgument(
        `lsn ${lsn} is not a record boundary: the record at ${scanner.lsn} runs to ${scanner.offset}`,
      );
    }
    return scanner;
  }

  /** Yields the records in `[start, end)`; `start` is a record boundary. */
  *walk(start: number, end: number): Generator<WalRecord<T>, void, undefined> {
    const scanner = this.scannerAt(start, end);
    for (;;) {
      this.lifecycle.checkOpen();
      if (!this.advance(scanner, true)) return;
      this.note(scanner);
      yield this.recordAt(scanner);
    }
  }

  /**
   * The CRC-32C of the frames in `[fromLsn, toLsn)`, both record boundaries at most `end`
   * (checked: an end inside a record, or out of order, throws `INVALID_ARGUMENT`); 0 when empty.
   */
  checksum(fromLsn: number, toLsn: number, end: number): number {
    if (toLsn < fromLsn || toLsn > end) {
      throw invalidArgument(
        `checksum(${fromLsn}, ${toLsn}) needs ${fromLsn} <= toLsn <= ${end}, the end of the log`,
      );
    }
    if (fromLsn === toLsn) return 0;
    const scanner = this.seek(fromLsn, end);
    let crc = 0;
    while (scanner.offset < toLsn && this.advance(scanner, true)) {
      this.note(scanner);
      const frameStart = scanner.payloadOffset - HEADER_SIZE;
      crc = crc32c(scanner.buffer, frameStart, scanner.payloadOffset + scanner.payloadLength, crc);
    }
    // A record running past `toLsn` means `toLsn` is inside it.
    if (scanner.offset !== toLsn) {
      throw invalidArgument(
        `toLsn ${toLsn} is not a record boundary: the record at ${scanner.lsn} runs past it`,
      );
    }
    return crc;
  }

  /** Notes the record `scanner` just read in the boundary index. */
  note(scanner: RecordScanner): void {
    this.index.observe(scanner.lsn, scanner.offset);
  }

  /** The record `scanner` stands on, its payload copied (and decoded, with a codec). */
  recordAt(scanner: RecordScanner): WalRecord<T> {
    const payload = scanner.payload();
    const codec = this.options.codec;
    const data = codec === undefined ? (payload as T) : decodeWith(codec, payload, scanner.lsn);
    return { lsn: scanner.lsn, data };
  }

  /**
   * Moves `scanner` to its next whole record; false at the end. At damage, throws its
   * `CorruptionError` under `recovery: "stop"`; under `"skip"` steps to the next valid record,
   * reporting the damaged region to `onCorrupt` when `report` is set.
   */
  advance(scanner: RecordScanner, report: boolean): boolean {
    for (;;) {
      const found = scanner.next();
      if (found === Scan.Record) return true;
      if (found === Scan.End) return false;
      if (report) this.corruptionsSeen++;
      if (this.options.policy === "stop") {
        throw new CorruptionError(scanner.lsn, scanner.reason);
      }
      const damaged = scanner.lsn;
      const why = scanner.reason;
      const next = scanner.resync();
      const onCorrupt = this.options.onCorrupt;
      if (report && onCorrupt !== undefined) {
        const to = next < scanner.end ? `the next valid record at ${next}` : "the end";
        onCorrupt(new CorruptionError(damaged, `${why}; skipped ${next - damaged} bytes to ${to}`));
      }
    }
  }
}
