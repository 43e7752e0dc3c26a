/**
 * @module
 * The write slots and the reservation of byte ranges: rules 1, 5 and 10 of the protocol in
 * commit.ts, whose header says what each shared cell means. `SharedLog` builds the rest of the
 * protocol (fills, barriers, cuts, closing) on these steps.
 */

import { logFull } from "./errors.ts";
import { LSN_LIMIT } from "./record.ts";
import {
  APPENDS_FOLD,
  B_APPENDS,
  B_BASE,
  B_SLOT_LSN,
  FAST_RESERVATION,
  Failure,
  I_APPENDS,
  I_BUSY,
  I_EPOCH,
  I_EXCLUSIVE,
  I_FAILURE,
  I_LOCKED_END,
  I_OFFSET,
  I_SLOT_OFFSET,
  SLOTS,
  Slot,
} from "./shared-layout.ts";
import { SharedState } from "./shared-state.ts";

/** A log's write slots and reservations, in its shared memory. */
export abstract class Reservations extends SharedState {
  /** Reservations up to this size take the one `Atomics.add`; larger ones rebase (rule 10). */
  private readonly fastReservation = Math.min(FAST_RESERVATION, this.rebaseAt);

  /**
   * Takes a write slot, starting the search at `hint`. Throws `CLOSED` or `POISONED` when the
   * log can no longer be written; the check follows the take, so the closer never misses us.
   * While the owner truncates (rule 8), waits for it.
   */
  takeWriteSlot(hint: number): number {
    for (;;) {
      const slot = this.takeSlot(hint);
      if (slot < 0) {
        // More writes in flight than slots: wait for one to finish.
        this.waitForWrites(Number.POSITIVE_INFINITY, 1);
        continue;
      }
      if (this.isClosed || Atomics.load(this.i32, I_FAILURE) !== Failure.None) {
        this.freeSlot(slot);
        this.throwIfStopped();
      }
      if (Atomics.load(this.i32, I_EXCLUSIVE) === 0) return slot;
      this.freeSlot(slot);
      Atomics.wait(this.i32, I_EXCLUSIVE, 1, this.stallTimeout);
    }
  }

  /** A free write slot, now taken, searching from `hint`; -1 when all are busy. */
  private takeSlot(hint: number): number {
    for (let k = 0; k < SLOTS; k++) {
      const slot = (hint + k) % SLOTS;
      if (Atomics.compareExchange(this.i32, I_BUSY + slot, Slot.Free, Slot.Relative) === 0) {
        return slot;
      }
    }
    return -1;
  }

  /** Reserves `size` bytes for the write holding `slot`; returns their LSN (rules 1, 10). */
  reserve(slot: number, size: number): number {
    let lsn = -1;
    while (lsn < 0) {
      if (size <= this.fastReservation) {
        const at = Atomics.add(this.i32, I_OFFSET, size);
        if (at + size <= this.rebaseAt) {
          Atomics.store(this.i32, I_SLOT_OFFSET + slot, at);
          // Read while this slot is Relative: no rebase can move the base under it.
          lsn = this.baseIn(this.stableEpoch()) + at;
        } else if (at <= this.rebaseAt) {
          lsn = this.rebase(slot, size, at);
        } else {
          this.parkUntilRebased(slot);
        }
      } else {
        const at = Atomics.load(this.i32, I_OFFSET);
        if (at > this.rebaseAt) {
          this.parkUntilRebased(slot);
        } else if (Atomics.compareExchange(this.i32, I_OFFSET, at, this.rebaseAt + 1) === at) {
          lsn = this.rebase(slot, size, at);
        }
      }
    }
    if (lsn + size > LSN_LIMIT) {
      const error = logFull(lsn, size);
      this.fail(Failure.LogFull, lsn, error);
      this.freeSlot(slot);
      throw error;
    }
    return lsn;
  }

