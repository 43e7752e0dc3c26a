/**
 * @module
 * A log's shared memory (shared-layout.ts) and the primitive operations every step of the
 * protocol in commit.ts is made of: reading the watermarks, recording the first failure,
 * waking and waiting for syncers and writers, and the counters `Wal.stats()` reports. The
 * protocol's own steps (reserve, write, barrier, cut, close) are `SharedLog`'s, in commit.ts.
 */

import { closed, poisoned, stalled, type WalError } from "./errors.ts";
import { LSN_LIMIT } from "./record.ts";
import {
  B_APPENDS,
  B_BARRIERS,
  B_BASE,
  B_DURABLE,
  B_FAILURE_LSN,
  B_SLOT_LSN,
  B_START,
  B_WEAK_BARRIERS,
  BIG_CELLS,
  BIG_OFFSET,
  FAILURE_MESSAGE_BYTES,
  Failure,
  I_APPENDS,
  I_BUSY,
  I_CLOSED,
  I_CUTS,
  I_EPOCH,
  I_FAILURE,
  I_FAILURE_CLAIM,
  I_FAILURE_MESSAGE_LENGTH,
  I_GENERATION,
  I_LAST_SLOW_US,
  I_LATENCY,
  I_LATENCY_MAX_US,
  I_LOCKED_END,
  I_OFFSET,
  I_REBASE_AT,
  I_SLOT_OFFSET,
  I_SLOW_SYNCS,
  I_SLOW_THRESHOLD_US,
  I_WRITE_SIGNAL,
  I_WRITE_WAITERS,
  INT32_CELLS,
  LATENCY_BUCKETS,
  LATENCY_SUBBUCKETS,
  MESSAGE_OFFSET,
  SLOTS,
  Slot,
} from "./shared-layout.ts";

/** Counters of the whole log, across every thread. */
export interface BarrierLatency {
  /** Barriers timed: every one a sync, commit or close ran since the log was opened. */
  readonly count: number;
  /** The median barrier, in milliseconds (from buckets: within 19%). 0 with no barrier. */
  readonly p50: number;
  /** The 99th percentile, in milliseconds (from buckets: within 19%). 0 with no barrier. */
  readonly p99: number;
  /** The slowest barrier, in milliseconds (to the microsecond). 0 with no barrier. */
  readonly max: number;
}

/** The counters of the whole log that every thread shares; see `Wal.stats`. */
export interface SharedStats {
  /** Records written since the log was opened. */
  readonly appends: number;
  /** Bytes of whole records written since the log was opened, frame headers included. */
  readonly bytes: number;
  /** Durability barriers (fdatasync and the like) issued by syncs since the log was opened. */
  readonly barriers: number;
  /**
   * Of `barriers`, those that were plain `fsync` because the file system refused the full
   * barrier: macOS only, where `fcntl(F_FULLFSYNC)` answers ENOTSUP or EINVAL (SMB mounts, some
   * FUSE and exFAT file systems). The records they made durable reached the drive, which may
   * still hold them in its volatile cache across a power loss. Always 0 on Linux and Windows.
   * The barrier recovery ran at open is not among `barriers`; `Wal.recovery.barrier` says
   * what it was.
   */
  readonly weakBarriers: number;
  /** How long those barriers took. */
  readonly barrierLatency: BarrierLatency;
  /** Barriers that took at least `slowSyncThreshold` milliseconds. */
  readonly slowSyncs: number;
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();
/** The clock stall and close deadlines are measured on, in ms, unless a test passes its own. */
export const monotonicClock = (): number => performance.now();

/** The shared memory of one log and its primitive operations; see `SharedLog` (commit.ts). */
export abstract class SharedState {
  /** The memory to hand to another thread; `SharedLog.attach` reads it there. */
  readonly buffer: SharedArrayBuffer;
  protected readonly i32: Int32Array;
  protected readonly big: BigInt64Array;
  private readonly message: Uint8Array;
  /** Where this log's reservations move the base up: `REBASE_AT`, lower in tests. */
  protected readonly rebaseAt: number;
  /** This thread's copy of `BASE`, good while `EPOCH` is `baseEpoch` (rule 10). */
  private cachedBase = 0;
  private baseEpoch = -1;

