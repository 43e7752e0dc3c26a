/**
 * @module
 * The state one log shares between every thread that writes it, and the protocol that lets
 * them append in parallel and share durability barriers (group commit). Everything here lives
 * in one `SharedArrayBuffer`; every `Wal` of the log (the owner, and each `Wal.attach` in a
 * Worker) and every sync thread works on the same memory through `Atomics`.
 *
 * ## Actors
 *
 * - **Writers**: any `Wal` of the log, in any thread, inside `append` or `appendBatch`.
 * - **Syncers**: any thread inside `sync`, `appendAndSync`, or the sync thread that runs the
 *   barriers of `commit` and `syncAsync` off the event loop (see `sync-thread.ts`).
 * - **The closer**: the owner's `close`.
 *
 * ## Shared slots
 *
 * - `BASE`, `OFFSET`, `EPOCH`: the LSN the next append gets is `BASE + OFFSET`. A writer
 *   reserves `8 + n` bytes with one `Atomics.add` on the Int32 `OFFSET`; the old value past
 *   `BASE` is its LSN. Reservations never overlap and never go back. `BASE` (64-bit) moves
 *   only in a rebase or a cut (rules 8, 10), between two increments of `EPOCH`, so a thread
 *   caches it and checks one Int32 instead of loading a BigInt per append.
 * - `LOCKED_END`, `REBASE_AT`: while a rebase is pending, `OFFSET` is past `REBASE_AT` and
 *   the log ends at `BASE + LOCKED_END` (-1 until the rebasing writer says so).
 * - `BUSY[i]`, `SLOT_OFFSET[i]`, `SLOT_LSN[i]` (64 write slots): a writer holds a slot from
 *   before it reserves until its bytes are written. `BUSY[i]` says how to read its LSN (see
 *   `Slot`): `BASE + SLOT_OFFSET[i]`, or `SLOT_LSN[i]` for the rebasing writer's; either is
 *   the LSN of the slot's current write, or of an earlier write while the new one is being
 *   reserved: never more than the LSN being written. A parked slot reserves nothing.
 * - `DURABLE`: every byte below it is on stable storage. Only grows.
 * - `TOKEN`: 0, or the id of the one syncer allowed to run a barrier now (the leader).
 * - `GENERATION`: bumped whenever a leader finishes, the log fails or closes; syncers sleep on it.
 * - `WRITE_WAITERS`, `WRITE_SIGNAL`: syncers waiting for writes to finish count themselves in
 *   `WRITE_WAITERS`; a finishing writer bumps `WRITE_SIGNAL` and wakes them only when it is
 *   non-zero, so the common append pays one load for this.
 * - `FAILURE`, `FAILURE_LSN`, the failure message: set once, by the first failure.
 * - `CLOSED`: set by the closer.
 * - `EXCLUSIVE`: set while the owner truncates either end; writers wait for it to clear.
 * - `CUTS`, `CUT_LSN[e % 16]`: how many times `truncateAfter` cut the log, and where cut `e`
 *   went; a durable call for a record written before a cut learns whether the cut removed it.
 * - `FILLED`, `FILLING`, `ZEROED_AT`: nothing has been written at or above `FILLED` since the
 *   log was opened or last cut (the file may end there, or hold zeros there); `FILLING` is 0,
 *   or the id of the one writer moving `FILLED` up (rule 9); `ZEROED_AT` is `BARRIERS` when
 *   zeros were last written, -1 before the first.
 * - `START`, `APPENDS[i]`, `APPENDS`, `BARRIERS`, `WEAK_BARRIERS`: counters for `stats()`. Each
 *   slot counts its appends in an Int32 written only by the slot's holder and folded into the
 *   64-bit total. `WEAK_BARRIERS` counts the barriers of `BARRIERS` that were plain `fsync`
 *   because the file system refused the full one; it is added to by whichever thread ran the
 *   barrier, in the same step that counts it in `BARRIERS`.
 * - `LATENCY[b]`, `LATENCY_MAX_US`, `SLOW_SYNCS`, `SLOW_THRESHOLD_US`, `LAST_SLOW_US`: how
 *   long barriers took, counted by whichever thread ran them, how many took at least the slow
 *   threshold, and how long the last of those took.
 *
 * ## Ordering rules (all through sequentially consistent `Atomics`)
 *
 * 1. A writer takes its slot (`BUSY[i]` 0 → 1) before it reserves, stores its offset in
 *    `SLOT_OFFSET[i]` after (its LSN in `SLOT_LSN[i]` when it rebases, rule 10), and frees the
 *    slot only once every byte is written.
 * 2. The written watermark is computed, never stored: load the end of the reservations, then
 *    take the minimum with the LSN of every slot that is not free or parked, all in one
 *    stable `EPOCH` (read again after, and retried when it moved). A reservation the load saw
 *    was preceded by its slot being taken, so either the slot is still busy (and its LSN, or a
 *    smaller one, caps the watermark) or its bytes are written. Everything below the watermark
 *    is written.
 * 3. A leader reads the watermark W after taking `TOKEN`, runs one barrier, then raises
 *    `DURABLE` to W. `DURABLE` therefore never passes a byte that was not written before a
 *    barrier that returned success.
 * 4. A syncer whose target is at or below `DURABLE` returns without a syscall. Otherwise it
 *    waits for writes below its target, then either takes `TOKEN` and leads, or sleeps on
 *    `GENERATION` until the leader finishes and checks again.
 * 5. Fail-stop: a failed write records its LSN as `FAILURE_LSN`, which caps the watermark, so
 *    the gap it leaves is never reported durable; a failed barrier publishes nothing. Either
 *    way `FAILURE` is set, and every later append, sync or commit in every thread throws.
 * 6. Stalls: a syncer that sees neither the watermark nor `GENERATION` move for `stallTimeout`
 *    milliseconds (a Worker died between reserving and writing, or a leader died) declares
 *    the log stalled: it records a failure and throws `STALLED` instead of waiting forever.
 * 7. Closing: a closer whose thread has commits pending first drains them with one `syncTo`,
 *    as any syncer. Then it sets `CLOSED`, and waits until no slot is busy and `TOKEN` is free.
 *    Writers check `CLOSED` after taking their slot, leaders after taking `TOKEN`, so no thread
 *    touches the file descriptor once the closer has seen the log idle and closed it.
 * 8. Truncating: the owner sets `EXCLUSIVE`, waits until no slot is busy, and takes `TOKEN`.
 *    Writers check `EXCLUSIVE` after taking their slot (and back off until it clears), so while
 *    the owner holds both, no write or barrier touches the files, and the log ends at
 *    the end of the reservations (not at the watermark: a writer backing off holds its slot
 *    for a moment with a stale LSN). A cut then moves `BASE` to the new end (`OFFSET` and every
 *    slot's LSN to 0 past it), `DURABLE` down to it if above, and records the cut, before
 *    `EXCLUSIVE` clears. A durable call for a specific record compares against the cuts made
 *    since the record was written: if one removed it, the call fails rather than wait forever
 *    or report durable bytes that now belong to another record.
 * 9. Filling: a writer writes only below `FILLED`. One whose reservation ends above it takes
 *    `FILLING` (or sleeps on it until it is free, then checks again), raises `FILLED` past its
 *    end, and may write zeros between its end and the new `FILLED` first: every writer that
 *    reserved bytes there is still waiting for `FILLED`, so no record is ever overwritten by
 *    zeros. It writes them only for the first fill and when a barrier ran since the last
 *    zeros: they make later barriers cheaper, so a log that is appended to without syncs
 *    would write each byte twice for nothing. Bytes between the old `FILLED` and the filler's end are left to the writers that
 *    reserved them. When the zeros do not fit (the disk is full: ENOSPC, EDQUOT, EFBIG), the
 *    filler gives them up, not its write: it cuts what part of them was written (nothing else
 *    lies past its end) and raises `FILLED` only to its own end; like written zeros, this
 *    counts as the fill of this barrier interval, so a full disk costs one failed zero write
 *    per barrier, not one per append. Any other error of the zero write fails the filler's
 *    write and poisons the log. `FILLED` only grows, except when a cut (rule 8) lowers it to
 *    the new end; a writer's cached copy of it is therefore good until the next cut.
 * 10. Rebasing: the one writer whose reservation crosses `REBASE_AT` (its `OFFSET` was at or
 *    below it and its end is past it), or a writer of more than `FAST_RESERVATION` bytes that
 *    pushes `OFFSET` past it with a compare-exchange, reserves at `BASE + OFFSET` and rebases.
 *    It publishes `LOCKED_END`, moves its own slot to `Absolute`, and waits until no other slot
 *    is `Relative`: every writer whose reservation counts from the old base has then read that
 *    base and finished writing, and every later add lands past `REBASE_AT`, reserves nothing,
 *    and parks its slot until `OFFSET` is back below it. Then, between two increments of
 *    `EPOCH`, it sets `BASE` past its own write, every `SLOT_OFFSET` to 0, and `OFFSET` to 0
 *    last of all. A writer reads the base after its add, while its slot is `Relative`, so it
 *    reads the base its offset counts from. Each parked writer overshoots `OFFSET` at most
 *    once per rebase, so it stays below 2^31.
 */

