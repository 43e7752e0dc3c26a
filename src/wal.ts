/**
 * @module
 * `Wal`: open (with recovery), append, sync, iterate, close. The durability contract lives in
 * README.md and docs/ON_DISK_FORMAT.md; in short, `append` returns once the bytes are in the OS
 * page cache, and `sync` returns once everything appended before it is on stable storage.
 */

import { RecordBoundaries } from "./boundaries.ts";
import {
  CorruptionError,
  closed,
  describeValue,
  invalidArgument,
  logFull,
  oversizeRecordInLog,
  poisoned,
  recordTooLarge,
} from "./errors.ts";
import { type ResolvedOptions, resolveOptions, type WalOptions } from "./options.ts";
import {
  frameChecksumMatches,
  HEADER_SIZE,
  LSN_LIMIT,
  RecordScanner,
  Scan,
  sealFrame,
  writeHeader,
} from "./record.ts";
import { FileStore } from "./store/file.ts";
import type { WalStore } from "./store/store.ts";

/** One record read back from the log. */
export interface WalRecord {
  /** The record's log sequence number: the byte offset where its frame starts. */
  readonly lsn: number;
  /** The payload, a copy the caller owns. */
  readonly data: Uint8Array;
}

/** What recovery found and did when the log was opened. */
export interface RecoveryReport {
  /** Whole, checksum-valid records found. */
  readonly records: number;
  /** Bytes the store held before recovery. */
  readonly storeSize: number;
  /** Where the valid log ends: the LSN of the next append. */
  readonly end: number;
  /** Bytes cut from the tail because they were not valid records (`storeSize - end`). */
  readonly bytesDropped: number;
  /** Why the bytes at `end` were not a record, or null when the store ended on a boundary. */
  readonly reason: string | null;
}

/** Payloads up to this size are copied next to their header and written with one call. */
const SCRATCH_PAYLOAD_SIZE = 64 * 1024;

const utf8 = new TextEncoder();

/**
 * A write-ahead log: records appended at increasing LSNs, made durable by `sync`, read back
 * with `iter`. One `Wal` owns its log exclusively until `close`.
 *
 * @example
 * using wal = Wal.open("app.wal");
 * const lsn = wal.append("a state change");
 * wal.sync(); // now on stable storage
 * for (const { lsn, data } of wal.iter()) apply(lsn, data);
 */
export class Wal {
  /** What recovery found when this log was opened. */
  readonly recovery: RecoveryReport;

  private readonly store: WalStore;
  private readonly maxRecordSize: number;
  private readonly boundaries: RecordBoundaries;
  /** The LSN the next append gets; every byte below it is written. */
  private appendOffset: number;
  /** Every byte below this offset is on stable storage. */
  private durableOffset: number;
  /** The error that poisoned the log, once a write or barrier failed. */
  private failure: unknown;
  private isClosed = false;
  /** Frame under construction: header, then payload; reused by every small append. */
  private readonly scratch = new Uint8Array(HEADER_SIZE + SCRATCH_PAYLOAD_SIZE);
  private readonly scratchPayload = this.scratch.subarray(HEADER_SIZE);

  private constructor(store: WalStore, options: ResolvedOptions) {
    this.store = store;
    this.maxRecordSize = options.maxRecordSize;
    this.boundaries = new RecordBoundaries(0);
    this.recovery = this.recover();
    this.appendOffset = this.recovery.end;
    this.durableOffset = this.recovery.end;
  }

  /**
   * Opens the log file at `path`, creating it if needed, takes its exclusive lock and recovers
   * it: the file is scanned, everything from the first incomplete or invalid record on is cut,
   * and the cut and the surviving records are made durable before `open` returns.
   *
   * @param path - the log file; its directory must exist.
   * @param options - see {@link WalOptions}.
   * @throws WalError `LOCKED` while another `Wal` (any process) has the log open;
   * `INVALID_ARGUMENT` for bad options; `IO` when the OS refuses.
   * @example const wal = Wal.open("app.wal", { maxRecordSize: 1 << 20 });
   */
  static open(path: string, options?: WalOptions): Wal {
    const resolved = resolveOptions(options);
    const store = FileStore.open(path);
    try {
      return new Wal(store, resolved);
    } catch (error) {
      store.close();
      throw error;
    }
  }

  /**
   * Opens a log over any {@link WalStore}, such as a `MemoryStore` or a fault-injecting test
   * store, recovering it as {@link Wal.open} does. The `Wal` owns the store from here and
   * closes it on `close`.
   * @example const wal = Wal.withStore(new MemoryStore());
   */
  static withStore(store: WalStore, options?: WalOptions): Wal {
    const resolved = resolveOptions(options);
    for (const method of ["read", "write", "truncate", "sync", "close"] as const) {
      if (typeof (store as Partial<WalStore> | null)?.[method] !== "function") {
        throw invalidArgument(`store must implement WalStore; ${method}() is missing`);
      }
    }
    return new Wal(store, resolved);
  }

