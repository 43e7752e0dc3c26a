/**
 * What bench/compare.ts, bench/audit.ts and their contender children share: the contenders'
 * names and the interface each implements, the workloads, the one line of JSON a child prints,
 * and the markers a child writes for the durability audit. Each contender runs in its own
 * process, so no peer's native module, threads or page-cache state can touch another's figures.
 * The contender modules import this file, never the other way round: loading one is the
 * child's job (bench/compare/contender.ts).
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Every contender, in the order tables and charts list them. */
export const CONTENDER_NAMES = [
  "limit",
  "hand-rolled",
  "hand-rolled-staged",
  "bun:sqlite",
  "lmdb",
  "lmdb-no-overlap",
  "classic-level",
  "wal-db (await commit)",
  "wal-db",
] as const;

export type ContenderName = (typeof CONTENDER_NAMES)[number];

/**
 * The workloads a child can run:
 *
 *   serial      W1: `count` commits, each durable before the next starts
 *   concurrent  W2: `committers` async loops sharing `count` commits, each `await commit`
 *   bulk        W3: `count` records written, then one barrier
 *   read        W4: the records of a `bulk` load (written outside the timer), reopened and read
 *   memory      `concurrent`, sampling the child's memory every `sampleEvery` commits
 */
export type WorkloadName = "serial" | "concurrent" | "bulk" | "read" | "memory";

/**
 * The payloads a child commits, regenerated in every child from the same seed (bench/harness.ts
 * `payloadPool`), so every contender gets identical bytes: record i is
 * `pool[i & (payloads - 1)]` in every workload.
 */
export interface PoolSpec {
  /** Distinct payloads, a power of two. */
  readonly payloads: number;
  readonly seed: number;
}

/** What the parent passes a child, as one JSON argument. */
export interface WorkloadRequest {
  readonly contender: ContenderName;
  readonly workload: WorkloadName;
  readonly pool: PoolSpec;
  /** Commits (serial, concurrent, memory) or records (bulk, read). */
  readonly count: number;
  /** Async committers; concurrent and memory only. */
  readonly committers?: number;
  /** Commits between RSS samples; memory only. */
  readonly sampleEvery?: number;
  /** A fresh, empty directory the child may fill; the parent removes it. */
  readonly dir: string;
}

/** The one line of JSON a child prints on stdout when its workload is done. */
export interface WorkloadResult {
  /** Operations timed: commits or records. */
  readonly operations: number;
  readonly elapsedNs: number;
  /** A value folded from the work, so none of it can be optimised away. */
  readonly work: number;
  /** One sample per `sampleEvery` commits; memory only. */
  readonly memorySamples?: MemorySample[];
}

/**
 * The child's memory at one point of the memory workload, in bytes. JavaScriptCore collects
 * lazily, so the RSS as found grows by garbage not yet collected; the figures after a forced
 * full collection (`Bun.gc(true)`) show what is actually retained, which is what a leak grows.
 */
export interface MemorySample {
  readonly rss: number;
  readonly rssAfterGc: number;
  readonly heapUsedAfterGc: number;
}

/** A log or database opened in a child's directory, as one workload uses it. */
export interface Store {
  /**
   * One commit, durable when it returns or its promise settles. A synchronous contender
   * returns undefined, so the serial loop never awaits and pays nothing for promises.
   */
  commit(payload: Uint8Array): unknown;
  /**
   * One commit from one of many concurrent async callers. Contenders with group commit share a
   * barrier between callers here; the others serialise (JavaScript runs one call at a time).
   */
  commitConcurrent(payload: Uint8Array): Promise<unknown>;
  /**
   * W3: appends `count` records, record i being `pool[i & (pool.length - 1)]`, then makes all
   * of them durable with one barrier.
   */
  load(count: number, pool: readonly Uint8Array[]): number | Promise<number>;
  close(): void | Promise<void>;
}

/** One contender: how to open it in a directory, and how to read back what `load` wrote. */
export interface Contender {
  /**
   * Opens the store in `dir`. `records` is the most records the workload will give it (its
   * commits and the warm-up ones, or the bulk load), for a contender that allocates up front.
   */
  open(dir: string, records: number): Store | Promise<Store>;
  /**
   * W4: reopens the store in `dir` and reads every record, touching each payload, then closes
   * it. Returns the bytes read.
   */
  readBack(dir: string): number | Promise<number>;
}

