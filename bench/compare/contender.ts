/**
 * One contender running one workload, in a process of its own (started by bench/compare.ts and
 * bench/audit.ts): `bun bench/compare/contender.ts '<WorkloadRequest as JSON>'`. Opening the
 * store, building the payload pool and any warm-up happen outside the timer; the child prints
 * one `WorkloadResult` line. Every workload's record i is `pool[i & mask]`, the same bytes in
 * every child (bench/harness.ts `payloadPool`, from the request's seed).
 */

import { closeSync, openSync, writeSync } from "node:fs";
import { payloadPool } from "../harness.ts";
import {
  AUDIT_ENV,
  AUDIT_MARKER,
  type Contender,
  type ContenderName,
  type MemorySample,
  type Store,
  type WorkloadRequest,
  type WorkloadResult,
} from "./protocol.ts";

/** Loads a contender's module; a child imports only its own, so only its native code loads. */
async function loadContender(name: ContenderName): Promise<Contender> {
  switch (name) {
    case "limit":
      return (await import("./limit.ts")).limit;
    case "hand-rolled":
      return (await import("./hand-rolled.ts")).handRolled(false);
    case "hand-rolled-staged":
      return (await import("./hand-rolled.ts")).handRolled(true);
    case "bun:sqlite":
      return (await import("./sqlite.ts")).sqlite;
    case "lmdb":
      return (await import("./lmdb.ts")).lmdb(true);
    case "lmdb-no-overlap":
      return (await import("./lmdb.ts")).lmdb(false);
    case "classic-level":
      return (await import("./classic-level.ts")).classicLevel;
    case "wal-db (await commit)":
      return (await import("./wal-db.ts")).walDb(true);
    case "wal-db":
      return (await import("./wal-db.ts")).walDb(false);
  }
}

const request = JSON.parse(process.argv[2] ?? "") as WorkloadRequest;
const contender = await loadContender(request.contender);
const pool = payloadPool(request.pool.payloads, request.pool.seed);
const mask = pool.length - 1;

// The audit markers cost a write each, so they are written only under the audit; the branch
// is all the timed loops pay otherwise.
const markerFd = process.env[AUDIT_ENV] ? openSync("/dev/null", "w") : -1;
const mark = (kind: "begin" | "end" | "req" | "ack", id = 0) => {
  if (markerFd >= 0) writeSync(markerFd, `${AUDIT_MARKER}:${kind}:${id}\n`);
};

/** W1: one caller; a synchronous contender is never awaited. */
async function serial(store: Store, count: number): Promise<number> {
  for (let i = 0; i < count; i++) {
    mark("req", i);
    const pending = store.commit(pool[i & mask]!);
    if (pending instanceof Promise) await pending;
    mark("ack", i);
  }
  return count;
}

/** The RSS as found, then the RSS and heap in use after a full collection. */
function sampleMemory(): MemorySample {
  const { rss } = process.memoryUsage();
  Bun.gc(true);
  const after = process.memoryUsage();
  return { rss, rssAfterGc: after.rss, heapUsedAfterGc: after.heapUsed };
}

/**
 * W2: `committers` async loops sharing `count` commits; committer k makes
 * floor((count + k) / committers), so the shares add up to `count`. Every `sampleEvery`
 * commits (0: never) the memory is sampled into `memorySamples`.
 */
async function concurrent(
  store: Store,
  count: number,
  committers: number,
  sampleEvery = 0,
  memorySamples: MemorySample[] = [],
): Promise<number> {
  let next = 0;
  let done = 0;
  const committer = async (share: number) => {
    for (let i = 0; i < share; i++) {
      const id = next++;
      mark("req", id);
      await store.commitConcurrent(pool[id & mask]!);
      mark("ack", id);
      done++;
      if (sampleEvery > 0 && done % sampleEvery === 0) memorySamples.push(sampleMemory());
    }
  };
  await Promise.all(
    Array.from({ length: committers }, (_, k) => committer(Math.floor((count + k) / committers))),
  );
  return done;
}

let result: WorkloadResult;
if (request.workload === "read") {
  // The records are written, made durable and closed outside the timer: W4 times the reopen.
  const store = await contender.open(request.dir, request.count);
  await store.load(request.count, pool);
  await store.close();
  const start = Bun.nanoseconds();
  const work = await contender.readBack(request.dir);
  result = { operations: request.count, elapsedNs: Bun.nanoseconds() - start, work };
} else {
  const committers = request.committers ?? 1;
  const bulk = request.workload === "bulk";
  const store = await contender.open(request.dir, request.count + (bulk ? 0 : committers));
  const memorySamples: MemorySample[] = [];
  let work: number;
  let start: number;
  if (bulk) {
    start = Bun.nanoseconds();
    work = await store.load(request.count, pool);
  } else {
    // One commit per committer outside the timer starts whatever a contender starts lazily
    // (wal-db's sync Worker, lmdb's write thread), as a running server's would be.
    await Promise.all(
      Array.from({ length: committers }, (_, k) => store.commitConcurrent(pool[k & mask]!)),
    );
    mark("begin");
    start = Bun.nanoseconds();
    if (request.workload === "serial") work = await serial(store, request.count);
    else if (request.workload === "concurrent")
      work = await concurrent(store, request.count, committers);
    else
      work = await concurrent(store, request.count, committers, request.sampleEvery, memorySamples);
    mark("end");
  }
  const elapsedNs = Bun.nanoseconds() - start;
  await store.close();
  result = {
    operations: request.count,
    elapsedNs,
    work,
    ...(request.workload === "memory" ? { memorySamples } : {}),
  };
}
if (markerFd >= 0) closeSync(markerFd);
console.log(JSON.stringify(result));