  /** Logical size in bytes: the LSN the next `append` will return. */
  get len(): number {
    this.checkOpen();
    return this.appendOffset;
  }

  /** True when the log holds no records. */
  get isEmpty(): boolean {
    return this.len === 0;
  }

  /**
   * Appends one record and returns its LSN. Returns once the bytes are in the OS page cache
   * (a positioned write has returned): a process crash after that keeps the record, a power
   * loss may not. Call {@link Wal.sync} to make it durable.
   *
   * @param data - the payload: bytes, or a string stored as UTF-8. May be empty.
   * @returns the record's LSN, the byte offset where its frame starts.
   * @throws WalError `RECORD_TOO_LARGE` or `INVALID_ARGUMENT` with nothing written; `IO` when
   * the write fails, which also poisons the log; `POISONED`, `CLOSED`, `LOG_FULL`.
   */
  append(data: Uint8Array | string): number {
    this.checkWritable();
    if (typeof data === "string") {
      // One UTF-16 unit never takes more than three UTF-8 bytes.
      if (data.length * 3 <= SCRATCH_PAYLOAD_SIZE) {
        const { written } = utf8.encodeInto(data, this.scratchPayload);
        this.checkSize(written);
        return this.appendScratch(written);
      }
      // Each unit takes at least one byte: reject a huge string before encoding it, then
      // check the encoded size, which may be up to three times the unit count.
      this.checkSize(data.length);
      const encoded = utf8.encode(data);
      this.checkSize(encoded.length);
      return this.appendSeparately(encoded);
    }
    if (!(data instanceof Uint8Array)) {
      throw invalidArgument(`append takes a Uint8Array or a string, got ${describeValue(data)}`);
    }
    this.checkSize(data.length);
    if (data.length <= SCRATCH_PAYLOAD_SIZE) {
      this.scratchPayload.set(data);
      return this.appendScratch(data.length);
    }
    return this.appendSeparately(data);
  }

  /**
   * The durability barrier: returns once every record appended before the call is on stable
   * storage, through the platform's real barrier (`fdatasync` on Linux, `F_FULLFSYNC` on
   * macOS, `FlushFileBuffers` on Windows). Returns at once when nothing was appended since the
   * last barrier.
   *
   * @throws WalError `IO` when the barrier fails: the log is then poisoned, because the kernel
   * may already have dropped the unsynced pages, and must be reopened. `POISONED`, `CLOSED`.
   */
  sync(): void {
    this.checkWritable();
    const target = this.appendOffset;
    if (target <= this.durableOffset) return;
    try {
      this.store.sync();
    } catch (error) {
      throw this.poison(error);
    }
    this.durableOffset = target;
  }

  /**
   * Appends one record and makes it durable: {@link Wal.append} then {@link Wal.sync}. Returns
   * once the record, and everything appended before it, is on stable storage.
   * @returns the record's LSN.
   */
  appendAndSync(data: Uint8Array | string): number {
    const lsn = this.append(data);
    this.sync();
    return lsn;
  }

  /**
   * Iterates every record in LSN order, each checksum-checked. The end is fixed when `iter` is
   * called: records appended later are not yielded.
   * @throws CorruptionError (`CORRUPTION`, with `offset` and `reason`) from the iteration when a
   * record is damaged; `CLOSED` when the log is closed before or during the iteration.
   */
  iter(): Generator<WalRecord, void, undefined> {
    this.checkOpen();
    return this.walk(0, this.appendOffset);
  }

  /**
   * Iterates records from `lsn` on, as {@link Wal.iter} does. Seeks in bounded time: it starts
   * at the nearest indexed boundary at or below `lsn` and walks at most 256 KiB plus one record,
   * which also proves `lsn` is a record boundary. An `lsn` at or past the end yields nothing.
   * @param lsn - an LSN returned by `append`, or `len`.
   * @throws WalError `INVALID_ARGUMENT` when `lsn` is not a non-negative integer or falls inside
   * a record; `CORRUPTION` when a damaged record lies on the way.
   */
  iterFrom(lsn: number): Generator<WalRecord, void, undefined> {
    this.checkOpen();
    if (!Number.isSafeInteger(lsn) || lsn < 0) {
      throw invalidArgument(`lsn must be a non-negative integer, got ${describeValue(lsn)}`);
    }
    const end = this.appendOffset;
    if (lsn < end) this.checkBoundary(lsn, end);
    return this.walk(Math.min(lsn, end), end);
  }