  /**
   * Rule 10, for the writer holding `slot` that reserved `size` bytes at `at` past the base
   * and pushed `OFFSET` past `rebaseAt`: moves the base past its write; returns its LSN.
   * @throws `STALLED` when another writer's reservation stays in flight for `stallTimeout`.
   */
  private rebase(slot: number, size: number, at: number): number {
    Atomics.store(this.i32, I_LOCKED_END, at);
    const lsn = this.baseIn(this.stableEpoch()) + at;
    Atomics.store(this.big, B_SLOT_LSN + slot, BigInt(lsn));
    this.setSlot(slot, Slot.Absolute);
    const deadline = this.clock() + this.stallTimeout;
    while (this.anyRelativeSlot()) {
      const patience = deadline - this.clock();
      if (patience <= 0) {
        this.freeSlot(slot);
        const error = this.stall(lsn);
        Atomics.notify(this.i32, I_EPOCH);
        throw error;
      }
      this.waitForWrites(Number.POSITIVE_INFINITY, Math.min(patience, 5));
    }
    Atomics.add(this.i32, I_EPOCH, 1);
    Atomics.store(this.big, B_BASE, BigInt(lsn + size));
    for (let other = 0; other < SLOTS; other++) Atomics.store(this.i32, I_SLOT_OFFSET + other, 0);
    Atomics.store(this.i32, I_LOCKED_END, -1);
    Atomics.store(this.i32, I_OFFSET, 0);
    Atomics.add(this.i32, I_EPOCH, 1);
    Atomics.notify(this.i32, I_EPOCH);
    return lsn;
  }

  /**
   * For a writer whose add landed past `rebaseAt` and so reserved nothing: parks its slot until
   * the rebase in progress is done (rule 10), then makes it `Relative` again to retry.
   * @throws `STALLED` when the rebase makes no progress for `stallTimeout`; `POISONED` when the
   * log failed meanwhile.
   */
  private parkUntilRebased(slot: number): void {
    this.setSlot(slot, Slot.Parked);
    const deadline = this.clock() + this.stallTimeout;
    for (;;) {
      const epoch = Atomics.load(this.i32, I_EPOCH);
      if (Atomics.load(this.i32, I_OFFSET) <= this.rebaseAt) break;
      if (Atomics.load(this.i32, I_FAILURE) !== Failure.None) {
        this.freeSlot(slot);
        this.throwIfStopped();
      }
      const patience = deadline - this.clock();
      if (patience <= 0) {
        this.freeSlot(slot);
        throw this.stall(this.written());
      }
      Atomics.wait(this.i32, I_EPOCH, epoch, Math.min(patience, 5));
    }
    this.setSlot(slot, Slot.Relative);
  }

  /** Whether a write slot holds a reservation counted from the base, or may be making one. */
  private anyRelativeSlot(): boolean {
    for (let slot = 0; slot < SLOTS; slot++) {
      if (Atomics.load(this.i32, I_BUSY + slot) === Slot.Relative) return true;
    }
    return false;
  }

  /** The write holding `slot` wrote all its bytes, `records` records. */
  releaseWriteSlot(slot: number, records: number): void {
    // Counted per slot in an Int32, one cheap add per append; folded into the 64-bit total
    // long before it could overflow. A reader may miss a fold in progress: stats may lag.
    if (records >= APPENDS_FOLD) {
      Atomics.add(this.big, B_APPENDS, BigInt(records));
    } else if (Atomics.add(this.i32, I_APPENDS + slot, records) + records >= APPENDS_FOLD) {
      const folded = Atomics.exchange(this.i32, I_APPENDS + slot, 0);
      Atomics.add(this.big, B_APPENDS, BigInt(folded));
    }
    this.freeSlot(slot);
  }

  /**
   * The write holding `slot` failed after reserving `lsn`: the log is poisoned and the
   * watermark never passes `lsn` (rule 5).
   */
  abandon(slot: number, lsn: number, error: unknown): void {
    this.fail(Failure.Write, lsn, error);
    this.freeSlot(slot);
  }
}
