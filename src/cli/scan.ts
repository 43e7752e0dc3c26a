/**
 * @module
 * The scans the reading commands run, with the progress bar on stderr (a terminal only)
 * showing how far through the log's bytes they are: iterating a read-only log from an LSN, or
 * visiting each record during the open's own scan (`replay`), which reads the log once where
 * open then iterate reads it twice.
 */

import type { ReadOnlyWal, WalRecord } from "../index.ts";
import { ProgressBar } from "./progress.ts";

/** Records between two progress updates: a clock read per record would cost more than it shows. */
const RECORDS_PER_UPDATE = 1024;

/**
 * Calls `visit` for each record of `wal` from `from` (the head by default) to the end that
 * recovery found, in LSN order; stops early when `visit` returns false. `label` names the
 * progress bar.
 */
export function scanLog(
  wal: ReadOnlyWal,
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

/**
 * A `replay` callback that passes each record to `visit` and draws the progress bar over
 * `total` bytes; `finish` erases the bar once the open returned or threw. `data` is valid only
 * during `visit`.
 */
export function replayWithProgress(
  label: string,
  total: number,
  visit: (data: Uint8Array, lsn: number) => void,
): { replay: (data: Uint8Array, lsn: number) => void; finish: () => void } {
  const progress = new ProgressBar(label, total);
  let untilUpdate = RECORDS_PER_UPDATE;
  return {
    replay(data, lsn) {
      visit(data, lsn);
      if (--untilUpdate === 0) {
        untilUpdate = RECORDS_PER_UPDATE;
        progress.update(lsn);
      }
    },
    finish: () => progress.finish(),
  };
}
