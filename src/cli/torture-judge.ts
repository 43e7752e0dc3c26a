/**
 * @module
 * The check `wal-db torture` runs after each kill: what the recovered log must hold, given
 * what was durable before the kill and what the killed writer attempted. The definitions of
 * lost and phantom records live here; torture.ts and docs/CLI.md repeat them.
 *
 * - lost: a record durable before the kill that is not in the recovered log byte for byte at
 *   its LSN: one the writer acknowledged, or one an earlier check recovered (a recovering open
 *   makes every record it keeps durable).
 * - phantom: a recovered record that is not prefix-consistent with what the writers
 *   attempted. The log must read as the records the earlier check recovered, unchanged and at
 *   their LSNs, then the killed writer's records in the order it submitted them, with no gap,
 *   each byte for byte the payload it submitted, and at most one of them unacknowledged: the
 *   single `appendAndSync` in flight at the kill, whose bytes may or may not have reached the
 *   page cache. Anything else (a record never submitted, submitted bytes changed, a record
 *   after a missing one, two unacknowledged records) is a phantom.
 */

import type { WalRecord } from "../index.ts";
import { HEADER_SIZE } from "../record.ts";
import { CliError, EXIT } from "./command.ts";
import { type Ack, payloadHash, torturePayload } from "./torture-records.ts";

/** What one check found. */
export interface Verdict {
  /** The killed writer's records found, in order and byte for byte. */
  recovered: number;
  lost: number;
  phantom: number;
  /** The first few problems, described. */
  problems: string[];
}

/** Problems described per kill; the counts go on past it. */
const PROBLEMS_SHOWN = 5;

/**
 * Checks `recovered` against what was durable before the kill of `cycle` (`baseline`, the
 * writer's `acks`) and what its writer attempted (see the module comment for lost and phantom).
 */
export function judge(
  seed: number,
  cycle: number,
  baseline: readonly WalRecord[],
  acks: readonly Ack[],
  recovered: readonly WalRecord[],
): Verdict {
  const verdict: Verdict = { recovered: 0, lost: 0, phantom: 0, problems: [] };
  const problem = (text: string) => {
    if (verdict.problems.length < PROBLEMS_SHOWN) verdict.problems.push(text);
  };
  const byLsn = new Map(recovered.map((record) => [record.lsn, record.data]));
  // Lost: every durable record must be at its LSN, unchanged.
  for (const record of baseline) {
    const found = byLsn.get(record.lsn);
    if (found === undefined || !sameBytes(found, record.data)) {
      verdict.lost++;
      problem(
        `lost: the record at ${record.lsn}, recovered before this kill, is ${found ? "changed" : "gone"}`,
      );
    }
  }
  for (const ack of acks) {
    const payload = torturePayload(seed, cycle, ack.seq);
    if (payloadHash(payload) !== ack.hash || payload.length !== ack.length) {
      throw new CliError(
        `the writer acknowledged record ${ack.seq} with bytes the harness did not expect`,
        EXIT.failed,
      );
    }
    const found = byLsn.get(ack.lsn);
    if (found === undefined || !sameBytes(found, payload)) {
      verdict.lost++;
      problem(
        `lost: acknowledged record ${ack.seq} at ${ack.lsn} (${ack.length} bytes) is ${found ? "changed" : "gone"}`,
      );
    }
  }
  // Phantom: the log must read as the baseline, then this writer's attempts in order.
  let expectedLsn =
    baseline.length > 0 ? baseline.at(-1)!.lsn + HEADER_SIZE + baseline.at(-1)!.data.length : 0;
  recovered.forEach((record, index) => {
    if (index < baseline.length) {
      const before = baseline[index]!;
      if (record.lsn !== before.lsn || !sameBytes(record.data, before.data)) {
        verdict.phantom++;
        problem(
          `phantom: the record at ${record.lsn} (${record.data.length} bytes) is not the one recovered there before`,
        );
      }
      return;
    }
    const seq = index - baseline.length;
    const attempted = torturePayload(seed, cycle, seq);
    const plausible =
      seq <= acks.length && record.lsn === expectedLsn && sameBytes(record.data, attempted);
    if (plausible) verdict.recovered++;
    else {
      verdict.phantom++;
      problem(
        seq > acks.length
          ? `phantom: record ${seq} at ${record.lsn} follows ${acks.length} acknowledged records and one in flight`
          : `phantom: the record at ${record.lsn} (${record.data.length} bytes) is not record ${seq} as submitted`,
      );
    }
    expectedLsn = record.lsn + HEADER_SIZE + record.data.length;
  });
  return verdict;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
