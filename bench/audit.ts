/**
 * The durability audit (`bun run bench:audit`): a skeptic's check that every contender in
 * bench/compare.ts really reaches the disk before it acknowledges a commit, from the system
 * calls it makes rather than from its documentation. Each contender runs W1 (SERIAL_COMMITS
 * commits, one at a time) and W2 (CONCURRENT_COMMITS commits from CONCURRENT_COMMITTERS async
 * committers) under `strace -f`, and writes a marker to /dev/null before each commit starts
 * (`req`) and after it is acknowledged (`ack`).
 *
 * A barrier is a system call after which written data is on stable storage: `fdatasync`,
 * `fsync`, `syncfs`, `sync`, `msync` with MS_SYNC, and any write to a file opened with O_DSYNC
 * or O_SYNC (LMDB writes its meta page that way) or made with RWF_DSYNC/RWF_SYNC.
 * `sync_file_range` is counted apart: it starts write-back but neither flushes the device's
 * cache nor waits for metadata, so it is no barrier. A commit is *covered* when some barrier
 * was entered after its `req` and returned before its `ack`: a barrier that began before the
 * commit's data existed cannot have made it durable. Covered is necessary for durability, not
 * sufficient (strace cannot tell which file's bytes a barrier flushed), so the report also
 * names each barrier's file.
 *
 * The report goes to bench/results/audit.json (not committed), which bench/compare.ts reads
 * for its "durable?" column. Exits 1 when strace is missing or cannot trace.
 */

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { release, tmpdir } from "node:os";
import { basename, join } from "node:path";
import {
  AUDIT_ENV,
  AUDIT_MARKER,
  CONTENDER_NAMES,
  type ContenderName,
  runContender,
  type WorkloadName,
} from "./compare/protocol.ts";
import { POOL_PAYLOADS, POOL_SEED, resultsDir } from "./harness.ts";

const SERIAL_COMMITS = 20;
const CONCURRENT_COMMITTERS = 16;
const CONCURRENT_COMMITS = 160;
/** The staged hand-rolled log differs from the plain one only in its bulk load. */
const AUDITED = CONTENDER_NAMES.filter((name) => name !== "hand-rolled-staged");
const TRACED_CALLS = [
  "open",
  "openat",
  "close",
  "fdatasync",
  "fsync",
  "syncfs",
  "sync",
  "msync",
  "sync_file_range",
  "fcntl",
  "write",
  "writev",
  "pwrite64",
  "pwritev",
  "pwritev2",
  "io_uring_enter",
];

/** What the audit saw of one workload of one contender. */
export interface WorkloadAudit {
  readonly commits: number;
  /** Barriers between the first `req` and the last `ack`. */
  readonly barriers: number;
  readonly barriersPerCommit: number;
  /** Barriers by kind and file, e.g. `"fdatasync wal": 20`. */
  readonly barrierCalls: Record<string, number>;
  /** `sync_file_range` calls (not barriers), counted apart. */
  readonly syncFileRanges: number;
  /** `io_uring_enter` calls: a barrier submitted through io_uring would be invisible here. */
  readonly ioUringEnters: number;
  /** Commits with a barrier entered after their `req` and returned before their `ack`. */
  readonly covered: number;
}

export interface ContenderAudit {
  readonly serial: WorkloadAudit;
  readonly concurrent: WorkloadAudit;
  /** "yes", or "NO" and why, in a few words for compare.ts's table. */
  readonly verdict: string;
}

/** bench/results/audit.json. */
export interface AuditReport {
  readonly date: string;
  readonly bun: string;
  readonly kernel: string;
  readonly strace: string;
  readonly serialCommits: number;
  readonly concurrentCommits: number;
  readonly concurrentCommitters: number;
  readonly contenders: Partial<Record<ContenderName, ContenderAudit>>;
}

/** One finished system call from the trace, with the trace lines where it began and ended. */
interface Call {
  readonly name: string;
  /** Its text from the opening parenthesis to the return value, across resumed lines. */
  readonly text: string;
  readonly result: number;
  readonly entryLine: number;
  readonly exitLine: number;
}

/** Splits an `strace -f -o` file into finished calls, joining `unfinished`/`resumed` halves. */
function parseTrace(trace: string): Call[] {
  const calls: Call[] = [];
  const unfinished = new Map<string, { name: string; text: string; line: number }>();
  const lines = trace.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!.replace(/^\[pid\s+/, "");
    const match = /^(\d+)\]?\s+(.*)$/.exec(line);
    const pid = match?.[1] ?? "0";
    const rest = match?.[2] ?? line;
    const resumed = /^<\.\.\. (\w+) resumed>(.*)$/.exec(rest);
    if (resumed) {
      const start = unfinished.get(`${pid} ${resumed[1]}`);
      if (start === undefined) continue;
      unfinished.delete(`${pid} ${resumed[1]}`);
      calls.push(finish(start.name, start.text + resumed[2], start.line, index));
      continue;
    }
    const call = /^(\w+)\((.*)$/.exec(rest);
    if (call === null) continue;
    if (call[2]!.endsWith("<unfinished ...>")) {
      unfinished.set(`${pid} ${call[1]}`, { name: call[1]!, text: call[2]!, line: index });
    } else {
      calls.push(finish(call[1]!, call[2]!, index, index));
    }
  }
  return calls;
}