import { assert } from "./assert.ts";
import { closed, invalidArgument, truncated } from "./errors.ts";
import type { BarrierStrength } from "./platform/platform.ts";
import { Reservations } from "./reservation.ts";
import {
  B_BARRIERS,
  B_BASE,
  B_CUT_LSN,
  B_DURABLE,
  B_FILLED,
  B_START,
  B_WEAK_BARRIERS,
  B_ZEROED_AT,
  BUFFER_SIZE,
  CUT_HISTORY,
  I_CLOSED,
  I_CUTS,
  I_EPOCH,
  I_EXCLUSIVE,
  I_FILLING,
  I_GENERATION,
  I_LOCKED_END,
  I_MAGIC,
  I_NEXT_ID,
  I_OFFSET,
  I_REBASE_AT,
  I_SLOT_OFFSET,
  I_TOKEN,
  MAGIC,
  REBASE_AT,
  SLOTS,
} from "./shared-layout.ts";
import { monotonicClock } from "./shared-state.ts";

export type { BarrierLatency, SharedStats } from "./shared-state.ts";

/**
 * The platform's barrier over the log's bytes `[from, to)`, the ones written but not yet known
 * durable: a segmented log syncs only the segment holding the last of them (every earlier
 * segment was synced full at its roll). Returns what it was: `"fsync"` when the file system
 * refused the full barrier (see `BarrierStrength`), which the leader counts.
 */
