/**
 * @module
 * Reading part of the log: the bounds `iterFrom` and `iterAsync` take (an end LSN, a count),
 * the newest records (`last`), found backwards through the boundary index instead of by
 * scanning the log from its head, and an iteration that gives the event loop back between
 * chunks, for a server that replays a large log while it already answers requests.
 */

import type { RecordBoundaries } from "./boundaries.ts";
import type { SharedLog } from "./commit.ts";
import { describeValue, invalidArgument, iterationCut } from "./errors.ts";
import type { Lifecycle } from "./lifecycle.ts";
import type { Reader, WalRecord } from "./reader.ts";
import type { WalStore } from "./store/store.ts";

/** Bounds of a range read: where it stops, and how many records it yields at most. */
export interface RecordRange {
  /** Yields only records whose LSN is below this one (an LSN, not necessarily a boundary). */
  readonly to?: number;
  /** Yields at most this many records (a non-negative integer). */
  readonly limit?: number;
}

/** A {@link RecordRange} checked, with its defaults: no end bound, no count limit. */
export interface CheckedRange {
  readonly to: number;
  readonly limit: number;
}

const RANGE_KEYS = new Set(["to", "limit"]);

/** `range` checked for `call` reading from `from`; `INVALID_ARGUMENT` naming what is wrong. */
export function checkRange(
  range: RecordRange | undefined,
  from: number,
  call: string,
): CheckedRange {
  if (range === undefined) return { to: Number.POSITIVE_INFINITY, limit: Number.POSITIVE_INFINITY };
  if (typeof range !== "object" || range === null) {
    throw invalidArgument(
      `${call}: the range must be an object { to?, limit? }, got ${describeValue(range)}`,
    );
  }
  for (const key of Object.keys(range)) {
    if (!RANGE_KEYS.has(key)) {
      throw invalidArgument(`${call}: unknown range option "${key}"; a range takes to and limit`);
    }
  }
  const { to = Number.POSITIVE_INFINITY, limit = Number.POSITIVE_INFINITY } = range;
  if (to !== Number.POSITIVE_INFINITY && !(Number.isSafeInteger(to) && to >= from)) {
    throw invalidArgument(
      `${call}: to must be an integer LSN at or above the start (${from}), got ${describeValue(to)}`,
    );
  }
  if (limit !== Number.POSITIVE_INFINITY && !(Number.isSafeInteger(limit) && limit >= 0)) {
    throw invalidArgument(
      `${call}: limit must be a non-negative integer, got ${describeValue(limit)}`,
    );
  }
  return { to, limit };
}

/** The records of `records` below `range.to`, at most `range.limit` of them. */
export function* bounded<T>(
  records: Iterator<WalRecord<T>, void, undefined>,
  range: CheckedRange,
): Generator<WalRecord<T>, void, undefined> {
  for (let count = 0; count < range.limit; count++) {
    const next = records.next();
    if (next.done === true || next.value.lsn >= range.to) return;
    yield next.value;
  }
}

/**
 * The newest `count` records of `[head, end)`, oldest first. It reads backwards one window at a
 * time, each from the indexed boundary below the last (at most the index's stride plus one
 * record), keeping only the records it still needs: the cost is the windows the records lie
 * in, and the memory `count` records.
 */
export function lastRecords<T>(
  reader: Reader<T>,
  index: RecordBoundaries,
  head: number,
  end: number,
  count: number,
): WalRecord<T>[] {
  const windows: WalRecord<T>[][] = [];
  let found = 0;
  // Every window ends at a record boundary: the log's end, then the start of the window after.
  for (let windowEnd = end; found < count && windowEnd > head; ) {
    const windowStart = Math.max(head, index.floor(windowEnd - 1));
    const newest = newestOf(reader.walk(windowStart, windowEnd), count - found);
    windows.push(newest);
    found += newest.length;
    windowEnd = windowStart;
  }
  return windows.reverse().flat();
}

/** The last `count` records of `records`, oldest first, holding no more than `count`. */
function newestOf<T>(records: Iterable<WalRecord<T>>, count: number): WalRecord<T>[] {
  const ring: WalRecord<T>[] = [];
  let next = 0;
  for (const record of records) {
    if (ring.length < count) ring.push(record);
    else ring[next] = record;
    next = (next + 1) % count;
  }
  return ring.length < count ? ring : [...ring.slice(next), ...ring.slice(0, next)];
}

/** How long `iterAsync` reads before it gives the event loop a turn, in milliseconds. */
const CHUNK_MS = 4;
/** How many records it reads between looks at the clock. */
const CHECK_EVERY = 256;

/** What `iterAsync` reads, and watches for cuts and drops between its chunks. */
export interface AsyncSource<T> {
  readonly reader: Reader<T>;
  readonly shared: SharedLog;
  readonly lifecycle: Lifecycle;
  readonly store: Pick<WalStore, "head">;
}

/**
 * Yields the records of `[start, end)` within `range`, as `iter` would, but gives the event
 * loop a turn (`setImmediate`) after each {@link CHUNK_MS} of reading. Between chunks the owner
 * may cut or drop records: a cut inside `[start, end)`, or a drop past the record it yielded
 * last, ends the iteration with `TRUNCATED`.
 */
export async function* iterateAsync<T>(
  source: AsyncSource<T>,
  start: number,
  end: number,
  range: CheckedRange,
): AsyncGenerator<WalRecord<T>, void, undefined> {
  const { reader, shared, lifecycle } = source;
  const cuts = shared.cuts;
  const records = bounded(reader.walk(start, end), range);
  let position = start;
  let chunkStart = performance.now();
  for (let read = 1; ; read++) {
    const next = records.next();
    if (next.done === true) return;
    position = next.value.lsn;
    yield next.value;
    if (read % CHECK_EVERY !== 0 || performance.now() - chunkStart < CHUNK_MS) continue;
    await new Promise<void>((resolve) => setImmediate(resolve));
    chunkStart = performance.now();
    lifecycle.checkOpen();
    // Bytes ahead of the reader, or records it yielded, may be gone: it stops rather than read
    // what is no longer the log.
    const cut = shared.cuts === cuts ? end : shared.lowestCutSince(cuts);
    const head = source.store.head ?? 0;
    if (cut < end || head > position) throw iterationCut(cut, head, position);
  }
}