function finish(name: string, text: string, entryLine: number, exitLine: number): Call {
  const result = /\)\s+=\s+(-?\d+)/.exec(text);
  return { name, text, result: result ? Number(result[1]) : -1, entryLine, exitLine };
}

/** Audits one workload's trace: its barriers, and which commits a barrier covered. */
function auditTrace(trace: string): WorkloadAudit {
  /** Open file descriptors: the file's name, and whether every write to it is synchronous. */
  const files = new Map<number, { name: string; synchronous: boolean }>();
  const requests = new Map<number, number>();
  const acknowledgements = new Map<number, number>();
  /** Barriers, each with its kind and file, e.g. `"fdatasync wal"`. */
  const barriers: { call: Call; key: string }[] = [];
  const syncFileRanges: Call[] = [];
  const ioUringEnters: Call[] = [];
  let windowStart = Number.POSITIVE_INFINITY;
  let windowEnd = Number.NEGATIVE_INFINITY;
  const firstArgument = (call: Call) => Number(/^(-?\d+)/.exec(call.text)?.[1] ?? -1);
  const fileOf = (call: Call) => files.get(firstArgument(call));
  const barrier = (call: Call, kind: string) =>
    barriers.push({ call, key: `${kind} ${fileOf(call)?.name ?? `fd ${firstArgument(call)}`}` });
  const markerPattern = new RegExp(`"${AUDIT_MARKER}:(\\w+):(\\d+)`);
  for (const call of parseTrace(trace)) {
    const marker = markerPattern.exec(call.text);
    if (marker) {
      // A commit starts once its req marker is written and is acknowledged when its ack
      // marker starts: the conservative end of each.
      const id = Number(marker[2]);
      if (marker[1] === "req") requests.set(id, call.exitLine);
      else if (marker[1] === "ack") acknowledgements.set(id, call.entryLine);
      else if (marker[1] === "begin") windowStart = call.exitLine;
      else if (marker[1] === "end") windowEnd = call.entryLine;
      continue;
    }
    if (call.result < 0) continue;
    switch (call.name) {
      case "open":
      case "openat": {
        const path = /"([^"]*)"/.exec(call.text)?.[1] ?? "?";
        files.set(call.result, { name: basename(path), synchronous: /O_D?SYNC/.test(call.text) });
        break;
      }
      case "close":
        files.delete(firstArgument(call));
        break;
      case "fdatasync":
      case "fsync":
      case "syncfs":
      case "sync":
        barrier(call, call.name);
        break;
      case "msync":
        if (call.text.includes("MS_SYNC")) barrier(call, "msync(MS_SYNC)");
        break;
      case "fcntl":
        if (call.text.includes("F_FULLFSYNC")) barrier(call, "fcntl(F_FULLFSYNC)");
        break;
      case "sync_file_range":
        syncFileRanges.push(call);
        break;
      case "io_uring_enter":
        ioUringEnters.push(call);
        break;
      default:
        // Every remaining traced call is a write: a barrier when its file or its flags make it
        // synchronous.
        if (/RWF_D?SYNC/.test(call.text)) barrier(call, `${call.name}(RWF_DSYNC)`);
        else if (fileOf(call)?.synchronous) barrier(call, `${call.name}(O_DSYNC)`);
    }
  }
  const inWindow = (call: Call) => call.entryLine > windowStart && call.exitLine < windowEnd;
  const timed = barriers.filter(({ call }) => inWindow(call));
  let covered = 0;
  for (const [id, acknowledged] of acknowledgements) {
    const requested = requests.get(id) ?? Number.POSITIVE_INFINITY;
    if (timed.some(({ call }) => call.entryLine > requested && call.exitLine < acknowledged)) {
      covered++;
    }
  }
  const barrierCalls: Record<string, number> = {};
  for (const { key } of timed) barrierCalls[key] = (barrierCalls[key] ?? 0) + 1;
  return {
    commits: acknowledgements.size,
    barriers: timed.length,
    barriersPerCommit: timed.length / acknowledgements.size,
    barrierCalls,
    syncFileRanges: syncFileRanges.filter(inWindow).length,
    ioUringEnters: ioUringEnters.filter(inWindow).length,
    covered,
  };
}