export type Barrier = (from: number, to: number) => BarrierStrength;

/** One log's shared memory and the operations of the protocol above. */
export class SharedLog extends Reservations {
  /**
   * Fresh shared state for a log whose valid records end, durably, at `end`, in a store of
   * `size` bytes (everything past `end` is zero). `rebaseAt` is where reservations move the
   * base up (rule 10); tests lower it to rebase often.
   */
  static create(
    end: number,
    size: number,
    stallTimeout: number,
    clock: () => number = monotonicClock,
    rebaseAt: number = REBASE_AT,
  ): SharedLog {
    assert(rebaseAt > 0 && rebaseAt <= REBASE_AT, "rebaseAt must be in (0, REBASE_AT]");
    const buffer = new SharedArrayBuffer(BUFFER_SIZE);
    // Before the constructor, which reads it.
    new Int32Array(buffer)[I_REBASE_AT] = rebaseAt;
    const log = new SharedLog(buffer, stallTimeout, clock);
    const start = BigInt(end);
    for (const cell of [B_BASE, B_DURABLE, B_START]) Atomics.store(log.big, cell, start);
    Atomics.store(log.i32, I_LOCKED_END, -1);
    Atomics.store(log.big, B_FILLED, BigInt(size));
    Atomics.store(log.big, B_ZEROED_AT, -1n);
    // Last: a thread that sees the magic sees the state above.
    Atomics.store(log.i32, I_MAGIC, MAGIC);
    return log;
  }

