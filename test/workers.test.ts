/**
 * Many Workers, one log: Workers attached with `Wal.attach(wal.share())` append in parallel into
 * one LSN space. Reopened, the log holds every record exactly once, byte for byte, at the LSN
 * its writer was given, tiling the file with no gap. Durable calls from several threads share
 * barriers; the owner's close ends the log for every thread; and a writer that reserved bytes
 * and died makes syncs fail with STALLED after `stallTimeout` instead of hanging them.
 */

import { describe, expect, test } from "bun:test";
import { copyFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { Wal, WalError } from "../src/index.ts";
import { walErrorOf } from "./support/errors.ts";
import { seedFromEnv } from "./support/random.ts";
import { logPath, tempDir } from "./support/temp.ts";
import {
  FRAME_HEADER_SIZE,
  recordIdentity,
  recordPayload,
  type SizeRange,
  sameBytes,
  WorkerThread,
} from "./support/workers.ts";
import type { WriterReply, WriterTask } from "./workers-writer.ts";

const dir = tempDir();
const SEED = seedFromEnv(0x3a7e5);
const WORKERS = 4;
const WRITER = "workers-writer.ts";

type Done = Extract<WriterReply, { kind: "done" }>;

/**
 * What the main thread does with `wal` while the writers run, until `writersRunning()` turns
 * false. One that writes records of its own (with the payloads of worker id WORKERS) returns
 * their LSNs, which count as one more writer's reply.
 */
type MainThread = (wal: Wal, writersRunning: () => boolean) => Promise<number[] | undefined>;

/**
 * Barriers until the writers finish: fills write zeros only after a barrier, so that is what
 * makes the writers race with zeros on every fill.
 */
const syncing: MainThread = async (wal, writersRunning) => {
  while (writersRunning()) {
    await wal.syncAsync();
    // A sync with nothing new to cover resolves at once: let the replies in.
    await Bun.sleep(0);
  }
  return undefined;
};

/**
 * Commits records of its own, 8 at a time, while the writers run; with `truncateEvery`, moves
 * the head to its newest record every that many commits (a checkpoint while Workers append).
 */
function committing(sizes: SizeRange, truncateEvery = 0): MainThread {
  return async (wal, writersRunning) => {
    const lsns: number[] = [];
    while (writersRunning()) {
      const batch = Array.from({ length: 8 }, (_, k) =>
        wal.commit(recordPayload(SEED, WORKERS, lsns.length + k, sizes)),
      );
      lsns.push(...(await Promise.all(batch)));
      if (truncateEvery > 0 && lsns.length % truncateEvery === 0) wal.truncateBefore(lsns.at(-1)!);
    }
    return lsns;
  };
}

/**
 * Starts one writer per worker id on `wal`, releases them together, and returns their replies,
 * then the main thread's when it wrote records (see {@link MainThread}).
 */
async function runWriters(
  wal: Wal,
  kind: "append" | "durable",
  count: number,
  sizes: SizeRange,
  main?: MainThread,
): Promise<Done[]> {
  const handle = wal.share();
  const gate = new Int32Array(new SharedArrayBuffer(4));
  const writers = Array.from({ length: WORKERS }, () => new WorkerThread(WRITER));
  try {
    writers.forEach((writer, worker) => {
      const task: WriterTask = { kind, handle, gate, worker, count, seed: SEED, sizes };
      writer.post(task);
    });
    for (const writer of writers) expect((await writer.reply<WriterReply>()).kind).toBe("ready");
    Atomics.store(gate, 0, 1);
    Atomics.notify(gate, 0);
    let running = true;
    const mainThread = main?.(wal, () => running) ?? Promise.resolve(undefined);
    let replies: Done[];
    let lsns: number[] | undefined;
    try {
      replies = await Promise.all(writers.map((writer) => writer.reply<Done>()));
    } finally {
      running = false;
      lsns = await mainThread;
    }
    if (lsns === undefined) return replies;
    return [...replies, { kind: "done", lsns, appendAndSyncCalls: 0, commitCalls: lsns.length }];
  } finally {
    await Promise.all(writers.map((writer) => writer.terminate()));
  }
}

/**
 * Reopens the log at `path` and checks it holds exactly the records the writers submitted at
 * or above `head`: each LSN a writer was given there is a record's LSN, holding exactly the
 * payload that writer built for that call, no LSN twice, no other record, and the records tile
 * the log from `head`. Every writer but the main thread's (see {@link MainThread}) made `count`
 * calls. A segmented log reopens with its `segmentSize` (a head near the end may leave one
 * segment, which does not show the size).
 */
function expectExactLog(
  path: string,
  replies: Done[],
  count: number,
  sizes: SizeRange,
  head = 0,
  segmentSize?: number,
): void {
  const context = `WAL_SEED=${SEED}`;
  const owner = new Map<number, { worker: number; seq: number }>();
  replies.forEach((reply, worker) => {
    if (worker < WORKERS) expect(reply.lsns, context).toHaveLength(count);
    reply.lsns.forEach((lsn, seq) => {
      const other = owner.get(lsn);
      if (other !== undefined) {
        throw new Error(
          `${context}: LSN ${lsn} given to worker ${other.worker} seq ${other.seq} and ${worker} ${seq}`,
        );
      }
      owner.set(lsn, { worker, seq });
    });
  });
  const kept = [...owner.keys()].filter((lsn) => lsn >= head).length;

  using wal = Wal.open(path, segmentSize === undefined ? {} : { segmentSize });
  expect(wal.recovery.bytesDropped, context).toBe(0);
  expect(wal.head, context).toBe(head);
  expect(wal.recovery.records, context).toBe(kept);
  let expected = head;
  let records = 0;
  for (const { lsn, data } of wal.iter()) {
    // Tiling: each record starts where the one before it ended.
    if (lsn !== expected) {
      throw new Error(
        `${context}: a record starts at ${lsn}, but the one before ended at ${expected}`,
      );
    }
    expected = lsn + FRAME_HEADER_SIZE + data.length;
    records++;
    const writer = owner.get(lsn);
    if (writer === undefined) throw new Error(`${context}: no writer was given LSN ${lsn}`);
    const payload = recordPayload(SEED, writer.worker, writer.seq, sizes);
    if (!sameBytes(data, payload)) {
      const found = recordIdentity(data);
      throw new Error(
        `${context}: LSN ${lsn} was given to worker ${writer.worker} seq ${writer.seq} ` +
          `(${payload.length} bytes) but holds ${data.length} bytes written by ` +
          `${found === null ? "?" : `worker ${found.worker} seq ${found.seq}`}`,
      );
    }
  }
  expect(records, context).toBe(kept);
  expect(wal.len, context).toBe(expected);
}

/**
 * Every segment file of the log in `path` but the newest is exactly `segmentSize` bytes (each
 * was synced whole before the next existed), and they follow each other without a gap.
 */
function expectWholeSegments(path: string, segmentSize: number): number {
  const segments = readdirSync(path)
    .filter((name) => name.endsWith(".wal"))
    .sort();
  const indices = segments.map((name) => Number(name.slice(0, 20)));
  expect(indices).toEqual(indices.map((_, k) => indices[0]! + k));
  for (const name of segments.slice(0, -1)) {
    expect(statSync(join(path, name)).size, name).toBe(segmentSize);
  }
  return segments.length;
}

describe("Wal.attach() from Workers", () => {
  const count = 5_000;
  const sizes = { min: 0, max: 4096 };
  // With the default zero fill (1 MiB) and with one so small that Workers race to fill it
  // every few appends, while the main thread's barriers make each fill write zeros: no record
  // may ever be overwritten by another Worker's zeros.
  test.each([
    ["the default zero fill", undefined],
    ["a 512-byte zero fill", 512],
  ])(
    `4 Workers × 5,000 appends each (sizes 0–4 KiB, seed ${SEED}) to one log, %s`,
    async (_name, preallocate) => {
      const path = logPath(dir);
      const wal = Wal.open(path, preallocate === undefined ? {} : { preallocate });
      let replies: Done[];
      try {
        replies = await runWriters(wal, "append", count, sizes, syncing);
        const frames = replies.flatMap((reply, worker) =>
          reply.lsns.map((_, seq) => recordPayload(SEED, worker, seq, sizes).length),
        );
        const bytes = frames.reduce((sum, size) => sum + FRAME_HEADER_SIZE + size, 0);
        expect(wal.len, `WAL_SEED=${SEED}`).toBe(bytes);
        const stats = wal.stats();
        expect(stats.appends, `WAL_SEED=${SEED}`).toBe(WORKERS * count);
        expect(stats.bytes, `WAL_SEED=${SEED}`).toBe(bytes);
      } finally {
        wal.close();
      }
      expectExactLog(path, replies, count, sizes);
    },
    60_000,
  );

  test(`Workers mixing appendAndSync and commit share barriers (seed ${SEED})`, async () => {
    const perWorker = 300;
    const smallSizes = { min: 0, max: 512 };
    const path = logPath(dir);
    const wal = Wal.open(path);
    let replies: Done[];
    try {
      replies = await runWriters(wal, "durable", perWorker, smallSizes);
      const durableCalls = WORKERS * perWorker;
      for (const reply of replies) {
        expect(reply.appendAndSyncCalls).toBeGreaterThan(0);
        expect(reply.commitCalls).toBeGreaterThan(0);
        expect(reply.appendAndSyncCalls + reply.commitCalls).toBe(perWorker);
      }
      const stats = wal.stats();
      expect(stats.appends).toBe(durableCalls);
      // Each Worker had one durable call in flight at a time: fewer barriers than calls means
      // threads shared barriers. None at all would mean nothing was made durable.
      expect(stats.barriers).toBeGreaterThan(0);
      expect(stats.barriers).toBeLessThan(durableCalls);
    } finally {
      wal.close();
    }
    expectExactLog(path, replies, perWorker, smallSizes);
  }, 60_000);

  test("Wal.close() of the owner makes every call on an attached Wal throw CLOSED", async () => {
    const path = logPath(dir);
    const wal = Wal.open(path);
    const writer = new WorkerThread(WRITER);
    try {
      writer.post({ kind: "closed", handle: wal.share() } satisfies WriterTask);
      const appended = await writer.reply<Extract<WriterReply, { kind: "appended" }>>();
      expect(appended).toEqual({ kind: "appended", lsn: 0 });
      wal.close();
      writer.post({ kind: "probe" } satisfies WriterTask);
      const { codes } = await writer.reply<Extract<WriterReply, { kind: "codes" }>>();
      expect(codes).toEqual({
        append: "CLOSED",
        appendAndSync: "CLOSED",
        sync: "CLOSED",
        commit: "CLOSED",
      });
    } finally {
      wal.close();
      await writer.terminate();
    }
    // The Worker's append before the close is in the log, and nothing after it.
    using reopened = Wal.open(path);
    expect([...reopened.iter()].map((r) => new TextDecoder().decode(r.data))).toEqual([
      "before the owner closed",
    ]);
  });

  test("Wal.sync() behind a Worker that reserved bytes and died throws STALLED, then POISONED", async () => {
    const path = logPath(dir);
    const stallTimeout = 300;
    const gapSize = 100;
    const wal = Wal.open(path, { stallTimeout });
    const before = [wal.append("before the gap"), wal.append("")];
    wal.sync();
    const gapStart = wal.len;

    const dying = new WorkerThread(WRITER);
    dying.post({
      kind: "reserve-and-die",
      handle: wal.share(),
      size: gapSize,
    } satisfies WriterTask);
    const reserved = await dying.reply<Extract<WriterReply, { kind: "reserved" }>>();
    await dying.exited();
    expect(reserved.lsn).toBe(gapStart);

    // This record lies after the dead writer's gap; syncing it needs the gap written.
    expect(wal.append("after the gap")).toBe(gapStart + FRAME_HEADER_SIZE + gapSize);

    // sync() blocks this thread; if it never returns, only another thread can end the run.
    const watchdog = await armWatchdog(20_000, "Wal.sync() or close() behind a dead writer");
    try {
      // When STALLED comes is checked on a fake clock (test/terminate.test.ts); here, that it
      // comes at all, before the watchdog.
      expect(walErrorOf(() => wal.sync()).code).toBe("STALLED");
      expect(walErrorOf(() => wal.sync()).code).toBe("POISONED");
      expect(walErrorOf(() => wal.append("later")).code).toBe("POISONED");
      expect(walErrorOf(() => wal.appendAndSync("later")).code).toBe("POISONED");
      expect(await rejectionCode(() => wal.commit("later"))).toBe("POISONED");
    } finally {
      // The dead writer never frees what it reserved: close must not wait for it forever.
      wal.close();
      await watchdog.release();
    }
    // ...and must not close the descriptor under it either: the file stays open and locked.
    expect(walErrorOf(() => Wal.open(path)).code).toBe("LOCKED");

    // Recovery reads the never-written gap as the end: the records before it survive. It runs
    // on a copy, because close() leaves the file open (and locked) while a writer is stuck in
    // it: closing the descriptor could let a late write land in a file that reuses its number.
    const copy = logPath(dir, "stalled-copy");
    copyFileSync(path, copy);
    using reopened = Wal.open(copy);
    expect([...reopened.iter()].map((r) => r.lsn)).toEqual(before);
    expect(reopened.len).toBe(gapStart);
  }, 30_000);
});

describe("Wal.attach() from Workers on a segmented log", () => {
  const count = 5_000;
  const sizes = { min: 0, max: 4096 };
  const segmentSize = 64 * 1024;

  test(`4 Workers × 5,000 appends (sizes 0–4 KiB, seed ${SEED}) into 64 KiB segments, commits from the main thread`, async () => {
    const path = logPath(dir, "segments");
    const wal = Wal.open(path, { segmentSize });
    let replies: Done[];
    try {
      replies = await runWriters(wal, "append", count, sizes, committing(sizes));
      expect(replies[WORKERS]!.lsns.length).toBeGreaterThan(0);
      // Hundreds of rolls, raced by every thread: ~40 MB of frames into 64 KiB segments.
      expect(wal.stats().segmentsCreated).toBeGreaterThan(300);
    } finally {
      wal.close();
    }
    expectExactLog(path, replies, count, sizes, 0, segmentSize);
    expect(expectWholeSegments(path, segmentSize)).toBeGreaterThan(300);
  }, 60_000);

  test(`the same while the owner moves the head to recent records (seed ${SEED})`, async () => {
    const path = logPath(dir, "segments");
    const wal = Wal.open(path, { segmentSize });
    let replies: Done[];
    let head: number;
    try {
      replies = await runWriters(wal, "append", count, sizes, committing(sizes, 40));
      head = wal.head;
      expect(head).toBeGreaterThan(0);
      expect(wal.stats().segmentsDeleted).toBeGreaterThan(0);
    } finally {
      wal.close();
    }
    // Every record at or above the final head is there once; none below it is.
    expectExactLog(path, replies, count, sizes, head, segmentSize);
    expectWholeSegments(path, segmentSize);
    const lowest = readdirSync(path)
      .filter((name) => name.endsWith(".wal"))
      .sort()[0]!;
    expect(Number(lowest.slice(0, 20))).toBeLessThanOrEqual(Math.floor(head / segmentSize));
    expect(Number(lowest.slice(0, 20))).toBeGreaterThanOrEqual(Math.floor(head / segmentSize) - 1);
  }, 60_000);

  test(`Workers mixing appendAndSync and commit on 4 KiB segments: barriers race rolls (seed ${SEED})`, async () => {
    const perWorker = 300;
    const smallSizes = { min: 0, max: 512 };
    const path = logPath(dir, "segments");
    const wal = Wal.open(path, { segmentSize: 4096 });
    let replies: Done[];
    try {
      replies = await runWriters(wal, "durable", perWorker, smallSizes);
      const stats = wal.stats();
      expect(stats.segmentsCreated).toBeGreaterThan(20);
      expect(stats.barriers).toBeGreaterThan(0);
      expect(stats.barriers).toBeLessThan(WORKERS * perWorker);
    } finally {
      wal.close();
    }
    expectExactLog(path, replies, perWorker, smallSizes, 0, 4096);
    expectWholeSegments(path, 4096);
  }, 60_000);

  test("a write waiting for the segment a dead Worker never finished throws STALLED, then POISONED", async () => {
    const path = logPath(dir, "segments");
    const stallTimeout = 300;
    const wal = Wal.open(path, { segmentSize: 4096, stallTimeout });
    const before = wal.append("before the gap");
    const dying = new WorkerThread(WRITER);
    dying.post({ kind: "reserve-and-die", handle: wal.share(), size: 100 } satisfies WriterTask);
    await dying.reply<Extract<WriterReply, { kind: "reserved" }>>();
    await dying.exited();
    // Segment 0 can never be whole now: the first append that needs segment 1 waits for it.
    const watchdog = await armWatchdog(20_000, "an append behind a dead writer's segment");
    try {
      const codes: string[] = [];
      for (let i = 0; i < 10 && codes.length === 0; i++) {
        try {
          wal.append(new Uint8Array(1000));
        } catch (error) {
          codes.push((error as WalError).code);
        }
      }
      expect(codes).toEqual(["STALLED"]);
      expect(walErrorOf(() => wal.append("later")).code).toBe("POISONED");
      expect(walErrorOf(() => wal.sync()).code).toBe("POISONED");
    } finally {
      wal.close();
      await watchdog.release();
    }
    expect(statSync(join(path, "00000000000000000001.wal"), { throwIfNoEntry: false })).toBe(
      undefined,
    );
    expect(before).toBe(0);
  }, 30_000);
});

/** The code of the WalError `run` throws or rejects with; fails the test otherwise. */
async function rejectionCode(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(WalError);
    return (error as WalError).code;
  }
  throw new Error("expected a WalError, but the call resolved");
}

/**
 * A Worker that kills this process unless released within `timeoutMs`: a blocking call that
 * never returns then fails the run loudly, with `what` on stderr, instead of freezing it.
 */
async function armWatchdog(timeoutMs: number, what: string): Promise<{ release(): Promise<void> }> {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const watchdog = new WorkerThread(WRITER);
  watchdog.post({ kind: "watchdog", flag, timeoutMs, what } satisfies WriterTask);
  expect((await watchdog.reply<WriterReply>()).kind).toBe("armed");
  return {
    async release() {
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
      await watchdog.exited();
    },
  };
}
