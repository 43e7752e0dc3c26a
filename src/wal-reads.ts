/**
 * @module
 * The reading half of `Wal` (wal.ts extends it): where the log starts and ends, iteration in
 * every shape a log's users need (all of it, from an LSN within bounds, the newest records,
 * without blocking the event loop, a live tail), and range checksums. It also holds the log's
 * parts, private to the two halves, and the precondition checks every method starts with.
 */

import { describeValue, invalidArgument, readOnlyFollow } from "./errors.ts";
import { follow } from "./follower.ts";
import { checkLsn, checkNotDropped } from "./lsn.ts";
import type { LogParts } from "./parts.ts";
import { bounded, checkRange, iterateAsync, lastRecords, type RecordRange } from "./range.ts";
import type { WalRecord } from "./reader.ts";

export type { RecordRange } from "./range.ts";

/** What {@link Wal} reads through; see `Wal` for the class itself. */
export abstract class WalReads<T> {
  /** True for a log opened with `Wal.openReadOnly`: it reads, and never changes a byte. */
  readonly readOnly: boolean;
  readonly #parts: LogParts<T>;

  protected constructor(parts: LogParts<T>, readOnly: boolean) {
    this.#parts = parts;
    this.readOnly = readOnly;
  }

  /** What this `Wal` delegates to (parts.ts): a getter, so it is no field to print or copy. */
  protected get parts(): LogParts<T> {
    return this.#parts;
  }

  /**
   * Where the log lives: the absolute path of the file or directory it was opened at (for an
   * attached `Wal`, the owner's), or a store's own description.
   */
  get path(): string {
    return this.#parts.store.description;
  }

  /** Logical size in bytes; with no append in flight elsewhere, the next append's LSN. */
  get len(): number {
    this.checkOpen();
    return this.#parts.shared.written();
  }

  /** {@link WalReads.len} by the name a JavaScript user looks for first. */
  get size(): number {
    return this.len;
  }

  /** True when the log holds no records. */
  get isEmpty(): boolean {
    return this.len === this.head;
  }

  /** The first LSN in the log, where `iter` starts: 0 until a segmented log's prefix is dropped. */
  get head(): number {
    this.#parts.lifecycle.checkOpen();
    return this.#parts.store.head ?? 0;
  }

  /**
   * Iterates every record from the head on, in LSN order, each checksum-checked, up to the end
   * when it is called.
   * @throws CorruptionError from the iteration at a damaged record, unless opened with
   * `recovery: "skip"` (the damage then goes to `onCorrupt`); `CLOSED`.
   */
  iter(): Generator<WalRecord<T>, void, undefined> {
    this.checkReadable();
    return this.#parts.reader.walk(this.head, this.#parts.shared.written());
  }

  /** {@link WalReads.iter}, by the name of `Map`'s and `Set`'s own. */
  values(): Generator<WalRecord<T>, void, undefined> {
    return this.iter();
  }

  /** `for (const record of wal)`: {@link WalReads.iter}. */
  [Symbol.iterator](): Generator<WalRecord<T>, void, undefined> {
    return this.iter();
  }

  /**
   * Iterates records from `lsn` on, as {@link WalReads.iter} does, after a bounded seek (at most
   * 256 KiB plus one record from an indexed boundary) that proves `lsn` is a record boundary.
   * @param lsn - an LSN returned by `append`, or `len`; at or above `head`.
   * @param range - `to`: only records whose LSN is below it; `limit`: at most that many.
   * @throws WalError `INVALID_ARGUMENT` when `lsn` lies below the head or inside a record, or
   * for a bad range; `CORRUPTION` when a damaged record lies on the way.
   * @example for (const { lsn, data } of wal.iterFrom(commitIndex, { limit: 100 })) send(lsn, data);
   */
  iterFrom(lsn: number, range?: RecordRange): Generator<WalRecord<T>, void, undefined> {
    this.checkReadable();
    const bounds = checkRange(range, checkLsn(lsn, "iterFrom"), "iterFrom");
    const { start, end } = this.seekFor(lsn, "iterFrom");
    const records = this.#parts.reader.walk(start, end);
    // No generator in between for a replay that sets no bounds.
    return range === undefined ? records : bounded(records, bounds);
  }

