/**
 * Closing drains. A commit made before `close` was framed, and `close` writes it: rejecting it
 * would invite a retry that logs it twice. So `close()` makes the pending commits durable, with
 * one blocking barrier through the group-commit path, and they resolve; `await using` does the
 * same without blocking the event loop. What must hold:
 * - every commit pending at close resolves with its LSN, and its record is there after reopen,
 *   whether its round had not started, was in flight in the sync thread, or was cut short;
 * - when the drain barrier fails, every commit it covered rejects with its `IO` error and none
 *   resolves: nothing claims a durability the disk did not give;
 * - with no commit pending, close adds no barrier;
 * - a commit made after close starts, or one still waiting for room (`maxPendingCommits`),
 *   rejects with `CLOSED`, and its record is not in the log.
 */

import { describe, expect, test } from "bun:test";
import { MemoryStore, Wal } from "../src/index.ts";
import { walRejectionOf } from "./support/errors.ts";
import { FaultStore } from "./support/fault-store.ts";
import { HeldBarrierStore, turnOfTheEventLoop, until } from "./support/held-store.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();
const text = (data: Uint8Array) => new TextDecoder().decode(data);

/** The records of the log at `path`, by LSN, as a fresh open finds them. */
function recordsAt(path: string): Map<number, string> {
  using wal = Wal.open(path);
  return new Map([...wal.iter()].map((r) => [r.lsn, text(r.data)]));
}

/** Expects every commit to have resolved, each with the LSN its payload is found at. */
async function expectAllResolvedAndKept(
  commits: Promise<number>[],
  payload: (i: number) => string,
  records: () => Map<number, string>,
): Promise<void> {
  const outcomes = await Promise.allSettled(commits);
  const codes = outcomes.flatMap((outcome) =>
    outcome.status === "rejected" ? [outcome.reason?.code ?? String(outcome.reason)] : [],
  );
  expect({ rejected: codes.length, codes: [...new Set(codes)] }).toEqual({
    rejected: 0,
    codes: [],
  });
  const byLsn = records();
  outcomes.forEach((outcome, i) => {
    expect(byLsn.get((outcome as PromiseFulfilledResult<number>).value)).toBe(payload(i));
  });
}

describe("Wal.close() drains", () => {
  test("close() with 1,000 pending commits resolves every one; each record is there after reopen", async () => {
    const path = logPath(dir);
    const wal = Wal.open(path);
    const payload = (i: number) => `pending ${i}`;
    const commits = Array.from({ length: 1000 }, (_, i) => wal.commit(payload(i)));
    wal.close();
    await expectAllResolvedAndKept(commits, payload, () => recordsAt(path));
    expect(recordsAt(path).size).toBe(1000);
  });

  test("close() while the sync thread runs a round resolves its commits and the later ones", async () => {
    const path = logPath(dir);
    const wal = Wal.open(path);
    await wal.commit("first"); // starts the sync thread
    const payload = (i: number) => `batch ${i}`;
    const inFlight = Array.from({ length: 500 }, (_, i) => wal.commit(payload(i)));
    await Promise.resolve(); // the round starts: its batch is written, its barrier requested
    expect(wal.stats().appends).toBe(501); // the round wrote them: its barrier is next
    const later = Array.from({ length: 500 }, (_, i) => wal.commit(payload(500 + i)));
    wal.close();
    await expectAllResolvedAndKept([...inFlight, ...later], payload, () => recordsAt(path));
    expect(recordsAt(path).size).toBe(1001);
  });

  test("close() while a store's async barrier is held issues its own and resolves the commit", async () => {
    const store = new HeldBarrierStore();
    const wal = Wal.withStore(store);
    const commit = wal.commit("in flight");
    await until(() => store.heldCount === 1, "the held barrier");
    const barriers = store.barriers;
    wal.close();
    expect(store.barriers).toBe(barriers + 1); // close's own, blocking barrier
    store.release();
    expect(await commit).toBe(0);
  });

  test("close() with no commit pending adds no barrier", async () => {
    const store = new FaultStore();
    const wal = Wal.withStore(store);
    await wal.commit("durable already");
    wal.append("appended only");
    const syncs = store.calls.sync;
    wal.close();
    expect(store.calls.sync).toBe(syncs);
  });

  test("commit() after close() starts rejects with CLOSED and writes nothing", async () => {
    const store = new MemoryStore();
    const wal = Wal.withStore(store);
    const before = wal.commit("before");
    wal.close();
    expect((await walRejectionOf(wal.commit("after"))).code).toBe("CLOSED");
    expect(await before).toBe(0);
    using reopened = Wal.withStore(new MemoryStore(store.snapshot()));
    expect([...reopened.iter()].map((r) => text(r.data))).toEqual(["before"]);
  });

  test("commit() still waiting for room (maxPendingCommits) at close rejects with CLOSED, unwritten", async () => {
    const store = new HeldBarrierStore();
    const wal = Wal.withStore(store, { maxPendingCommits: 4 });
    const commits = Array.from({ length: 6 }, (_, i) => wal.commit(`c${i}`));
    await until(() => store.heldCount === 1, "the held barrier");
    wal.close();
    store.release();
    const outcomes = await Promise.allSettled(commits);
    expect(outcomes.map((outcome) => outcome.status)).toEqual([
      "fulfilled",
      "fulfilled",
      "fulfilled",
      "fulfilled",
      "rejected",
      "rejected",
    ]);
    for (const outcome of outcomes.slice(4)) {
      expect((outcome as PromiseRejectedResult).reason.code).toBe("CLOSED");
    }
    using reopened = Wal.withStore(new MemoryStore(store.inner.snapshot()));
    expect([...reopened.iter()].map((r) => text(r.data))).toEqual(["c0", "c1", "c2", "c3"]);
  });
});