/** What bench/compare.ts passes bench/compare/micro.ts, as one JSON argument. */
export interface MicroRequest {
  readonly pool: PoolSpec;
  /** `Wal.append` calls (and raw writes) per round. */
  readonly appends: number;
  /** Alternating rounds of each pair of sides. */
  readonly rounds: number;
  /** Bytes checksummed per round in 1 MiB blocks, a multiple of 1 MiB. */
  readonly crcBytes: number;
  /** Frames checksummed one at a time per round. */
  readonly crcRecords: number;
  /** A directory the child may make its files in. */
  readonly dir: string;
}

/** What bench/compare/micro.ts prints: each side's time per operation in each round, in ns. */
export interface MicroResult {
  /** `crc32cImplementation` of src/crc32c.ts ("native" or "typescript"). */
  readonly crc32cImplementation: string;
  /** Per record: `Wal.append`, and the raw positioned write of the same frame. */
  readonly appendNs: number[];
  readonly rawWriteNs: number[];
  /** Per 1 MiB block: `crc32c`, and `Bun.hash.crc32` of the same bytes. */
  readonly crcBlockNs: number[];
  readonly crc32BlockNs: number[];
  /** Per 264-byte frame: `crc32c` over its 260 checked bytes, and `Bun.hash.crc32` of them. */
  readonly crcRecordNs: number[];
  readonly crc32RecordNs: number[];
}

/**
 * The durability audit's markers: with `WAL_BENCH_AUDIT` set, a child writes
 * `wal-audit:<kind>:<id>` to /dev/null around its timed work (`begin`, `end`) and around each
 * commit (`req` before the call, `ack` once it returned or resolved), so that strace shows
 * where each commit started and was acknowledged among the sync calls.
 */
export const AUDIT_MARKER = "wal-audit";
export const AUDIT_ENV = "WAL_BENCH_AUDIT";

const CONTENDER_SCRIPT = new URL("./contender.ts", import.meta.url).pathname;

/**
 * Runs `script` under this Bun with `argument` as JSON and returns the last line it printed,
 * parsed. `prefix` goes before the Bun command (the audit's strace); `env` adds variables. A
 * child that fails throws with its stderr, so a broken child is never reported as a figure.
 */
export async function runChild<T>(
  what: string,
  script: string,
  argument: unknown,
  prefix: readonly string[] = [],
  env: Record<string, string> = {},
): Promise<T> {
  const child = Bun.spawn([...prefix, process.execPath, script, JSON.stringify(argument)], {
    env: { ...process.env, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  const line = stdout.trim().split("\n").at(-1) ?? "";
  if (code !== 0 || !line.startsWith("{")) {
    throw new Error(`${what} exited ${code}: ${stderr.trim() || stdout.trim()}`);
  }
  return JSON.parse(line) as T;
}

const MICRO_SCRIPT = new URL("./micro.ts", import.meta.url).pathname;

/** Runs bench/compare/micro.ts in a fresh temporary directory, with `env` added. */
export async function runMicro(
  request: Omit<MicroRequest, "dir">,
  env: Record<string, string> = {},
): Promise<MicroResult> {
  const dir = mkdtempSync(join(tmpdir(), "wal-db-compare-"));
  try {
    return await runChild<MicroResult>("micro", MICRO_SCRIPT, { ...request, dir }, [], env);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs one workload in a child process on a fresh temporary directory, which is removed
 * afterwards; `prefix` and `env` as for {@link runChild}.
 */
export async function runContender(
  request: Omit<WorkloadRequest, "dir">,
  prefix: readonly string[] = [],
  env: Record<string, string> = {},
): Promise<WorkloadResult> {
  const dir = mkdtempSync(join(tmpdir(), "wal-db-compare-"));
  try {
    return await runChild<WorkloadResult>(
      `${request.contender} ${request.workload}`,
      CONTENDER_SCRIPT,
      { ...request, dir },
      prefix,
      env,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
