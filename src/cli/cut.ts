/**
 * @module
 * The cut `Wal.open` would make, as the reading commands report it: where the valid records
 * end, and of the bytes after them, which are damage and which are unused zeros.
 *
 * What counts as what, after the last valid record (at `end`, the cut's offset):
 * - **damage**: the bytes from the first one that is not zero to the last one that is not
 *   zero, zeros between them included. When valid records follow the first invalid bytes
 *   (kind "damage"), the region starts at `end`, whatever byte is there: a zeroed sector in
 *   the middle of the log is damage, and the valid records after it, cut with it, are part of
 *   the region.
 * - **unused**: the zeros before the damage and after it. A writer fills the space past its
 *   records with zeros (`preallocate`), so one flipped byte in that space is one damaged byte,
 *   not a megabyte of damage. They hold no record.
 * When every byte after `end` is zero and an open still cuts them (a segmented log keeps no
 * zero fill), they are the region themselves.
 * An open cuts all of it, from `end` to the end of the files (`cut`); a writer's open then
 * writes its zero fill again.
 */

import type { WalStore } from "../index.ts";
import { RecordScanner, recordsToEnd } from "../scan.ts";
import { zeroTailStart } from "../zero-tail.ts";
import type { OpenedLog } from "./open-log.ts";

/** The cut an open would make, as `inspect`, `verify`, `dump` and `tail` report it. */
export interface WouldCut {
  /** Where the damaged bytes start. */
  readonly offset: number;
  /** Damaged bytes from there: to the last byte that is not zero (see the module comment). */
  readonly bytes: number;
  /** Whole, valid records after the first invalid bytes that the cut takes with it. */
  readonly records: number;
  /** "torn tail" when no valid record follows (a crash mid-append), else "damage". */
  readonly kind: "torn tail" | "damage";
  /** Why the bytes at `offset` are not a record. */
  readonly reason: string;
  /** Unused zeros between the end of the valid records and `offset`. */
  readonly zeroBytesBefore: number;
  /** Unused zeros after the damaged bytes, to the end of the files. */
  readonly zeroBytesAfter: number;
  /** What an open cuts: from the end of the valid records to the end of the files. */
  readonly cut: { readonly offset: number; readonly bytes: number };
}

/** How much of the files {@link firstNonZero} reads at a time. */
const PROBE_SIZE = 64 * 1024;

/** Said of damage found inside the zeros after the last record, where no record starts. */
const IN_THE_ZEROS = "not zero, in the zero-filled space after the last record";

/** The cut `wal.recovery` says an open would make, or null when it would cut nothing. */
export function wouldCut(log: OpenedLog): WouldCut | null {
  const { end, storeSize, bytesDropped, recordsDropped, reason } = log.wal.recovery;
  if (bytesDropped === 0) return null;
  const kind = recordsDropped > 0 ? "damage" : "torn tail";
  const cut = { offset: end, bytes: bytesDropped };
  const store = log.openBytes();
  try {
    const first = kind === "damage" ? end : firstNonZero(store, end, storeSize);
    if (first === storeSize) {
      return {
        offset: end,
        bytes: bytesDropped,
        records: recordsDropped,
        kind,
        reason: reason ?? "no valid record",
        zeroBytesBefore: 0,
        zeroBytesAfter: 0,
        cut,
      };
    }
    // At least `first + 1` when the byte at `first` is not zero; a shorter read than the
    // recovery saw (the files changed since) ends the region there. The valid records the cut
    // takes are in the region whole, zeros at the end of the last one's payload included:
    // the records recovery counted, walked the way it counted them.
    const nonZeroEnd = Math.max(first + 1, zeroTailStart(store, first, storeSize));
    let last = nonZeroEnd;
    if (kind === "damage") {
      const scanner = new RecordScanner(store, end, storeSize, log.maxRecordSize);
      // Only zeros lie past the last byte that is not zero: no record starts there.
      scanner.zerosFrom = nonZeroEnd;
      last = Math.max(nonZeroEnd, recordsToEnd(scanner).lastRecordEnd);
    }
    return {
      offset: first,
      bytes: last - first,
      records: recordsDropped,
      kind,
      // The scanner's reason describes the bytes at `end`; past zeros, it is about the zeros.
      reason: first === end ? (reason ?? "no valid record") : IN_THE_ZEROS,
      zeroBytesBefore: first - end,
      zeroBytesAfter: storeSize - last,
      cut,
    };
  } finally {
    store.close();
  }
}

/**
 * The offset of the first byte in `[from, to)` of `store` that is not zero, or `to` when
 * there is none. Reads forward in pieces into one buffer, however far it goes.
 */
function firstNonZero(store: WalStore, from: number, to: number): number {
  const probe = new Uint8Array(Math.min(PROBE_SIZE, Math.max(0, to - from)));
  for (let at = from; at < to; ) {
    const length = Math.min(probe.length, to - at);
    const read = store.read(probe.subarray(0, length), at);
    const found = probe.subarray(0, read).findIndex((byte) => byte !== 0);
    if (found >= 0) return at + found;
    // Fewer bytes than the recovery saw: the files shrank since; nothing more to find.
    if (read < length) return to;
    at += length;
  }
  return to;
}

/**
 * How a cut reads in one line: the zeros before the damage, the damage (how many bytes,
 * where, what kind, why), the zeros after it. A cut with no zeros around it reads
 * `348 bytes at offset 30 (damage, with 2 valid records after it): checksum mismatch: ...`.
 */
export function describeCut(cut: WouldCut): string {
  const what =
    cut.kind === "torn tail"
      ? "a torn tail, no valid record after it"
      : `damage, with ${cut.records} valid record${cut.records === 1 ? "" : "s"} after it`;
  const before =
    cut.zeroBytesBefore > 0 ? `zeros from ${cut.cut.offset} to ${cut.offset}, then ` : "";
  const after =
    cut.zeroBytesAfter > 0 ? `; then zeros to the end (${cut.zeroBytesAfter} bytes)` : "";
  const size = `${cut.bytes} byte${cut.bytes === 1 ? "" : "s"}`;
  return `${before}${size} at offset ${cut.offset} (${what}): ${cut.reason}${after}`;
}

/**
 * For a command that prints records (dump, tail): the stderr line that says it stopped at
 * damage that valid records follow, so that records it did not print are not taken for the
 * end of the log; null when it stopped at the end (a torn tail is the end a crash leaves).
 */
export function damageNote(command: string, log: OpenedLog): string | null {
  const cut = wouldCut(log);
  if (cut?.kind !== "damage") return null;
  return `wal-db: ${command}: stopped at ${describeCut(cut)}; 'wal-db dump --skip-damage' prints the records after it\n`;
}