  protected constructor(
    buffer: SharedArrayBuffer,
    /** How long a syncer waits for progress before declaring the log stalled, in ms. */
    readonly stallTimeout: number,
    /**
     * The time, in ms, that stall and close deadlines are measured on. Tests pass a fake one to
     * check the stall rules against readings instead of the wall clock.
     */
    protected readonly clock: () => number,
  ) {
    this.buffer = buffer;
    this.i32 = new Int32Array(buffer, 0, INT32_CELLS);
    this.big = new BigInt64Array(buffer, BIG_OFFSET, BIG_CELLS);
    this.message = new Uint8Array(buffer, MESSAGE_OFFSET, FAILURE_MESSAGE_BYTES);
    this.rebaseAt = Atomics.load(this.i32, I_REBASE_AT);
  }

  /** The LSN the next append will get. */
  get reserved(): number {
    for (;;) {
      const epoch = this.stableEpoch();
      const base = this.baseIn(epoch);
      const reserved = base + this.reservedOffset(base);
      if (Atomics.load(this.i32, I_EPOCH) === epoch) return reserved;
    }
  }

  /**
   * `EPOCH` once no rebase or cut is moving the base (it is odd while one does); such a move
   * takes a few stores, so this waits on the epoch for at most a millisecond at a time.
   */
  protected stableEpoch(): number {
    for (;;) {
      const epoch = Atomics.load(this.i32, I_EPOCH);
      if ((epoch & 1) === 0) return epoch;
      Atomics.wait(this.i32, I_EPOCH, epoch, 1);
    }
  }

  /**
   * `BASE` as of the stable `epoch`. A caller that holds a reservation made in that epoch gets
   * the right base; any other caller checks afterwards that the epoch did not move.
   */
  protected baseIn(epoch: number): number {
    if (epoch === this.baseEpoch) return this.cachedBase;
    const base = Number(Atomics.load(this.big, B_BASE));
    // Cached only when no move began meanwhile: otherwise the base may be a newer epoch's.
    if (Atomics.load(this.i32, I_EPOCH) === epoch) {
      this.cachedBase = base;
      this.baseEpoch = epoch;
    }
    return base;
  }

  /**
   * Bytes reserved past `BASE`. While a rebase is pending the offset is past `rebaseAt`, and
   * the log ends where the rebasing writer says (`LOCKED_END`), which it publishes the moment
   * after its own reservation.
   */
  private reservedOffset(base: number): number {
    let deadline = Number.POSITIVE_INFINITY;
    for (;;) {
      const offset = Atomics.load(this.i32, I_OFFSET);
      if (offset <= this.rebaseAt) return offset;
      const end = Atomics.load(this.i32, I_LOCKED_END);
      if (end >= 0) return end;
      if (deadline === Number.POSITIVE_INFINITY) deadline = this.clock() + this.stallTimeout;
      if (this.clock() >= deadline) {
        // The rebaser died between its add and saying where the log ends. The log is stalled
        // from the base up (the gap caps the watermark there), and `rebaseAt` is past every
        // reservation of this epoch but the ones that overshot it, which reserved nothing.
        if (Atomics.load(this.i32, I_FAILURE) === Failure.None) this.stall(base);
        return this.rebaseAt;
      }
      Atomics.wait(this.i32, I_LOCKED_END, -1, 1);
    }
  }

  /** Every byte below this LSN is on stable storage. */
  get durable(): number {
    return Number(Atomics.load(this.big, B_DURABLE));
  }

  /** How many cuts `truncateAfter` made: a writer notes it while holding its slot. */
  get cuts(): number {
    return Atomics.load(this.i32, I_CUTS);
  }

  /** Whether a write or barrier of any thread failed: the log is poisoned. */
  get failed(): boolean {
    return Atomics.load(this.i32, I_FAILURE) !== Failure.None;
  }

  /** Whether the owner closed the log. */
  get isClosed(): boolean {
    return Atomics.load(this.i32, I_CLOSED) !== 0;
  }

  /** Every byte below this LSN is written (rule 2). */
  written(): number {
    for (;;) {
      const epoch = this.stableEpoch();
      const base = this.baseIn(epoch);
      let low = base + this.reservedOffset(base);
      for (let slot = 0; slot < SLOTS; slot++) {
        const state = Atomics.load(this.i32, I_BUSY + slot);
        if (state === Slot.Relative) {
          low = Math.min(low, base + Atomics.load(this.i32, I_SLOT_OFFSET + slot));
        } else if (state === Slot.Absolute) {
          low = Math.min(low, Number(Atomics.load(this.big, B_SLOT_LSN + slot)));
        }
      }
      if (Atomics.load(this.i32, I_FAILURE) !== Failure.None) {
        low = Math.min(low, Number(Atomics.load(this.big, B_FAILURE_LSN)));
      }
      if (Atomics.load(this.i32, I_EPOCH) === epoch) return low;
    }
  }

