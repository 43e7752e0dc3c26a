/**
 * @module
 * Where each cell of a log's shared state lives in its `SharedArrayBuffer`: the Int32 cells,
 * then the BigInt64 ones, then the first failure's message. commit.ts's header says what each
 * cell means and the rules that govern it; this file only places them.
 */

/**
 * Barrier latencies are counted in buckets: four per power of two of microseconds, so a
 * percentile read from them is within 19% of the true one, over 1 µs to 35 minutes.
 */
export const LATENCY_SUBBUCKETS = 4;
export const LATENCY_BUCKETS = 31 * LATENCY_SUBBUCKETS;

/** Concurrent writes in flight; a writer finding every slot busy waits for one. */
export const SLOTS = 64;
export const MAGIC = 0x57414c31; // "WAL1"
export const FAILURE_MESSAGE_BYTES = 512;
/** How many recent cuts are remembered; a record older than that many cuts counts as cut. */
export const CUT_HISTORY = 16;

// Int32 cells.
export const I_MAGIC = 0;
export const I_TOKEN = 1;
export const I_GENERATION = 2;
export const I_WRITE_WAITERS = 3;
export const I_WRITE_SIGNAL = 4;
export const I_FAILURE = 5;
export const I_FAILURE_CLAIM = 6;
export const I_FAILURE_MESSAGE_LENGTH = 7;
export const I_CLOSED = 8;
export const I_NEXT_ID = 9;
export const I_EXCLUSIVE = 10;
export const I_CUTS = 11;
export const I_FILLING = 12;
export const I_LATENCY_MAX_US = 13;
export const I_SLOW_SYNCS = 14;
export const I_SLOW_THRESHOLD_US = 15;
export const I_EPOCH = 16;
export const I_OFFSET = 17;
export const I_LOCKED_END = 18;
export const I_REBASE_AT = 19;
export const I_BUSY = 20;
export const I_SLOT_OFFSET = I_BUSY + SLOTS;
export const I_APPENDS = I_SLOT_OFFSET + SLOTS;
export const I_LATENCY = I_APPENDS + SLOTS;
export const I_LAST_SLOW_US = I_LATENCY + LATENCY_BUCKETS;
export const INT32_CELLS = I_LAST_SLOW_US + 1;

// BigInt64 cells, after the Int32 ones.
/** Rounded up to 8 bytes: a BigInt64Array must start at a multiple of its element size. */
export const BIG_OFFSET = Math.ceil((INT32_CELLS * 4) / 8) * 8;
export const B_BASE = 0;
export const B_DURABLE = 1;
export const B_BARRIERS = 2;
export const B_FAILURE_LSN = 3;
export const B_START = 4;
export const B_APPENDS = 5;
export const B_FILLED = 6;
export const B_ZEROED_AT = 7;
export const B_WEAK_BARRIERS = 8;
export const B_SLOT_LSN = 9;
export const B_CUT_LSN = B_SLOT_LSN + SLOTS;
export const BIG_CELLS = B_CUT_LSN + CUT_HISTORY;

export const MESSAGE_OFFSET = BIG_OFFSET + BIG_CELLS * 8;
/** The size of the shared buffer of one log. */
export const BUFFER_SIZE = MESSAGE_OFFSET + FAILURE_MESSAGE_BYTES;
/** What a write slot's `BUSY` cell holds (see commit.ts, rule 1). */
export enum Slot {
  Free = 0,
  /** Taken; its reservation, once made, is `SLOT_OFFSET` bytes past `BASE`. */
  Relative = 1,
  /** Taken by the writer that rebases; its reservation is at the LSN in `SLOT_LSN`. */
  Absolute = 2,
  /** Taken, but reserving nothing: its writer waits for a rebase to finish. */
  Parked = 3,
}
/**
 * The offset past `BASE` at which reservations move the base up (rule 10). Well below 2^31,
 * so the reservations that overshoot it before the base moves (at most one per slot, each at
 * most {@link FAST_RESERVATION}) cannot overflow the Int32.
 */
export const REBASE_AT = 2 ** 30;
/** Larger reservations take the slow path: they move the base themselves. */
export const FAST_RESERVATION = 8 * 1024 * 1024;

/** A slot's append count folds into the 64-bit total here, long before its Int32 overflows. */
export const APPENDS_FOLD = 2 ** 30;

/** Why the log stopped. Only the first failure is kept. */
export enum Failure {
  None = 0,
  Write = 1,
  Barrier = 2,
  Stalled = 3,
  LogFull = 4,
}