  /**
   * {@link WalReads.iterFrom} for `for await`: it reads in chunks and gives the event loop a
   * turn between them (every few milliseconds), so a server replaying a large log keeps
   * answering meanwhile. It reads up to the end when it is called.
   * @param fromLsn - as `iterFrom`'s `lsn`. @default `head`
   * @throws WalError as {@link WalReads.iterFrom}; from the iteration, `TRUNCATED` when the
   * owner cuts or drops the records it reads between two chunks, `CLOSED`.
   * @example for await (const { lsn, data } of wal.iterAsync()) state.apply(lsn, data);
   */
  iterAsync(fromLsn?: number, range?: RecordRange): AsyncGenerator<WalRecord<T>, void, undefined> {
    this.checkReadable();
    const from = fromLsn === undefined ? this.head : checkLsn(fromLsn, "iterAsync", "fromLsn");
    const bounds = checkRange(range, from, "iterAsync");
    const { start, end } = this.seekFor(from, "iterAsync");
    return iterateAsync(this.#parts, start, end, bounds);
  }

  /**
   * The newest `count` records, oldest first (fewer when the log holds fewer), found backwards
   * from the end through the boundary index: the cost is that of the records returned, not of
   * the log.
   * @param count - a non-negative integer.
   * @throws WalError `INVALID_ARGUMENT` for a bad count; `CORRUPTION` when a damaged record
   * lies among the newest.
   * @example const [newest] = wal.last(1);
   */
  last(count: number): WalRecord<T>[] {
    this.checkReadable();
    if (!Number.isSafeInteger(count) || count < 0) {
      throw invalidArgument(
        `last: count must be a non-negative integer, got ${describeValue(count)}`,
      );
    }
    if (count === 0) return [];
    const { reader, index, shared } = this.#parts;
    return lastRecords(reader, index, this.head, shared.written(), count);
  }

  /**
   * The CRC-32C of the frames of the records from `fromLsn` to `toLsn`: two logs with the same
   * records at the same LSNs give the same checksum, so a replica compares ranges with its
   * leader's without sending records. Every record on the way is checked.
   * @returns an unsigned 32-bit number; 0 for an empty range.
   * @throws WalError `INVALID_ARGUMENT` when either end is not a record boundary of the log;
   * `CORRUPTION` when a record in the range is damaged.
   * @example if (leader.checksum(a, b) !== replica.checksum(a, b)) resync(a, b);
   */
  checksum(fromLsn: number, toLsn: number): number {
    this.checkReadable();
    const end = this.#parts.shared.written();
    checkNotDropped(checkLsn(fromLsn, "checksum", "fromLsn"), this.head, "checksum");
    return this.#parts.reader.checksum(fromLsn, checkLsn(toLsn, "checksum", "toLsn"), end);
  }

  /**
   * A live tail: yields every durable record from `fromLsn` on, then each new one once it is
   * durable (a record a crash could take back is never yielded). It sleeps on the shared state
   * until a barrier raises the durable watermark, and ends when the log closes. A `fromLsn`
   * past the end yields nothing until a record starts exactly there. See docs/API.md.
   * @param fromLsn - a record boundary at or above `head`, or an LSN past `len`. @default `head`
   * @throws WalError `INVALID_ARGUMENT` for a `fromLsn` that is not a boundary (from the
   * iteration, once a durable record spans one that was past the end); `READ_ONLY`; from the
   * iteration, `CORRUPTION`, `TRUNCATED` when `truncateAfter` cuts records it yielded, `POISONED`.
   * @example
   * for await (const { lsn, data } of wal.follow()) replica.apply(lsn, data);
   */
  async *follow(fromLsn?: number): AsyncGenerator<WalRecord<T>, void, undefined> {
    this.checkReadable();
    if (this.readOnly) throw readOnlyFollow(this.#parts.store.description);
    const from = fromLsn === undefined ? this.head : checkLsn(fromLsn, "follow", "fromLsn");
    // A `from` past the end is kept: follow waits for a record to start exactly there.
    const { end } = this.seekFor(from, "follow");
    yield* follow(this.#parts, from, end);
  }

  /**
   * Where a read from `lsn` (checked as an LSN) starts and ends: `lsn`, proven a record
   * boundary by a bounded seek, or the end when it lies past it; the end as it is now.
   * @throws WalError `INVALID_ARGUMENT` below the head or inside a record.
   */
  private seekFor(lsn: number, call: string): { start: number; end: number } {
    const end = this.#parts.shared.written();
    checkNotDropped(lsn, this.head, call);
    if (lsn < end) this.#parts.reader.seek(lsn, end);
    return { start: Math.min(lsn, end), end };
  }

  // Every call but `commit` (which stages), `head` and `share` starts with one of these: its
  // check, then the staged commits written, so this thread's records keep call order.

  /** Open, with staged commits written. */
  protected checkOpen(): void {
    this.#parts.lifecycle.checkOpen();
    this.#parts.commits.flush();
  }

  /** May write, with staged commits written. */
  protected checkWritable(call: string): void {
    this.#parts.lifecycle.checkWritable(call);
    this.#parts.commits.flush();
  }

  /** May read, with staged commits written. */
  protected checkReadable(): void {
    this.#parts.lifecycle.checkReadable();
    this.#parts.commits.flush();
  }

  /** May truncate (the owner, writable), with staged commits written. */
  protected checkOwner(call: string): void {
    this.#parts.lifecycle.checkOwner(call);
    this.#parts.commits.flush();
  }
}