  /** Records that a barrier failed: nothing it covered is reported durable (rule 5). */
  failBarrier(error: unknown): void {
    // No gap: every byte is written, it is only not known to be durable.
    this.fail(Failure.Barrier, LSN_LIMIT, error);
  }

  /** Throws `CLOSED`, or `POISONED` with the first failure's description, if either holds. */
  throwIfStopped(): void {
    if (this.isClosed) throw closed();
    if (Atomics.load(this.i32, I_FAILURE) !== Failure.None) {
      const length = Atomics.load(this.i32, I_FAILURE_MESSAGE_LENGTH);
      throw poisoned(new Error(utf8Decoder.decode(this.message.slice(0, length))));
    }
  }

  /** The counters of the whole log. */
  stats(): SharedStats {
    // Before `BARRIERS` (see `raiseDurable`).
    const weakBarriers = Number(Atomics.load(this.big, B_WEAK_BARRIERS));
    let appends = Number(Atomics.load(this.big, B_APPENDS));
    for (let slot = 0; slot < SLOTS; slot++) appends += Atomics.load(this.i32, I_APPENDS + slot);
    return {
      appends,
      // Whole records written since open: the watermark has passed exactly those bytes.
      bytes: this.written() - Number(Atomics.load(this.big, B_START)),
      barriers: Number(Atomics.load(this.big, B_BARRIERS)),
      weakBarriers,
      barrierLatency: this.barrierLatency(),
      slowSyncs: this.slowSyncs,
    };
  }

  /** Barriers that took at least the slow threshold, since the log was opened. */
  get slowSyncs(): number {
    return Atomics.load(this.i32, I_SLOW_SYNCS);
  }

  /** How long the last slow barrier took, in milliseconds; 0 before the first. */
  get lastSlowSync(): number {
    return Atomics.load(this.i32, I_LAST_SLOW_US) / 1000;
  }

  /** Barriers at or above this many milliseconds count as slow (see `slowSyncs`). */
  set slowSyncThreshold(ms: number) {
    Atomics.store(this.i32, I_SLOW_THRESHOLD_US, Math.min(2 ** 31 - 1, Math.round(ms * 1000)));
  }

  /** Counts one barrier that took `us` microseconds. */
  protected timeBarrier(us: number): void {
    const micros = Math.min(2 ** 31 - 1, Math.max(1, Math.round(us)));
    const octave = 31 - Math.clz32(micros);
    const sub = Math.floor((micros / 2 ** octave - 1) * LATENCY_SUBBUCKETS);
    Atomics.add(
      this.i32,
      I_LATENCY + Math.min(LATENCY_BUCKETS - 1, octave * LATENCY_SUBBUCKETS + sub),
      1,
    );
    let max = Atomics.load(this.i32, I_LATENCY_MAX_US);
    while (micros > max) {
      const seen = Atomics.compareExchange(this.i32, I_LATENCY_MAX_US, max, micros);
      if (seen === max) break;
      max = seen;
    }
    if (micros >= Atomics.load(this.i32, I_SLOW_THRESHOLD_US)) {
      Atomics.store(this.i32, I_LAST_SLOW_US, micros);
      Atomics.add(this.i32, I_SLOW_SYNCS, 1);
    }
  }

  private barrierLatency(): BarrierLatency {
    const counts = Array.from({ length: LATENCY_BUCKETS }, (_, b) =>
      Atomics.load(this.i32, I_LATENCY + b),
    );
    const count = counts.reduce((sum, n) => sum + n, 0);
    /** The upper bound, in ms, of the bucket holding the barrier at `rank` (1-based). */
    const percentile = (fraction: number): number => {
      if (count === 0) return 0;
      const rank = Math.max(1, Math.ceil(count * fraction));
      let seen = 0;
      for (let b = 0; b < LATENCY_BUCKETS; b++) {
        seen += counts[b]!;
        if (seen >= rank) {
          const octave = Math.floor(b / LATENCY_SUBBUCKETS);
          const sub = b % LATENCY_SUBBUCKETS;
          return (2 ** octave * (1 + (sub + 1) / LATENCY_SUBBUCKETS)) / 1000;
        }
      }
      return 0;
    };
    const max = Atomics.load(this.i32, I_LATENCY_MAX_US) / 1000;
    return {
      count,
      p50: Math.min(percentile(0.5), max),
      p99: Math.min(percentile(0.99), max),
      max,
    };
  }