describe("Wal.close() whose drain barrier fails", () => {
  test("close() rejects every pending commit with the barrier's IO error and none resolves", async () => {
    const store = new FaultStore();
    const wal = Wal.withStore(store);
    const commits = Array.from({ length: 10 }, (_, i) => wal.commit(`doomed ${i}`));
    store.failNext("sync", "EIO");
    const syncs = store.calls.sync;
    wal.close();
    expect(store.failed.sync).toBe(1); // close's own barrier, before close returned
    const outcomes = await Promise.allSettled(commits);
    expect(outcomes.every((outcome) => outcome.status === "rejected")).toBe(true);
    for (const outcome of outcomes) {
      const reason = (outcome as PromiseRejectedResult).reason;
      expect([reason.code, reason.errno]).toEqual(["IO", "EIO"]);
    }
    expect(store.calls.sync).toBe(syncs); // the one barrier tried failed; none was retried
  });

  test("close() whose write of the staged commits fails rejects them with that IO error", async () => {
    const store = new FaultStore();
    const wal = Wal.withStore(store);
    const commits = Array.from({ length: 10 }, (_, i) => wal.commit(`unwritten ${i}`));
    store.failNext("write", "ENOSPC");
    wal.close();
    expect(store.failed.write).toBe(1);
    for (const commit of commits) {
      const error = await walRejectionOf(commit);
      expect([error.code, (error as { errno?: string }).errno]).toEqual(["IO", "ENOSPC"]);
    }
  });

  test("await using: the failed drain rejects the commits with IO, and the scope still closes", async () => {
    const store = new FaultStore();
    const commits: Promise<number>[] = [];
    {
      await using wal = Wal.withStore(store);
      for (let i = 0; i < 10; i++) commits.push(wal.commit(`doomed ${i}`));
      store.failNext("sync", "EIO");
    }
    expect(store.failed.sync).toBe(1); // the drain's barrier, before the scope ended
    const outcomes = await Promise.allSettled(commits);
    for (const outcome of outcomes) {
      expect(outcome.status).toBe("rejected");
      expect((outcome as PromiseRejectedResult).reason.code).toBe("IO");
    }
  });
});

describe("await using drains without blocking the event loop", () => {
  test("await using with 1,000 pending commits resolves every one; each record is there after reopen", async () => {
    const path = logPath(dir);
    const payload = (i: number) => `scoped ${i}`;
    const commits: Promise<number>[] = [];
    {
      await using wal = Wal.open(path);
      for (let i = 0; i < 1000; i++) commits.push(wal.commit(payload(i)));
    }
    await expectAllResolvedAndKept(commits, payload, () => recordsAt(path));
    expect(recordsAt(path).size).toBe(1000);
  });

  test("[Symbol.asyncDispose]() waits for the async barrier, leaving the event loop free", async () => {
    const store = new HeldBarrierStore();
    const wal = Wal.withStore(store);
    const commits = Array.from({ length: 3 }, (_, i) => wal.commit(`c${i}`));
    let disposed = false;
    const disposing = wal[Symbol.asyncDispose]().then(() => {
      disposed = true;
    });
    // The drain waits for the held async barrier; this test runs meanwhile.
    await until(() => store.heldCount === 1, "the held barrier");
    const barriers = store.barriers;
    await turnOfTheEventLoop();
    expect(disposed).toBe(false);
    store.release();
    await disposing;
    expect(store.barriers).toBe(barriers); // no blocking barrier after the async one
    expect(await Promise.all(commits)).toEqual([0, 10, 20]);
    expect((await walRejectionOf(wal.commit("after"))).code).toBe("CLOSED");
  });
});
