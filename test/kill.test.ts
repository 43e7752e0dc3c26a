/**
 * The kill harness: a child process (kill-fixture.ts) writes durably from several writers and
 * prints `ACK <lsn> <hash>` for each record only once its durable call returned; the parent
 * SIGKILLs it at a seeded random moment, then checks the log against the oracle:
 * - A ⊆ R: every record ACKed in any cycle of this log is at its LSN, byte for byte (by hash);
 * - R ⊆ S: every record recovered is one a writer submitted, byte for byte, at most once, and
 *   each writer's records are the first ones it submitted, in order (nothing stale, nothing
 *   out of place);
 * - R tiles the log from 0 with no gap, and the counts in the recovery report agree;
 * - recovering twice finds exactly the same records and drops nothing the second time; the
 *   child's own recovery in the next cycle drops nothing either;
 * - every error is a WalError, and nothing hangs (a cycle that stays alive past its deadline
 *   without being killed fails).
 * Each cycle reopens the same log, so it also covers recovery followed by new appends followed
 * by the next kill; a log is replaced by a fresh one every CYCLES_PER_LOG cycles to bound it.
 * Kills land after a delay from the start (before or during recovery, before any ACK), after a
 * delay from the end of recovery (Workers starting, first writes), or after a seeded number of
 * ACKs (mid-write, mid-barrier).
 *
 * Two lanes run side by side: a single-file log and a segmented log (4 KiB segments, so the
 * Workers race each other to roll it every few records), each written by WRITERS Workers. The
 * negative control runs the same oracle over a child that ACKs before writing and must report
 * a loss.
 *
 * Knobs: WAL_KILLS, the kills of both lanes together (default 200 × WAL_SCALE); WAL_SEED.
 */

import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { spawn } from "bun";
import { Wal, WalError } from "../src/index.ts";
import {
  type Ack,
  KILL_SEGMENT_SIZE,
  killPayload,
  type LogKind,
  parseAck,
  payloadHash,
  WRITERS,
} from "./support/kill-records.ts";
import { reportFigures, sized } from "./support/knobs.ts";
import { mulberry32, seedFromEnv } from "./support/random.ts";
import { tempDir } from "./support/temp.ts";
import { FRAME_HEADER_SIZE, recordIdentity, sameBytes } from "./support/workers.ts";

const dir = tempDir("wal-db-kill-");
const SEED = seedFromEnv(0x6b11);
const KILLS = sized("WAL_KILLS", 200);
/** Cycles (kills) one log goes through before the lane starts a fresh one. */
const CYCLES_PER_LOG = 10;
/** A child neither killed nor exited by then is hung: the cycle fails. */
const CYCLE_DEADLINE_MS = 20_000;
/** Problems kept word for word for the failure message; the rest are only counted. */
const PROBLEMS_KEPT = 20;

/** When the parent kills the child of one cycle. */
type KillPlan =
  | { readonly after: "spawn"; readonly delayMs: number }
  | { readonly after: "recovered"; readonly delayMs: number }
  | { readonly after: "acks"; readonly count: number; readonly delayMs: number };

/** A seeded kill moment: mostly after some ACKs, sometimes early (startup, recovery). */
function drawPlan(next: () => number): KillPlan {
  const roll = next() % 100;
  // The child opens its log some 10–40 ms after it starts, and its writers print their first
  // ACK 5–30 ms after recovery.
  if (roll < 15) return { after: "spawn", delayMs: next() % 50 };
  if (roll < 30) return { after: "recovered", delayMs: next() % 30 };
  const count = 1 + (next() % 3 === 0 ? next() % 8 : next() % 400);
  return { after: "acks", count, delayMs: next() % 4 === 0 ? next() % 8 : 0 };
}

/** What the child of one cycle printed and how it ended. */
interface CycleOutcome {
  readonly acks: Ack[];
  /** The child's `RECOVERED` line, or null when it was killed before printing it. */
  readonly recovered: { records: number; end: number; dropped: number } | null;
  /** `FAILED` lines and any other line the child should not print. */
  readonly failures: string[];
  readonly hung: boolean;
  readonly signal: string | null;
  readonly stderr: string;
}