  /** The shared state behind `buffer`, or null when `buffer` is not one. */
  static attach(buffer: unknown, stallTimeout: number): SharedLog | null {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength !== BUFFER_SIZE) return null;
    const log = new SharedLog(buffer, stallTimeout, monotonicClock);
    return Atomics.load(log.i32, I_MAGIC) === MAGIC ? log : null;
  }

  /** A number no other `Wal` or sync thread of this log has: a leader's name on `TOKEN`. */
  newId(): number {
    return Atomics.add(this.i32, I_NEXT_ID, 1) + 1;
  }

  /**
   * For a writer holding a slot whose reservation ends at `end`: returns once `FILLED` is at
   * or above `end` (rule 9), raising it itself when no other writer is. As the filler it raises
   * `FILLED` to `to` (at least `end`), first calling `fill(end, to)` to write zeros there when
   * a barrier ran since the last zeros were written (or none were yet); `fill` returns where
   * the zeros it wrote end, `end` when it gave them up, and `FILLED` goes only that far. `id`
   * names the filler on `FILLING`.
   * @returns `FILLED`, at or above `end`: the caller may cache it until the next cut.
   * @throws `fill`'s error (the caller abandons its write, which poisons the log); `STALLED`
   * when another filler makes no progress for `stallTimeout`.
   */
  fill(end: number, to: number, id: number, fill: (from: number, to: number) => number): number {
    for (;;) {
      const filled = Number(Atomics.load(this.big, B_FILLED));
      if (end <= filled) return filled;
      const holder = Atomics.compareExchange(this.i32, I_FILLING, 0, id);
      if (holder === 0) {
        try {
          // Checked again under `FILLING`: another filler may have raised it meanwhile.
          const now = Number(Atomics.load(this.big, B_FILLED));
          if (end <= now) return now;
          const barriers = Atomics.load(this.big, B_BARRIERS);
          let filled = to;
          if (to > end && barriers !== Atomics.load(this.big, B_ZEROED_AT)) {
            filled = fill(end, to);
            Atomics.store(this.big, B_ZEROED_AT, barriers);
          }
          Atomics.store(this.big, B_FILLED, BigInt(filled));
          return filled;
        } finally {
          Atomics.store(this.i32, I_FILLING, 0);
          Atomics.notify(this.i32, I_FILLING);
        }
      }
      if (Atomics.wait(this.i32, I_FILLING, holder, this.stallTimeout) === "timed-out") {
        throw this.stall(filled);
      }
      this.throwIfStopped();
    }
  }

  /**
   * Blocks until every byte below `target` is durable, running `barrier` as the leader when
   * that falls to this caller (rules 3, 4, 6). `id` names the caller on `TOKEN`. `cuts` is as
   * for {@link SharedLog.durableGoal}.
   * @throws the barrier's error when this caller's barrier failed; `POISONED` when the log
   * failed elsewhere; `STALLED`; `CLOSED`; `TRUNCATED`.
   */
  syncTo(target: number, cuts: number | null, id: number, barrier: Barrier): void {
    let seenWritten = -1;
    let seenGeneration = -1;
    let deadline = 0;
    for (;;) {
      const generation = Atomics.load(this.i32, I_GENERATION);
      if (this.durable >= this.durableGoal(target, cuts)) return;
      this.throwIfStopped();
      const written = this.written();
      const now = this.clock();
      if (written !== seenWritten || generation !== seenGeneration) {
        seenWritten = written;
        seenGeneration = generation;
        deadline = now + this.stallTimeout;
      } else if (now >= deadline) {
        throw this.stall(written);
      }
      const patience = Math.max(1, deadline - now);
      if (written < target) {
        this.waitForWrites(target, patience);
      } else if (Atomics.compareExchange(this.i32, I_TOKEN, 0, id) === 0) {
        this.lead(barrier);
      } else {
        Atomics.wait(this.i32, I_GENERATION, generation, patience);
      }
    }
  }

  /**
   * What a durable call waiting for the bytes below `target` still waits for, after the cuts
   * `truncateAfter` made meanwhile (rule 8). With `cuts` null, `target` is "everything appended
   * before the call", and whatever a cut removed is no longer waited for. With `cuts` the count
   * noted when one record ending at `target` was written, that record must still be whole.
   * @throws WalError `TRUNCATED` when a cut since removed (part of) that record.
   */
  durableGoal(target: number, cuts: number | null): number {
    if (cuts === null) return Math.min(target, this.reserved);
    if (Atomics.load(this.i32, I_CUTS) === cuts) return target;
    // Cuts older than the history count as cutting to 0: they may have removed the record,
    // and saying so beats guessing.
    const lowest = this.lowestCutSince(cuts);
    if (lowest < target) throw truncated(target, lowest);
    return target;
  }

  /**
   * The lowest end the cuts made since the cut count was `cuts` left the log at (rule 8): the
   * end of the log when none was made, 0 when more were made than the history keeps (any of
   * them may have gone that low). For a reader that noted `cuts` and must know whether the
   * bytes it read are still the log's.
   */
  lowestCutSince(cuts: number): number {
    const now = Atomics.load(this.i32, I_CUTS);
    if (now - cuts > CUT_HISTORY) return 0;
    let lowest = this.reserved;
    for (let cut = now; cut > cuts; cut--) {
      lowest = Math.min(lowest, Number(Atomics.load(this.big, B_CUT_LSN + (cut % CUT_HISTORY))));
    }
    return lowest;
  }

  /**
   * Runs `action` with the log to itself (rule 8): no write or barrier in flight in any thread,
   * and writers that arrive meanwhile wait. For the owner's `truncateBefore`/`truncateAfter`.
   * @throws `STALLED` when a writer or barrier makes no progress for `stallTimeout`.
   */
  exclusive<T>(id: number, action: () => T): T {
    if (Atomics.compareExchange(this.i32, I_EXCLUSIVE, 0, 1) !== 0) {
      throw invalidArgument("another truncation of this log is running");
    }
    let holdsToken = false;
    try {
      const deadline = this.clock() + this.stallTimeout;
      for (;;) {
        this.throwIfStopped();
        const generation = Atomics.load(this.i32, I_GENERATION);
        if (this.busySlots() === 0) {
          holdsToken = Atomics.compareExchange(this.i32, I_TOKEN, 0, id) === 0;
          if (holdsToken) break;
        }
        const patience = deadline - this.clock();
        if (patience <= 0) throw this.stall(this.written());
        this.waitForWrites(Number.POSITIVE_INFINITY, Math.min(patience, 5));
        if (Atomics.load(this.i32, I_TOKEN) !== 0) {
          Atomics.wait(this.i32, I_GENERATION, generation, Math.min(patience, 5));
        }
      }
      return action();
    } finally {
      if (holdsToken) Atomics.store(this.i32, I_TOKEN, 0);
      Atomics.store(this.i32, I_EXCLUSIVE, 0);
      Atomics.notify(this.i32, I_EXCLUSIVE);
      this.wakeSyncers();
    }
  }

  /**
   * Inside {@link SharedLog.exclusive}: the end of the log. Every reserved byte is written (no
   * write was in flight when the section began, and none starts in it), so it is `RESERVED`.
   * Not `written()`: a writer that takes a slot only to see `EXCLUSIVE` and back off holds it
   * for a moment with the LSN of its slot's earlier write, which would cap the watermark below
   * the real end.
   */
  reservedWhileExclusive(): number {
    return this.reserved;
  }

  /**
   * Inside {@link SharedLog.exclusive}: the log was cut to `end`. Moves the offsets down and
   * records the cut (rule 8). `stats().bytes` keeps counting what was written before.
   */
  cut(end: number): void {
    const value = BigInt(end);
    Atomics.sub(this.big, B_START, BigInt(this.reserved) - value);
    Atomics.add(this.i32, I_EPOCH, 1);
    Atomics.store(this.big, B_BASE, value);
    // A slot's LSN caps the watermark while its next reservation is made: none may stay above.
    for (let slot = 0; slot < SLOTS; slot++) Atomics.store(this.i32, I_SLOT_OFFSET + slot, 0);
    Atomics.store(this.i32, I_OFFSET, 0);
    Atomics.add(this.i32, I_EPOCH, 1);
    if (Atomics.load(this.big, B_DURABLE) > value) Atomics.store(this.big, B_DURABLE, value);
    // The store was cut to `end` too: nothing past it is written, and nothing is zero-filled.
    Atomics.store(this.big, B_FILLED, value);
    const cut = Atomics.load(this.i32, I_CUTS) + 1;
    Atomics.store(this.big, B_CUT_LSN + (cut % CUT_HISTORY), value);
    Atomics.store(this.i32, I_CUTS, cut);
  }

  /**
   * Runs `barrier(from, upTo)` and, once it returns, raises `DURABLE` to `upTo`: the one place
   * a barrier becomes durability. It is timed and counted (with its strength); when it throws,
   * the log is poisoned for every thread and the error rethrown. Every syncer's barrier runs
   * through here: the token holder's (`lead`), a single-threaded store's round, and
   * `truncateBefore`'s under the exclusive hold. The caller holds the token or the hold, or
   * is the only thread the store has.
   */
  barrierThenDurable(from: number, upTo: number, barrier: Barrier): void {
    const started = performance.now();
    let strength: BarrierStrength;
    try {
      strength = barrier(from, upTo);
    } catch (error) {
      this.failBarrier(error);
      throw error;
    }
    this.durableAfter(upTo, started, strength);
  }

  /** {@link SharedLog.barrierThenDurable} for a barrier that does not block this thread. */
  async barrierThenDurableAsync(
    upTo: number,
    barrier: () => Promise<BarrierStrength>,
  ): Promise<void> {
    const started = performance.now();
    let strength: BarrierStrength;
    try {
      strength = await barrier();
    } catch (error) {
      this.failBarrier(error);
      throw error;
    }
    this.durableAfter(upTo, started, strength);
  }

  /** A barrier of `strength` started at `started` covered every byte below `upTo`. */
  private durableAfter(upTo: number, started: number, strength: BarrierStrength): void {
    // Durable ≤ written ≤ reserved: a barrier covers only bytes some writer reserved.
    assert(upTo <= this.reserved, "a barrier must make durable only reserved bytes");
    this.timeBarrier((performance.now() - started) * 1000);
    this.raiseDurable(upTo, strength);
    this.wakeSyncers();
  }

  /**
   * Raises `DURABLE` to `lsn` (never lowers it) and counts the barrier that made it so, and
   * whether it was a weak one.
   */
  private raiseDurable(lsn: number, strength: BarrierStrength): void {
    const value = BigInt(lsn);
    let current = Atomics.load(this.big, B_DURABLE);
    while (current < value) {
      const seen = Atomics.compareExchange(this.big, B_DURABLE, current, value);
      if (seen === current) break;
      current = seen;
    }
    // The barrier first, then whether it was weak; `stats` loads them the other way round, so
    // every weak barrier it sees is among the barriers it sees: `weakBarriers <= barriers`.
    Atomics.add(this.big, B_BARRIERS, 1n);
    if (strength === "fsync") Atomics.add(this.big, B_WEAK_BARRIERS, 1n);
  }

  /**
   * Marks the log closed (rule 7) and waits, at most `stallTimeout`, until no write or barrier
   * is in flight. @returns whether the log went idle: when false, a writer is stuck inside
   * its write and the file descriptor must stay open.
   */
  close(): boolean {
    Atomics.store(this.i32, I_CLOSED, 1);
    this.wakeSyncers();
    const deadline = this.clock() + this.stallTimeout;
    for (;;) {
      const generation = Atomics.load(this.i32, I_GENERATION);
      const busy = this.busySlots() > 0 || Atomics.load(this.i32, I_TOKEN) !== 0;
      if (!busy) return true;
      const patience = deadline - this.clock();
      if (patience <= 0) return false;
      // Writers signal only while someone waits for writes; count ourselves among them.
      this.waitForWrites(Number.POSITIVE_INFINITY, Math.min(patience, 5));
      if (Atomics.load(this.i32, I_TOKEN) !== 0) {
        Atomics.wait(this.i32, I_GENERATION, generation, Math.min(patience, 5));
      }
    }
  }

  /** Runs one barrier while holding `TOKEN`, then frees it and wakes every syncer (rule 3). */
  private lead(barrier: Barrier): void {
    try {
      // Checked under the token: once the closer sees it free, no barrier touches the file.
      if (this.isClosed) throw closed();
      const upTo = this.written();
      const from = this.durable;
      if (upTo > from) this.barrierThenDurable(from, upTo, barrier);
    } finally {
      // One wake-up for everything: the new `DURABLE`, a failure, and the free token.
      Atomics.store(this.i32, I_TOKEN, 0);
      this.wakeSyncers();
    }
  }
}