  /** Sleeps until a write finishes or `timeout` ms pass, unless the watermark reached `target`. */
  protected waitForWrites(target: number, timeout: number): void {
    Atomics.add(this.i32, I_WRITE_WAITERS, 1);
    try {
      const signal = Atomics.load(this.i32, I_WRITE_SIGNAL);
      // Checked after counting ourselves in: a writer finishing from here on will signal.
      if (this.written() >= target || this.isClosed) return;
      if (Atomics.load(this.i32, I_FAILURE) !== Failure.None) return;
      Atomics.wait(this.i32, I_WRITE_SIGNAL, signal, timeout);
    } finally {
      Atomics.sub(this.i32, I_WRITE_WAITERS, 1);
    }
  }

  protected freeSlot(slot: number): void {
    this.setSlot(slot, Slot.Free);
  }

  /** Puts `slot` in `state`; a slot leaving `Relative` wakes whoever waits for writes. */
  protected setSlot(slot: number, state: Slot): void {
    Atomics.store(this.i32, I_BUSY + slot, state);
    if (Atomics.load(this.i32, I_WRITE_WAITERS) !== 0) {
      Atomics.add(this.i32, I_WRITE_SIGNAL, 1);
      Atomics.notify(this.i32, I_WRITE_SIGNAL);
    }
  }

  /** How many write slots are taken, parked ones included. */
  protected busySlots(): number {
    let busy = 0;
    for (let slot = 0; slot < SLOTS; slot++) {
      if (Atomics.load(this.i32, I_BUSY + slot) !== Slot.Free) busy++;
    }
    return busy;
  }

  protected wakeSyncers(): void {
    Atomics.add(this.i32, I_GENERATION, 1);
    Atomics.notify(this.i32, I_GENERATION);
    Atomics.add(this.i32, I_WRITE_SIGNAL, 1);
    Atomics.notify(this.i32, I_WRITE_SIGNAL);
  }

  /** Declares the log stalled at `lsn` and returns the error for the caller to throw. */
  protected stall(lsn: number): WalError {
    const error = stalled(lsn, this.stallTimeout);
    this.fail(Failure.Stalled, lsn, error);
    return error;
  }

  /**
   * Records the first failure: the message first, then `FAILURE`, which publishes it, so a
   * thread that sees the failure also sees its description. `gap` is the first byte that may
   * be missing; the written watermark never passes it.
   */
  protected fail(kind: Failure, gap: number, error: unknown): void {
    if (Atomics.compareExchange(this.i32, I_FAILURE_CLAIM, 0, 1) === 0) {
      const text = error instanceof Error ? error.message : String(error);
      const { written } = utf8.encodeInto(text, this.message);
      Atomics.store(this.i32, I_FAILURE_MESSAGE_LENGTH, written);
      Atomics.store(this.big, B_FAILURE_LSN, BigInt(gap));
      Atomics.store(this.i32, I_FAILURE, kind);
    }
    this.wakeSyncers();
  }

  /**
   * Resolves once `DURABLE` is above `lsn`, or the log failed, closed or was cut; never blocks
   * the thread. It sleeps on `GENERATION`, which every one of those events bumps. Bun 1.4.4
   * lost `waitAsync` wake-ups sent from another thread in the sync thread's pattern (see
   * sync-thread.ts); in this one it lost none of 2,500 (a Worker notifying the main thread
   * and the reverse), and the follow tests pass with no re-check. Each sleep still ends after
   * `recheckMs` to look at the watermark again, so a lost wake-up costs that much latency,
   * never a stranded follower: a load from shared memory, never a read of the log.
   */
  async durableBeyond(lsn: number, cuts: number, recheckMs: number): Promise<void> {
    for (;;) {
      // The generation first: an event after this load changes it, so the wait cannot miss it.
      const generation = Atomics.load(this.i32, I_GENERATION);
      if (
        this.durable > lsn ||
        this.isClosed ||
        this.cuts !== cuts ||
        Atomics.load(this.i32, I_FAILURE) !== Failure.None
      ) {
        return;
      }
      const wait = Atomics.waitAsync(this.i32, I_GENERATION, generation, recheckMs);
      if (wait.async) await wait.value;
    }
  }
}
