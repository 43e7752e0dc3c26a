/**
 * Many Workers, one log: Workers attached with `Wal.attach(wal.share())` append in parallel into
 * one LSN space. Reopened, the log holds every record exactly once, byte for byte, at the LSN
 * its writer was given, tiling the file with no gap. Durable calls from several threads share
 * barriers; the owner's close ends the log for every thread; and a writer that reserved bytes
 * and died makes syncs fail with STALLED after `stallTimeout` instead of hanging them.
 */

import { describe, expect, test } from "bun:test";
import { copyFileSync } from "node:fs";
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
 * Starts one writer per worker id on `wal`, releases them together, returns their replies.
 * With `syncing`, the main thread runs barriers until they finish: fills write zeros only
 * after a barrier, so that is what makes the writers race with zeros on every fill.
 */
async function runWriters(
  wal: Wal,
  kind: "append" | "durable",
  count: number,
  sizes: SizeRange,
  syncing = false,
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
    const replies = Promise.all(writers.map((writer) => writer.reply<Done>()));
    let running = syncing;
    const syncer = (async () => {
      while (running) {
        await wal.syncAsync();
        // A sync with nothing new to cover resolves at once: let the replies in.
        await Bun.sleep(0);
      }
    })();
    try {
      return await replies;
    } finally {
      running = false;
      await syncer;
    }
  } finally {
    await Promise.all(writers.map((writer) => writer.terminate()));
  }
}

/**
 * Reopens the log at `path` and checks it holds exactly the records the writers submitted:
 * each LSN a writer was given is a record's LSN, holding exactly the payload that writer built
 * for that call, no LSN twice, no other record, and the records tile the file from 0.
 */
function expectExactLog(path: string, replies: Done[], count: number, sizes: SizeRange): void {
  const context = `WAL_SEED=${SEED}`;
  const owner = new Map<number, { worker: number; seq: number }>();
  replies.forEach((reply, worker) => {
    expect(reply.lsns, context).toHaveLength(count);
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

  using wal = Wal.open(path);
  expect(wal.recovery.bytesDropped, context).toBe(0);
  expect(wal.recovery.records, context).toBe(WORKERS * count);
  let expected = 0;
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
  expect(records, context).toBe(WORKERS * count);
  expect(wal.len, context).toBe(expected);
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
        replies = await runWriters(wal, "append", count, sizes, true);
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
