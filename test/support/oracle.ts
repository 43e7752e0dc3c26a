/**
 * The oracle every reliability harness checks a recovered log against (issue 5):
 * A = records acknowledged durable, S = records submitted, R = records recovered. Always
 * A ⊆ R byte-exact at the same LSN; R ⊆ S (no phantom, and no stale record a finished
 * truncation removed); R a gap-free run from the log's head.
 *
 * {@link LogModel} is what the workload driver tells the oracle as it goes: each record as it
 * is submitted (before the call that writes it, so a crash inside the call knows it), each
 * acknowledgement after the call returns, and each truncation as it starts and ends (while one
 * runs, the records it removes may or may not survive).
 */

import { WalError } from "../../src/index.ts";

/** A record of the log: its LSN and payload. */
export interface LoggedRecord {
  readonly lsn: number;
  readonly data: Uint8Array;
}

/** Whether a record must, may or must not be recovered, truncations aside from acks. */
type Fate = "kept" | "maybe" | "gone";

interface ModelRecord extends LoggedRecord {
  acked: boolean;
  fate: Fate;
}

/** What the oracle knows at one moment; immutable. */
export type ModelSnapshot = readonly Readonly<ModelRecord>[];

/** The records submitted, acknowledged and truncated by a workload so far. */
export class LogModel {
  private readonly records: ModelRecord[] = [];

  /** A record is about to be written at `lsn`. */
  submit(lsn: number, data: Uint8Array): void {
    this.records.push({ lsn, data, acked: false, fate: "kept" });
  }

  /** A durability call returned: every record below `end` that is still kept is durable. */
  acknowledge(end: number): void {
    for (const record of this.records) {
      if (record.fate === "kept" && record.lsn < end) record.acked = true;
    }
  }

  /** A truncation starts (`"start"`) or has returned (`"end"`): records in range go. */
  truncate(phase: "start" | "end", range: { below?: number; from?: number }): void {
    for (const record of this.records) {
      if (record.fate === "gone") continue;
      const inside =
        (range.below !== undefined && record.lsn < range.below) ||
        (range.from !== undefined && record.lsn >= range.from);
      if (inside) record.fate = phase === "start" ? "maybe" : "gone";
    }
  }

  snapshot(): ModelSnapshot {
    return this.records.map((record) => ({ ...record }));
  }
}

/** What one check found wrong; all zero for a correct recovery. */
export interface Verdict {
  lost: number;
  phantom: number;
  /** Human-readable descriptions of every problem, for failure messages. */
  problems: string[];
}

/** Checks recovered records `recovered` (from head `head`) against `model`. */
export function judge(
  model: ModelSnapshot,
  recovered: readonly LoggedRecord[],
  head: number,
): Verdict {
  const verdict: Verdict = { lost: 0, phantom: 0, problems: [] };
  let expected = head;
  for (const record of recovered) {
    if (record.lsn !== expected) {
      verdict.phantom++;
      verdict.problems.push(`gap: a record at ${record.lsn} where ${expected} was next`);
    }
    expected = record.lsn + 8 + record.data.length;
    const candidates = model.filter((m) => m.lsn === record.lsn && sameBytes(m.data, record.data));
    if (!candidates.some((m) => m.fate !== "gone")) {
      verdict.phantom++;
      verdict.problems.push(
        candidates.length > 0
          ? `stale: the record at ${record.lsn} came back after a truncation removed it`
          : `phantom: the record at ${record.lsn} (${record.data.length} bytes) was never submitted there`,
      );
    }
  }
  for (const m of model) {
    if (!m.acked || m.fate !== "kept") continue;
    if (!recovered.some((r) => r.lsn === m.lsn && sameBytes(r.data, m.data))) {
      verdict.lost++;
      verdict.problems.push(`lost: the acknowledged record at ${m.lsn} (${m.data.length} bytes)`);
    }
  }
  return verdict;
}

/** Whether `error` is one the library may throw: a `WalError`. */
export function typed(error: unknown): boolean {
  return error instanceof WalError;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
