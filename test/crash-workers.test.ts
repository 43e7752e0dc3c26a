/**
 * Durability with several writer threads across a process crash. A child's four Workers write
 * one durable call at a time (two with `appendAndSync`, two with `await commit`), and the child
 * prints `ACK <lsn> <worker> <seq>` only after a call returned. After a seeded number of ACKs
 * the parent SIGKILLs it and reopens the log: every ACKed record is at its LSN byte for byte,
 * every record found is one a Worker submitted (no phantom, no duplicate), each Worker's
 * records are a prefix of what it submitted, and recovering again finds exactly the same log.
 * WAL_KILL_RUNS sets the number of runs (default 20); run r uses seed WAL_SEED + r.
 */

import { describe, expect, test } from "bun:test";
import { type RecoveryReport, Wal } from "../src/index.ts";
import { startFixture } from "./support/child.ts";
import { mulberry32, seedFromEnv } from "./support/random.ts";
import { logPath, tempDir } from "./support/temp.ts";
import { NAMED_RECORD_SIZES, recordIdentity, recordPayload, sameBytes } from "./support/workers.ts";

const dir = tempDir();
const SEED = seedFromEnv(0xc4a5);
const RUNS = Number(process.env.WAL_KILL_RUNS ?? 20);
const WORKERS = 4;
/** The parent kills the child after 1 to this many ACK lines. */
const ACKS_MAX = 300;

interface Ack {
  readonly lsn: number;
  readonly worker: number;
  readonly seq: number;
}

function parseAck(line: string): Ack {
  const match = /^ACK (\d+) (\d+) (\d+)$/.exec(line);
  if (match === null) throw new Error(`malformed ACK line: ${JSON.stringify(line)}`);
  return { lsn: Number(match[1]), worker: Number(match[2]), seq: Number(match[3]) };
}

/** Opens the log (running recovery), reads every record, closes it. */
function recover(path: string): {
  records: { lsn: number; data: Uint8Array }[];
  len: number;
  recovery: RecoveryReport;
} {
  using wal = Wal.open(path);
  return { records: [...wal.iter()], len: wal.len, recovery: wal.recovery };
}

describe("SIGKILL of a process whose Workers append durably", () => {
  for (let run = 0; run < RUNS; run++) {
    const seed = (SEED + run) >>> 0;
    test(`run ${run}: every ACK survives, nothing else appears (WAL_SEED=${seed} WAL_KILL_RUNS=1)`, async () => {
      const context = `WAL_SEED=${seed} WAL_KILL_RUNS=1`;
      const acks = 1 + (mulberry32(seed)() % ACKS_MAX);
      const path = logPath(dir);
      const child = startFixture("crash-workers-fixture.ts", [path, String(seed), String(acks)]);
      try {
        await child.line("REACHED ");
      } finally {
        child.process.kill("SIGKILL");
      }
      const result = await child.exited();
      expect(result.stderr, context).toBe("");
      expect(result.signal, context).toBe("SIGKILL");
      const acked = result.stdout.filter((line) => line.startsWith("ACK ")).map(parseAck);
      expect(acked.length, context).toBeGreaterThanOrEqual(acks);

      const first = recover(path);
      const byLsn = new Map(first.records.map((record) => [record.lsn, record.data]));

      // Every record is one a Worker submitted, byte for byte, and each Worker's records are
      // its first calls in order: a Worker made one call at a time, so its LSNs grow with seq.
      const seqNext = new Array<number>(WORKERS).fill(0);
      for (const { lsn, data } of first.records) {
        const identity = recordIdentity(data);
        if (identity === null || identity.worker >= WORKERS) {
          throw new Error(`${context}: the record at ${lsn} was written by no Worker`);
        }
        const { worker, seq } = identity;
        if (seq !== seqNext[worker]) {
          throw new Error(
            `${context}: the record at ${lsn} is worker ${worker} seq ${seq}; expected seq ${seqNext[worker]}`,
          );
        }
        seqNext[worker] = seq + 1;
        if (!sameBytes(data, recordPayload(seed, worker, seq, NAMED_RECORD_SIZES))) {
          throw new Error(`${context}: the record at ${lsn} (worker ${worker} seq ${seq}) differs`);
        }
      }

      // Every ACKed record is there, at the LSN its call returned.
      for (const ack of acked) {
        const data = byLsn.get(ack.lsn);
        if (data === undefined) {
          throw new Error(
            `${context}: ACKed worker ${ack.worker} seq ${ack.seq} at ${ack.lsn} is lost ` +
              `(log ends at ${first.len}, recovery: ${JSON.stringify(first.recovery)})`,
          );
        }
        expect(recordIdentity(data), `${context}: record at ${ack.lsn}`).toEqual({
          worker: ack.worker,
          seq: ack.seq,
        });
      }

      // Recovery made its cut durable and final: a second open finds the same log, whole.
      const second = recover(path);
      expect(second.recovery.bytesDropped, context).toBe(0);
      expect(second.len, context).toBe(first.len);
      expect(second.records.length, context).toBe(first.records.length);
      second.records.forEach((record, i) => {
        const earlier = first.records[i]!;
        if (record.lsn !== earlier.lsn || !sameBytes(record.data, earlier.data)) {
          throw new Error(`${context}: record ${i} differs between the two recoveries`);
        }
      });
    }, 30_000);
  }
});