  /**
   * Releases the lock and the file. Does not add a barrier: records appended since the last
   * `sync` are as safe as after a process crash (kept by the OS, not yet on stable storage).
   * Idempotent; every other call afterwards throws `CLOSED`.
   */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.store.close();
  }

  /** `using wal = Wal.open(...)` closes the log at the end of the scope. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Scans the whole store, cuts it after the last valid record and makes that durable. The
   * outcomes, classified: a clean end (nothing to do); a torn tail from a crash mid-append
   * (cut: it was never acknowledged by a sync); damage followed by more bytes (cut as well,
   * as the Rust crate does; `reason` and `bytesDropped` report it); a valid record longer than
   * `maxRecordSize` (refused, nothing cut: the log was written with a larger limit).
   */
  private recover(): RecoveryReport {
    const storeSize = this.store.size;
    const scanner = new RecordScanner(this.store, 0, storeSize, this.maxRecordSize);
    let records = 0;
    let found = scanner.next();
    for (; found === Scan.Record; found = scanner.next()) {
      this.boundaries.observe(scanner.lsn, scanner.offset);
      records++;
    }
    const end = scanner.offset;
    if (
      scanner.oversizeLength >= 0 &&
      frameChecksumMatches(this.store, end, scanner.oversizeLength)
    ) {
      // A whole, valid record that is merely larger than this open allows: the log was written
      // with a larger maxRecordSize. Cutting here would destroy good records, so refuse instead.
      throw oversizeRecordInLog(end, scanner.oversizeLength, this.maxRecordSize);
    }
    // The barrier runs even when nothing is cut: records a crashed writer left in the page
    // cache are readable now but not yet durable, and recovery reports only durable records.
    if (end < storeSize) this.store.truncate(end);
    else this.store.sync();
    return {
      records,
      storeSize,
      end,
      bytesDropped: storeSize - end,
      reason: found === Scan.Invalid ? scanner.reason : null,
    };
  }

  /** Writes the frame already built in `scratch` around a payload of `length` bytes. */
  private appendScratch(length: number): number {
    const lsn = this.reserve(HEADER_SIZE + length);
    sealFrame(this.scratch, length);
    try {
      this.store.write(this.scratch, HEADER_SIZE + length, lsn);
    } catch (error) {
      throw this.poison(error);
    }
    return this.commitWrite(lsn, HEADER_SIZE + length);
  }

  /** Writes a large payload in place, after its header: no copy of the payload. */
  private appendSeparately(payload: Uint8Array): number {
    const lsn = this.reserve(HEADER_SIZE + payload.length);
    writeHeader(this.scratch, payload);
    try {
      this.store.write(this.scratch, HEADER_SIZE, lsn);
      this.store.write(payload, payload.length, lsn + HEADER_SIZE);
    } catch (error) {
      throw this.poison(error);
    }
    return this.commitWrite(lsn, HEADER_SIZE + payload.length);
  }

  /** The LSN a frame of `size` bytes gets; refuses to pass the exact-number limit. */
  private reserve(size: number): number {
    const lsn = this.appendOffset;
    if (lsn + size > LSN_LIMIT) throw logFull(lsn, size);
    return lsn;
  }

  /** Publishes a frame that is wholly written: only now does the log grow over it. */
  private commitWrite(lsn: number, size: number): number {
    this.appendOffset = lsn + size;
    this.boundaries.observe(lsn, lsn + size);
    return lsn;
  }

  /** Walks from the nearest known boundary to `lsn`; throws unless a record starts there. */
  private checkBoundary(lsn: number, end: number): void {
    const scanner = new RecordScanner(
      this.store,
      this.boundaries.floor(lsn),
      end,
      this.maxRecordSize,
    );
    while (scanner.offset < lsn) {
      const found = scanner.next();
      if (found !== Scan.Record) throw new CorruptionError(scanner.lsn, scanner.reason);
      this.boundaries.observe(scanner.lsn, scanner.offset);
    }
    if (scanner.offset !== lsn) {
      throw invalidArgument(
        `lsn ${lsn} is not a record boundary: the record at ${scanner.lsn} runs to ${scanner.offset}`,
      );
    }
  }

  private *walk(start: number, end: number): Generator<WalRecord, void, undefined> {
    const scanner = new RecordScanner(this.store, start, end, this.maxRecordSize);
    for (;;) {
      this.checkOpen();
      const found = scanner.next();
      if (found === Scan.End) return;
      if (found === Scan.Invalid) throw new CorruptionError(scanner.lsn, scanner.reason);
      this.boundaries.observe(scanner.lsn, scanner.offset);
      yield { lsn: scanner.lsn, data: scanner.payload() };
    }
  }

  private checkSize(size: number): void {
    if (size > this.maxRecordSize) throw recordTooLarge(size, this.maxRecordSize);
  }

  private checkOpen(): void {
    if (this.isClosed) throw closed();
  }

  private checkWritable(): void {
    this.checkOpen();
    if (this.failure !== undefined) throw poisoned(this.failure);
  }

  /** Records the failure that ends this log's writes, and returns it for the caller to throw. */
  private poison(error: unknown): unknown {
    this.failure = error;
    return error;
  }
}
