/**
 * Records and writers of the kill harness (test/kill.test.ts, test/kill-fixture.ts,
 * test/kill-writer.ts). Writer `writer` of cycle `cycle` submits, as its `seq`-th record, a
 * payload fixed by (seed, kind, cycle, writer, seq) alone: its first 8 bytes name the writer
 * (cycle × WRITERS + writer, u32 LE) and the seq (u32 LE), so the parent can rebuild any record
 * it finds and tell a phantom from a submitted record. A record is acknowledged by one line,
 * `ACK <lsn> <hash>`, printed only after the durable call covering it returned.
 */

import { writeSync } from "node:fs";
import type { AttachedWal } from "../../src/index.ts";
import { mulberry32 } from "./random.ts";
import { recordPayload, type SizeRange } from "./workers.ts";

/** Writers per child process: Workers over a single-file log, async committers over segments. */
export const WRITERS = 4;

/** The segment size of the segmented kind: small, so records straddle segments all the time. */
export const KILL_SEGMENT_SIZE = 4096;

/** Which log a child writes: one file shared with Workers, or a directory of segments. */
export type LogKind = "file" | "segmented";

/**
 * How writer `writer` makes its records durable, one style per writer:
 * - `appendAndSync`: one record, one blocking durable call;
 * - `commit`: one `await commit` at a time;
 * - `batch`: `appendBatch` of 1–6 records, then `await commit` of one more, which covers them;
 * - `concurrent`: 1–4 commits in flight at once (`Promise.all`).
 */
export const STYLES = ["appendAndSync", "commit", "batch", "concurrent"] as const;
export type WriterStyle = (typeof STYLES)[number];

/** Most records: small, named (at least 8 bytes). */
const SMALL: SizeRange = { min: 8, max: 1536 };
/**
 * One record in 32 of a file log: above the 64 KiB a `Wal` copies next to its header, so it is
 * written as two writes (header, then payload) and a kill can land between them.
 */
const LARGE: SizeRange = { min: 64 * 1024 + 1, max: 72 * 1024 };
/** One record in 16 of a segmented log: one to three segments long. */
const SPANNING: SizeRange = { min: KILL_SEGMENT_SIZE, max: 3 * KILL_SEGMENT_SIZE };

/** The name a record carries in its first 4 bytes. */
export function writerName(cycle: number, writer: number): number {
  return cycle * WRITERS + writer;
}

/** The exact payload writer `writer` of `cycle` submits as its `seq`-th record. */
export function killPayload(
  seed: number,
  kind: LogKind,
  cycle: number,
  writer: number,
  seq: number,
): Uint8Array {
  const sizes =
    kind === "file" ? (seq % 32 === 31 ? LARGE : SMALL) : seq % 16 === 15 ? SPANNING : SMALL;
  return recordPayload(seed, writerName(cycle, writer), seq, sizes);
}

/** The hash an ACK line carries: 64-bit wyhash of the payload, in hex. */
export function payloadHash(payload: Uint8Array): string {
  return Bun.hash(payload).toString(16);
}

/** One ACK line as the parent read it. */
export interface Ack {
  readonly lsn: number;
  readonly hash: string;
}

/** Parses `ACK <lsn> <hash>`; throws on anything else. */
export function parseAck(line: string): Ack {
  const match = /^ACK (\d+) ([0-9a-f]+)$/.exec(line);
  if (match === null) throw new Error(`malformed ACK line: ${JSON.stringify(line)}`);
  return { lsn: Number(match[1]), hash: match[2]! };
}

/**
 * Prints one line to stdout with one `write` (a pipe write below 4 KiB is atomic, so lines of
 * several threads never interleave, and nothing waits in a buffer a SIGKILL would drop).
 */
export function say(line: string): void {
  writeSync(1, `${line}\n`);
}

/** Prints the ACK of `payload` at `lsn`. */
export function acknowledge(lsn: number, payload: Uint8Array): void {
  say(`ACK ${lsn} ${payloadHash(payload)}`);
}

/** What one writer of a child needs: the log and which records are its own. */
export interface WriterPlan {
  readonly seed: number;
  readonly kind: LogKind;
  readonly cycle: number;
  readonly writer: number;
  /** A bound, so a child nobody kills stops by itself (and its parent fails). */
  readonly countMax: number;
}

/**
 * Writes the records of `plan` in its writer's style, acknowledging each only after the
 * durable call covering it returned, until `countMax` records or an error.
 */
export async function writeRecords(wal: AttachedWal, plan: WriterPlan): Promise<void> {
  const { seed, kind, cycle, writer } = plan;
  const style = STYLES[writer % STYLES.length]!;
  const next = mulberry32(seed ^ writerName(cycle, writer));
  const payload = (seq: number) => killPayload(seed, kind, cycle, writer, seq);
  let seq = 0;
  while (seq < plan.countMax) {
    switch (style) {
      case "appendAndSync": {
        const record = payload(seq++);
        acknowledge(wal.appendAndSync(record), record);
        break;
      }
      case "commit": {
        const record = payload(seq++);
        acknowledge(await wal.commit(record), record);
        break;
      }
      case "batch": {
        const batch = Array.from({ length: 1 + (next() % 6) }, () => payload(seq++));
        const last = payload(seq++);
        const lsns = wal.appendBatch(batch);
        const lastLsn = await wal.commit(last);
        for (const [i, record] of batch.entries()) acknowledge(lsns[i]!, record);
        acknowledge(lastLsn, last);
        break;
      }
      case "concurrent": {
        const records = Array.from({ length: 1 + (next() % 4) }, () => payload(seq++));
        const lsns = await Promise.all(records.map((record) => wal.commit(record)));
        for (const [i, record] of records.entries()) acknowledge(lsns[i]!, record);
        break;
      }
    }
  }
}