/** "yes" when every commit of both workloads was covered by a barrier, else what was not. */
function verdictOf(serial: WorkloadAudit, concurrent: WorkloadAudit): string {
  const uncovered = [
    ["W1", serial],
    ["W2", concurrent],
  ] as const;
  const gaps = uncovered
    .filter(([, audit]) => audit.commits === 0 || audit.covered < audit.commits)
    .map(
      ([row, audit]) => `${row} ${audit.commits - audit.covered}/${audit.commits} acked unsynced`,
    );
  return gaps.length === 0 ? "yes" : `NO: ${gaps.join(", ")}`;
}

/** Runs one contender's workload under strace and audits the trace. */
async function traced(
  contender: ContenderName,
  workload: WorkloadName,
  count: number,
  committers: number,
): Promise<WorkloadAudit> {
  const traceDir = mkdtempSync(join(tmpdir(), "wal-db-audit-"));
  const traceFile = join(traceDir, "trace");
  try {
    // `?` before a name: not an error where that call does not exist (no `open` on arm64).
    const calls = TRACED_CALLS.map((name) => `?${name}`).join(",");
    await runContender(
      {
        contender,
        workload,
        count,
        committers,
        pool: { payloads: POOL_PAYLOADS, seed: POOL_SEED },
      },
      ["strace", "-f", "--seccomp-bpf", "-qq", "-o", traceFile, "-e", `trace=${calls}`, "--"],
      { [AUDIT_ENV]: "1" },
    );
    return auditTrace(readFileSync(traceFile, "utf8"));
  } finally {
    rmSync(traceDir, { recursive: true, force: true });
  }
}

/** `{"fdatasync wal": 20}` over 20 commits → `"1.00 fdatasync wal"`. */
function describeBarriers(audit: WorkloadAudit): string {
  const calls = Object.entries(audit.barrierCalls).map(
    ([key, count]) => `${(count / audit.commits).toFixed(2)} ${key}`,
  );
  if (audit.syncFileRanges > 0) calls.push(`${audit.syncFileRanges} sync_file_range (no barrier)`);
  if (audit.ioUringEnters > 0) calls.push(`${audit.ioUringEnters} io_uring_enter (unseen)`);
  return calls.join(" + ") || "none";
}

const strace = Bun.which("strace");
if (strace === null) {
  console.error("strace is not on PATH (apt-get install -y strace): nothing audited");
  process.exit(1);
}
const straceVersion = Bun.spawnSync([strace, "-V"]).stdout.toString().split("\n")[0]!;
console.log(
  `durability audit: W1 ${SERIAL_COMMITS} commits, W2 ${CONCURRENT_COMMITS} commits from ` +
    `${CONCURRENT_COMMITTERS} committers, under ${straceVersion}; Bun ${Bun.version}, Linux ${release()}`,
);
console.log(
  `${"contender".padEnd(22)} ${"W1 barriers/commit, covered".padEnd(30)} ${"W2 barriers/commit, covered".padEnd(30)} durable?`,
);
const contenders: Partial<Record<ContenderName, ContenderAudit>> = {};
for (const name of AUDITED) {
  let serial: WorkloadAudit;
  let concurrent: WorkloadAudit;
  try {
    serial = await traced(name, "serial", SERIAL_COMMITS, 1);
    concurrent = await traced(name, "concurrent", CONCURRENT_COMMITS, CONCURRENT_COMMITTERS);
  } catch (error) {
    const message = String(error);
    if (/ptrace|Operation not permitted/i.test(message)) {
      console.error(`strace cannot trace here (ptrace denied?): ${message}`);
      process.exit(1);
    }
    throw error;
  }
  const audit: ContenderAudit = { serial, concurrent, verdict: verdictOf(serial, concurrent) };
  contenders[name] = audit;
  const cell = (w: WorkloadAudit) =>
    `${w.barriersPerCommit.toFixed(2)}, ${w.covered}/${w.commits}`.padEnd(30);
  console.log(`${name.padEnd(22)} ${cell(serial)} ${cell(concurrent)} ${audit.verdict}`);
  console.log(
    `${"".padEnd(22)} W1: ${describeBarriers(serial)}; W2: ${describeBarriers(concurrent)}`,
  );
}

const report: AuditReport = {
  date: new Date().toISOString(),
  bun: Bun.version,
  kernel: release(),
  strace: straceVersion,
  serialCommits: SERIAL_COMMITS,
  concurrentCommits: CONCURRENT_COMMITS,
  concurrentCommitters: CONCURRENT_COMMITTERS,
  contenders,
};
mkdirSync(resultsDir(), { recursive: true });
writeFileSync(join(resultsDir(), "audit.json"), JSON.stringify({ audit: report }, null, 2));
console.log(`written to ${join(resultsDir(), "audit.json")}`);
