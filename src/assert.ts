/**
 * @module
 * Assertions for invariants that must never break, checked where they are established and
 * only where the check is a comparison or two (TigerBeetle's style). A failed assertion is a
 * bug in wal-db, not an operating error: it throws {@link AssertionError}, which is not a
 * `WalError`, so no caller mistakes it for bad input or a failing disk and carries on.
 */

/** A broken invariant: a bug in wal-db. Report it with the message and the stack. */
export class AssertionError extends Error {
  constructor(message: string) {
    super(`wal-db internal error (a bug; please report it): ${message}`);
    this.name = "AssertionError";
  }
}

/**
 * Throws an {@link AssertionError} saying `what` when `condition` is false. `what` is a
 * constant: asserts sit on hot paths (every append, every record scanned), where building a
 * message or a closure per call would cost more than the check.
 */
export function assert(condition: boolean, what: string): asserts condition {
  if (!condition) throw new AssertionError(what);
}
