/**
 * @module
 * The scan every reading command runs: iterate a read-only log from an LSN, with the
 * progress bar on stderr (a terminal only) showing how far through the log's bytes it is.
 */

import type { Wal, WalRecord } from "../index.ts";
import { ProgressBar } from "./progress.ts";

/** Records between two progress updates: a clock read per record would cost more than it shows. */
const RECORDS_PER_UPDATE = 1024;

/**
 * Calls `visit` for each record of `wal` from `from` (the head by default) to the end that
 * recovery found, in LSN order; stops early when `visit` returns false. `label` names the
 * progress bar.
 */
export function scanLog(
  wal: Wal,
  label: string,
  visit: (record: WalRecord) => boolean | undefined,
  from?: number,
): void {
  const start = from ?? wal.head;
  const end = wal.recovery.end;
  const progress = new ProgressBar(label, end - start);
  let untilUpdate = RECORDS_PER_UPDATE;
  try {
    for (const record of from === undefined ? wal.iter() : wal.iterFrom(from)) {
      if (visit(record) === false) return;
      if (--untilUpdate === 0) {
        untilUpdate = RECORDS_PER_UPDATE;
        progress.update(record.lsn - start);
      }
    }
  } finally {
    progress.finish();
  }
}