/** Runs one child over `path` and kills it as `plan` says. */
async function runCycle(
  kind: LogKind,
  path: string,
  seed: number,
  cycle: number,
  plan: KillPlan,
  unsafe: boolean,
): Promise<CycleOutcome> {
  const args = [kind, path, String(seed), String(cycle)];
  if (unsafe) args.push("unsafe-ack-before-write");
  const child = spawn([process.execPath, join(import.meta.dir, "kill-fixture.ts"), ...args], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const acks: Ack[] = [];
  const failures: string[] = [];
  let recovered: CycleOutcome["recovered"] = null;
  let hung = false;
  const timers: ReturnType<typeof setTimeout>[] = [];
  const killLater = (delayMs: number) => {
    if (delayMs === 0) child.kill("SIGKILL");
    else timers.push(setTimeout(() => child.kill("SIGKILL"), delayMs));
  };
  timers.push(
    setTimeout(() => {
      hung = true;
      child.kill("SIGKILL");
    }, CYCLE_DEADLINE_MS),
  );
  if (plan.after === "spawn") killLater(plan.delayMs);

  const onLine = (line: string) => {
    if (/^ACK \d+ [0-9a-f]+$/.test(line)) {
      acks.push(parseAck(line));
      if (plan.after === "acks" && acks.length === plan.count) killLater(plan.delayMs);
    } else if (line.startsWith("RECOVERED ")) {
      const [records, end, dropped] = line.split(" ").slice(1).map(Number);
      recovered = { records: records!, end: end!, dropped: dropped! };
      if (plan.after === "recovered") killLater(plan.delayMs);
    } else {
      failures.push(line);
    }
  };
  const stderr = new Response(child.stderr).text();
  let pending = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    pending += decoder.decode(chunk, { stream: true });
    for (let newline = pending.indexOf("\n"); newline >= 0; newline = pending.indexOf("\n")) {
      onLine(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
    }
  }
  // A line cut short by the kill is no ACK: the child died before finishing its write.
  await child.exited;
  for (const timer of timers) clearTimeout(timer);
  return {
    acks,
    recovered,
    failures,
    hung,
    signal: child.signalCode === null ? null : String(child.signalCode),
    stderr: await stderr,
  };
}

/** Counts and findings of a whole run, over every lane. */
interface Tally {
  kills: number;
  cycles: number;
  logs: number;
  acknowledged: number;
  /** Records found by the first recovery after each kill, summed. */
  recovered: number;
  lost: number;
  phantom: number;
  untyped: number;
  killedBeforeRecovery: number;
  killedBeforeFirstAck: number;
  /** Cycles that ACKed records appended after recovering a non-empty log. */
  appendsAfterRecovery: number;
  problemCount: number;
  problems: string[];
}

function newTally(): Tally {
  return {
    kills: 0,
    cycles: 0,
    logs: 0,
    acknowledged: 0,
    recovered: 0,
    lost: 0,
    phantom: 0,
    untyped: 0,
    killedBeforeRecovery: 0,
    killedBeforeFirstAck: 0,
    appendsAfterRecovery: 0,
    problemCount: 0,
    problems: [],
  };
}

function problem(tally: Tally, text: string): void {
  tally.problemCount++;
  if (tally.problems.length < PROBLEMS_KEPT) tally.problems.push(text);
}

/** One log of a lane, across its cycles. */
interface LogState {
  readonly path: string;
  /** Every ACK of every cycle of this log, with the cycle that printed it. */
  readonly acks: { readonly ack: Ack; readonly cycle: number; lost: boolean }[];
  /** LSNs already counted as phantoms, so a bad record is counted once, not once per cycle. */
  readonly phantoms: Set<number>;
  /** Records and end of the log as the parent last recovered it. */
  records: number;
  end: number;
}

/** A log as one open found it. */
interface Recovered {
  readonly records: { readonly lsn: number; readonly data: Uint8Array }[];
  readonly len: number;
  readonly reportRecords: number;
  readonly reportEnd: number;
  readonly head: number;
  readonly dropped: number;
}

function recover(kind: LogKind, path: string): Recovered {
  using wal = Wal.open(path, kind === "segmented" ? { segmentSize: KILL_SEGMENT_SIZE } : {});
  return {
    records: [...wal.iter()],
    len: wal.len,
    reportRecords: wal.recovery.records,
    reportEnd: wal.recovery.end,
    head: wal.head,
    dropped: wal.recovery.bytesDropped,
  };
}

/** Checks the log after cycle `cycle`'s kill against every ACK of the log so far. */
function checkLog(
  tally: Tally,
  kind: LogKind,
  seed: number,
  cycle: number,
  log: LogState,
  context: string,
): void {
  let first: Recovered;
  let second: Recovered;
  try {
    first = recover(kind, log.path);
    second = recover(kind, log.path);
  } catch (error) {
    if (!(error instanceof WalError)) tally.untyped++;
    problem(tally, `${context}: reopening threw ${String(error)}`);
    return;
  }
  tally.recovered += first.records.length;

  // R is a gap-free run of the log from its head, and the recovery report agrees.
  let expected = 0;
  for (const { lsn, data } of first.records) {
    if (lsn !== expected) {
      problem(tally, `${context}: a record starts at ${lsn}, the one before ended at ${expected}`);
      break;
    }
    expected = lsn + FRAME_HEADER_SIZE + data.length;
  }
  if (first.head !== 0 || first.len !== expected || first.reportEnd !== expected) {
    problem(
      tally,
      `${context}: head ${first.head}, len ${first.len}, recovery end ${first.reportEnd}, ` +
        `but the records end at ${expected}`,
    );
  }
  if (first.reportRecords !== first.records.length) {
    problem(
      tally,
      `${context}: recovery counted ${first.reportRecords} records, iteration found ${first.records.length}`,
    );
  }

  // R ⊆ S: each record is a submitted payload, and each writer's records are its first ones,
  // in order, with cycles never going back (a stale or duplicated record breaks this).
  const seqNext = new Map<number, number>();
  let cycleSeen = 0;
  for (const { lsn, data } of first.records) {
    const identity = recordIdentity(data);
    const name = identity?.worker ?? -1;
    const recordCycle = Math.floor(name / WRITERS);
    const writer = name % WRITERS;
    const seq = identity?.seq ?? -1;
    const why =
      identity === null
        ? "names no writer"
        : recordCycle > cycle || recordCycle < cycleSeen
          ? `is from cycle ${recordCycle}, after cycle ${cycleSeen} (now ${cycle})`
          : seq !== (seqNext.get(name) ?? 0)
            ? `is writer ${writer} seq ${seq} of cycle ${recordCycle}, expected seq ${seqNext.get(name) ?? 0}`
            : sameBytes(data, killPayload(seed, kind, recordCycle, writer, seq))
              ? null
              : `differs from writer ${writer} seq ${seq} of cycle ${recordCycle}`;
    if (why !== null) {
      if (!log.phantoms.has(lsn)) {
        log.phantoms.add(lsn);
        tally.phantom++;
        problem(tally, `${context}: the record at ${lsn} (${data.length} bytes) ${why}`);
      }
      continue;
    }
    cycleSeen = recordCycle;
    seqNext.set(name, seq + 1);
  }

  // A ⊆ R: every ACK of every cycle so far, at its LSN, with its bytes.
  const byLsn = new Map(first.records.map(({ lsn, data }) => [lsn, data]));
  for (const entry of log.acks) {
    if (entry.lost) continue;
    const data = byLsn.get(entry.ack.lsn);
    const found = data === undefined ? null : payloadHash(data);
    if (found !== entry.ack.hash) {
      entry.lost = true;
      tally.lost++;
      problem(
        tally,
        `${context}: the record ACKed at ${entry.ack.lsn} in cycle ${entry.cycle} is ` +
          `${data === undefined ? "missing" : `different (hash ${found})`}; the log ends at ${first.len}`,
      );
    }
  }

  // Recovery is final: the second open drops nothing and finds the same records.
  const same =
    second.dropped === 0 &&
    second.len === first.len &&
    second.records.length === first.records.length &&
    second.records.every(
      (record, i) =>
        record.lsn === first.records[i]!.lsn && sameBytes(record.data, first.records[i]!.data),
    );
  if (!same) {
    problem(
      tally,
      `${context}: the second recovery differs (dropped ${second.dropped}, ${second.records.length} ` +
        `records to ${second.len}; first: ${first.records.length} records to ${first.len})`,
    );
  }
  log.records = first.records.length;
  log.end = first.len;
}

/** Runs `kills` cycles of one lane, checking the log after each. */
async function runLane(
  tally: Tally,
  kind: LogKind,
  kills: number,
  seed: number,
  unsafe = false,
  planKill: (next: () => number) => KillPlan = drawPlan,
): Promise<void> {
  const next = mulberry32(seed);
  let log: LogState | undefined;
  for (let cycle = 0; cycle < kills; cycle++) {
    if (log === undefined || cycle % CYCLES_PER_LOG === 0) {
      log = {
        path: join(dir, `${kind}-${seed}-${cycle}${kind === "file" ? ".wal" : ""}`),
        acks: [],
        phantoms: new Set(),
        records: 0,
        end: 0,
      };
      tally.logs++;
    }
    const plan = planKill(next);
    const context = `${kind} log, cycle ${cycle} (kill ${JSON.stringify(plan)}, WAL_SEED=${SEED})`;
    const outcome = await runCycle(kind, log.path, seed, cycle, plan, unsafe);
    tally.cycles++;
    for (const line of outcome.failures) {
      if (line.startsWith("FAILED untyped ")) tally.untyped++;
      problem(tally, `${context}: the child printed ${line.slice(0, 2000)}`);
    }
    if (outcome.hung) problem(tally, `${context}: the child hung for ${CYCLE_DEADLINE_MS} ms`);
    if (outcome.signal !== "SIGKILL" || outcome.stderr !== "") {
      problem(
        tally,
        `${context}: the child ended by ${outcome.signal ?? "exit"}, stderr: ${outcome.stderr.slice(0, 2000)}`,
      );
    } else {
      tally.kills++;
    }
    if (outcome.recovered === null) tally.killedBeforeRecovery++;
    if (outcome.acks.length === 0) tally.killedBeforeFirstAck++;
    if (outcome.acks.length > 0 && log.end > 0) tally.appendsAfterRecovery++;
    const seen = outcome.recovered;
    if (
      seen !== null &&
      (seen.dropped !== 0 || seen.end !== log.end || seen.records !== log.records)
    ) {
      problem(
        tally,
        `${context}: the child recovered ${JSON.stringify(seen)}, but the parent had left ` +
          `${log.records} records ending at ${log.end}`,
      );
    }
    for (const ack of outcome.acks) log.acks.push({ ack, cycle, lost: false });
    tally.acknowledged += outcome.acks.length;
    checkLog(tally, kind, seed, cycle, log, context);
  }
}

describe("SIGKILL at seeded random moments", () => {
  test(
    `${KILLS} kills of 4 Workers writing a file log and a segmented log: every ACK survives, nothing else appears (WAL_SEED=${SEED} WAL_KILLS=${KILLS})`,
    async () => {
      const tally = newTally();
      const fileKills = Math.ceil(KILLS / 2);
      const fileSeed = SEED;
      const segmentedSeed = (SEED ^ 0x5e9e) >>> 0;
      await Promise.all([
        runLane(tally, "file", fileKills, fileSeed),
        runLane(tally, "segmented", KILLS - fileKills, segmentedSeed),
      ]);
      reportFigures("kills", {
        checked: tally.kills,
        unit: "kills",
        lost: tally.lost,
        phantom: tally.phantom,
        untyped: tally.untyped,
        extra: {
          acknowledged: tally.acknowledged,
          recovered: tally.recovered,
          cycles: tally.cycles,
          logs: tally.logs,
          killedBeforeRecovery: tally.killedBeforeRecovery,
          killedBeforeFirstAck: tally.killedBeforeFirstAck,
          appendsAfterRecovery: tally.appendsAfterRecovery,
          problems: tally.problemCount,
        },
        seed: SEED,
      });
      expect(tally.problems).toEqual([]);
      expect(tally.lost).toBe(0);
      expect(tally.phantom).toBe(0);
      expect(tally.untyped).toBe(0);
      expect(tally.kills).toBe(KILLS);
      // The schedule reached every phase it means to: before recovery, before the first ACK, and
      // appends after a recovery that found records.
      expect(tally.killedBeforeRecovery).toBeGreaterThan(0);
      expect(tally.killedBeforeFirstAck).toBeGreaterThan(0);
      expect(tally.appendsAfterRecovery).toBeGreaterThan(0);
    },
    Math.max(120_000, KILLS * 600),
  );

  test(`negative control: a child that ACKs before writing is caught losing an ACKed record (WAL_SEED=${SEED})`, async () => {
    const tally = newTally();
    // Killed right after its first to third ACK: inside the 200 ms the child waits before it
    // writes the record it has just ACKed.
    const planKill = (next: () => number): KillPlan => ({
      after: "acks",
      count: 1 + (next() % 3),
      delayMs: 0,
    });
    await runLane(tally, "file", 4, (SEED ^ 0xc0de) >>> 0, true, planKill);
    expect(tally.lost).toBeGreaterThan(0);
    // Nothing else is wrong with that log: only the ACKs lie.
    expect(tally.phantom).toBe(0);
    expect(tally.untyped).toBe(0);
    expect(tally.problems.every((text) => text.includes("ACKed"))).toBe(true);
  }, 60_000);
});
