/**
 * @module
 * What a `Wal` may still do: open or closed, read-only, attached (a Worker's `Wal`, which
 * writes but does not read or truncate), poisoned. Each public call of the `Wal` starts with
 * one of the checks here; they throw the error that says why the call cannot run.
 *
 * A poisoned log stays poisoned: after a failed write or barrier the kernel may already have
 * dropped the unsynced pages, so the first failure is kept and every later write or sync
 * throws `POISONED` with it as the cause (DESIGN.md, rules 2 and 3).
 */

import type { SharedLog } from "./commit.ts";
import { closed, invalidArgument, poisoned, readOnlyLog, WalError } from "./errors.ts";

/** The state every part of one `Wal` consults before it acts. */
export class Lifecycle {
  /** Set by `close`; every call but `close` then throws `CLOSED`. */
  isClosed = false;
  /**
   * What a barrier round cut short by `close` rejects with: `CLOSED`, or the error of the
   * barrier `close` ran to drain the pending commits. Set by `close`.
   */
  closeReason: unknown;
  /** The first failure that poisoned the log from this `Wal`, or undefined. */
  private failure: unknown;

  /**
   * @param shared - the log's shared state, which knows whether any thread closed or stopped it.
   * @param path - the log's path (or the store's description), for `READ_ONLY` messages.
   * @param readOnly - opened with `Wal.openReadOnly`.
   * @param attached - joined from another thread with `Wal.attach`.
   */
  constructor(
    private readonly shared: SharedLog,
    private readonly path: string,
    readonly readOnly: boolean,
    readonly attached: boolean,
  ) {}

  /** Throws `CLOSED` once this `Wal` or the log's owner closed the log. */
  checkOpen(): void {
    if (this.isClosed || this.shared.isClosed) throw closed();
  }

  /** Throws unless `call` may write: open, not read-only, not poisoned, not stopped. */
  checkWritable(call: string): void {
    this.checkOpen();
    if (this.readOnly) throw readOnlyLog(call, this.path);
    if (this.failure !== undefined) throw poisoned(this.failure);
    this.shared.throwIfStopped();
  }

  /** Throws unless this `Wal` may read: open, and the owner's (an attached one only writes). */
  checkReadable(): void {
    this.checkOpen();
    if (this.attached) {
      throw invalidArgument(
        "an attached Wal only writes; iterate from the Wal that owns the log (Wal.open)",
      );
    }
  }

  /** What `console.log(wal)` says of the log's state. */
  get state(): "closed" | "poisoned" | "read-only" | "attached" | "open" {
    if (this.isClosed || this.shared.isClosed) return "closed";
    if (this.failure !== undefined || this.shared.failed) return "poisoned";
    if (this.readOnly) return "read-only";
    return this.attached ? "attached" : "open";
  }

  /** Throws unless `call`, which only the owner makes (a truncation), may run here. */
  checkOwner(call: string): void {
    this.checkWritable(call);
    if (this.attached) {
      throw invalidArgument(
        `an attached Wal cannot ${call}; call it on the Wal that owns the log (Wal.open)`,
      );
    }
  }

  /** A write of this `Wal` failed: from now on it is poisoned. Returns the error. */
  poisonWith(error: unknown): unknown {
    this.failure ??= error;
    return error;
  }

  /**
   * Keeps the error of a failed sync or barrier round as the cause this `Wal` reports from
   * now on, unless it only says the log was already closed or poisoned. Returns the error.
   */
  noteFailure(error: unknown): unknown {
    const code = error instanceof WalError ? error.code : undefined;
    if (code !== "CLOSED" && code !== "POISONED") this.failure ??= error;
    return error;
  }

  /**
   * Runs `action`, which changes the files; if it fails, what is on disk is no longer known,
   * so the log is poisoned for every thread, as after a failed barrier.
   */
  failStop(action: () => void): void {
    try {
      action();
    } catch (error) {
      this.shared.failBarrier(error);
      throw this.noteFailure(error);
    }
  }
}
