/**
 * @module
 * What an LSN a caller passes must be, checked before anything reads the log: a non-negative
 * integer, and not below the head (the records there were dropped).
 */

import { describeValue, invalidArgument } from "./errors.ts";

/**
 * `lsn` when it is a non-negative integer; otherwise an `INVALID_ARGUMENT` naming `call` and
 * its argument `name`.
 */
export function checkLsn(lsn: number, call: string, name = "lsn"): number {
  if (!Number.isSafeInteger(lsn) || lsn < 0) {
    throw invalidArgument(
      `${call}: ${name} must be a non-negative integer LSN (one that append returned, or len), ` +
        `got ${describeValue(lsn)}`,
    );
  }
  return lsn;
}

/** `lsn` when the log, which starts at `head`, still holds it; else `INVALID_ARGUMENT`. */
export function checkNotDropped(lsn: number, head: number, call: string): number {
  if (lsn < head) {
    throw invalidArgument(
      `${call}(${lsn}): the log starts at ${head}; the records before it were dropped`,
    );
  }
  return lsn;
}
