/**
 * Group commit and the async calls: concurrent `commit`s share barriers, the barrier never
 * blocks the event loop, a failed barrier rejects every commit it covered and poisons the log,
 * and a slow disk turns into back-pressure rather than unbounded pending commits. What `close`
 * does to pending commits (it drains them) is test/close-drain.test.ts.
 */

import { describe, expect, test } from "bun:test";
import { SharedLog } from "../src/commit.ts";
import { MemoryStore, Wal } from "../src/index.ts";
import { walErrorOf, walRejectionOf } from "./support/errors.ts";
import { FaultStore } from "./support/fault-store.ts";
import { HeldBarrierStore, turnOfTheEventLoop } from "./support/held-store.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();
const text = (data: Uint8Array) => new TextDecoder().decode(data);

/** Tracks whether a promise has settled, without changing it. */
function watch<T>(promise: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let settled = false;
  const watched = promise.finally(() => {
    settled = true;
  });
  watched.catch(() => {});
  return { promise: watched, settled: () => settled };
}

describe("Wal.commit() on a file", () => {
  test("1,000 concurrent commits share fewer than 100 barriers, and each LSN holds its record after reopen", async () => {
    const path = logPath(dir);
    const wal = Wal.open(path);
    const lsns = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => wal.commit(`commit ${i}`)),
    );
    const { barriers, appends } = wal.stats();
    expect(appends).toBe(1000);
    expect(barriers).toBeGreaterThanOrEqual(1);
    expect(barriers).toBeLessThan(100);
    wal.close();

    using reopened = Wal.open(path);
    const byLsn = new Map([...reopened.iter()].map((r) => [r.lsn, text(r.data)]));
    expect(byLsn.size).toBe(1000);
    lsns.forEach((lsn, i) => {
      expect(byLsn.get(lsn)).toBe(`commit ${i}`);
    });
  });

  test("commits from one thread get increasing LSNs in call order", async () => {
    using wal = Wal.open(logPath(dir));
    const lsns = await Promise.all([wal.commit("a"), wal.commit("bb"), wal.commit("")]);
    expect(lsns).toEqual([0, 9, 19]);
  });

  test("syncAsync() with nothing new to sync issues no barrier", async () => {
    using wal = Wal.open(logPath(dir));
    await wal.syncAsync();
    expect(wal.stats().barriers).toBe(0);
    wal.append("one");
    await wal.syncAsync();
    await wal.syncAsync();
    expect(wal.stats().barriers).toBe(1);
  });
});

describe("Wal.commit() while the barrier is held", () => {
  test("the event loop keeps running, and the commit resolves only after the barrier returns", async () => {
    const store = new HeldBarrierStore();
    using wal = Wal.withStore(store);
    const commit = watch(wal.commit("waits for its barrier"));

    let timerRan = false;
    setTimeout(() => {
      timerRan = true;
    }, 0);
    const otherWork = Promise.resolve(20).then((n) => n + 1);
    expect(await otherWork).toBe(21);
    await turnOfTheEventLoop();
    expect(timerRan).toBe(true);
    expect(store.heldCount).toBe(1);
    expect(commit.settled()).toBe(false);

    store.release();
    expect(await commit.promise).toBe(0);
  });

  test("commits made while a barrier is held share the next one", async () => {
    const store = new HeldBarrierStore();
    using wal = Wal.withStore(store);
    const atOpen = store.barriers; // recovery's barrier
    const first = watch(wal.commit("first"));
    await turnOfTheEventLoop();
    const later = Array.from({ length: 10 }, (_, i) => watch(wal.commit(`later ${i}`)));
    await turnOfTheEventLoop();
    expect(store.barriers - atOpen).toBe(1);

    store.release();
    expect(await first.promise).toBe(0);
    await turnOfTheEventLoop();
    // Their records were written after the first barrier began, so it did not cover them.
    expect(later.some((commit) => commit.settled())).toBe(false);
    expect(store.barriers - atOpen).toBe(2);
    store.release();
    const lsns = await Promise.all(later.map((commit) => commit.promise));
    expect(lsns[0]).toBe(13);
    expect(store.barriers - atOpen).toBe(2);
  });

  test("after truncateAfter lowers the durable mark, a commit written past a round's barrier waits for its own", async () => {
    const store = new HeldBarrierStore();
    using wal = Wal.withStore(store);
    const big = "x".repeat(200);
    const early = Array.from({ length: 10 }, () => wal.commit(big));
    await turnOfTheEventLoop();
    store.release();
    const [first] = await Promise.all(early);
    // Durable past all ten records; the cut leaves only the first, and the mark drops with it.
    wal.truncateAfter(first as number);

    const covered = watch(wal.commit("covered by the held barrier"));
    await turnOfTheEventLoop();
    expect(store.heldCount).toBe(1);
    // Written after that barrier began (append writes staged commits first), at LSNs the
    // log had made durable before the cut: only a barrier of its own may resolve it.
    const late = watch(wal.commit("written past the barrier"));
    wal.append("writes the staged commit");
    store.release();
    await covered.promise;
    await turnOfTheEventLoop();
    expect(late.settled()).toBe(false);
    expect(store.heldCount).toBe(1);
    store.release();
    expect(await late.promise).toBeGreaterThan(first as number);
  });

  test("syncAsync() resolves only after a barrier that covers the records appended before it", async () => {
    const store = new HeldBarrierStore();
    using wal = Wal.withStore(store);
    wal.append("one");
    wal.append("two");
    const synced = watch(wal.syncAsync());
    await turnOfTheEventLoop();
    expect(synced.settled()).toBe(false);
    expect(store.heldCount).toBe(1);
    store.release();
    await synced.promise;
    expect(wal.stats().barriers).toBe(1);
  });

  test("syncAsync() that joins a barrier already running waits for one that covers its appends", async () => {
    const store = new HeldBarrierStore();
    using wal = Wal.withStore(store);
    const first = wal.commit("first"); // its barrier starts and is held
    await turnOfTheEventLoop();
    expect(store.heldCount).toBe(1);
    wal.append("second"); // after that barrier began: it does not cover this record
    const synced = watch(wal.syncAsync());
    store.release();
    await first;
    await turnOfTheEventLoop();
    expect(synced.settled()).toBe(false);
    expect(store.heldCount).toBe(1); // the next barrier, for "second"
    store.release();
    await synced.promise;
  });

  test("a failed barrier rejects every commit it covered with IO; the log is poisoned", async () => {
    const store = new HeldBarrierStore();
    const wal = Wal.withStore(store);
    const commits = Array.from({ length: 50 }, (_, i) => wal.commit(`covered ${i}`));
    await turnOfTheEventLoop();
    store.fail("EIO");
    for (const commit of commits) {
      const error = await walRejectionOf(commit);
      expect(error.code).toBe("IO");
    }

    const barriersBefore = store.barriers;
    expect(walErrorOf(() => wal.append("x")).code).toBe("POISONED");
    expect(walErrorOf(() => wal.sync()).code).toBe("POISONED");
    expect(walErrorOf(() => wal.appendBatch(["y"])).code).toBe("POISONED");
    expect((await walRejectionOf(wal.commit("z"))).code).toBe("POISONED");
    expect((await walRejectionOf(wal.syncAsync())).code).toBe("POISONED");
    // Never retried: a retried barrier could report success over pages the kernel dropped.
    expect(store.barriers).toBe(barriersBefore);
    wal.close();
  });

  test("past maxPendingCommits, a commit waits for a barrier before it appends", async () => {
    const store = new HeldBarrierStore();
    using wal = Wal.withStore(store, { maxPendingCommits: 4 });
    const commits = Array.from({ length: 6 }, (_, i) => watch(wal.commit(`c${i}`)));
    await turnOfTheEventLoop();
    expect(wal.stats().appends).toBe(4);
    expect(wal.len).toBe(4 * 10);

    store.release();
    await turnOfTheEventLoop();
    expect(commits.slice(0, 4).every((commit) => commit.settled())).toBe(true);
    expect(wal.stats().appends).toBe(6);
    store.release();
    expect(await Promise.all(commits.map((commit) => commit.promise))).toEqual([
      0, 10, 20, 30, 40, 50,
    ]);
  });
});

describe("Wal.commit() on a store without syncAsync", () => {
  test("runs the store's sync and resolves", async () => {
    const store = new MemoryStore();
    using wal = Wal.withStore(store);
    expect(await Promise.all([wal.commit("a"), wal.commit("b")])).toEqual([0, 9]);
    expect(wal.stats()).toMatchObject({ appends: 2, bytes: 18, barriers: 1 });
  });
});

describe("Wal.commit() batches its writes", () => {
  test("commits made in one tick are written with one write, before their one barrier", async () => {
    const store = new FaultStore();
    using wal = Wal.withStore(store);
    const syncs = store.calls.sync; // recovery's barrier
    const lsns = await Promise.all(Array.from({ length: 100 }, (_, i) => wal.commit(`c${i}`)));
    expect(store.calls.write).toBe(1);
    expect(store.calls.sync - syncs).toBe(1);
    expect(lsns[0]).toBe(0);
    expect(lsns.every((lsn, i) => i === 0 || lsn > lsns[i - 1]!)).toBe(true);
    expect([...wal.iter()].map((r) => text(r.data))).toEqual(lsns.map((_, i) => `c${i}`));
  });

  test("every other call writes the staged commits first: LSNs follow call order", async () => {
    using wal = Wal.withStore(new MemoryStore());
    const first = wal.commit("staged"); // 14 bytes, not written yet
    expect(wal.len).toBe(14); // len writes it
    const second = wal.commit("staged too");
    expect(wal.append("appended")).toBe(14 + 18); // after the staged commit
    const third = wal.commit("and again");
    const [batch] = wal.appendBatch(["batched"]);
    expect(batch).toBe(14 + 18 + 16 + 17);
    const big = new Uint8Array(70 * 1024).fill(7); // over 64 KiB: written on its own, in order
    const fourth = wal.commit("before the big one");
    const large = wal.commit(big);
    expect(await Promise.all([first, second, third, fourth, large])).toEqual([
      0,
      14,
      14 + 18 + 16,
      14 + 18 + 16 + 17 + 15,
      14 + 18 + 16 + 17 + 15 + 26,
    ]);
    expect([...wal.iter()].map((r) => r.data.length)).toEqual([6, 10, 8, 9, 7, 18, big.length]);
  });

  test("commits past the 4 MiB staging limit are written in more writes, each record intact", async () => {
    const store = new FaultStore();
    using wal = Wal.withStore(store);
    const payload = (i: number) => new Uint8Array(60 * 1024).fill(i & 0xff);
    const lsns = await Promise.all(Array.from({ length: 150 }, (_, i) => wal.commit(payload(i))));
    expect(store.calls.write).toBe(3); // 9 MiB of frames: 4 MiB at most per write
    const records = [...wal.iter()];
    expect(records.map((r) => r.lsn)).toEqual(lsns);
    expect(records.every((r, i) => r.data.length === 60 * 1024 && r.data[0] === (i & 0xff))).toBe(
      true,
    );
  });

  test("a failed batch write rejects every commit of the batch with IO and poisons the log", async () => {
    const store = new FaultStore();
    using wal = Wal.withStore(store);
    const syncs = store.calls.sync; // recovery's barrier
    store.failNext("write", "EIO");
    const commits = Array.from({ length: 5 }, (_, i) => wal.commit(`doomed ${i}`));
    for (const commit of commits) expect((await walRejectionOf(commit)).code).toBe("IO");
    expect(walErrorOf(() => wal.append("after")).code).toBe("POISONED");
    expect(store.calls.sync - syncs).toBe(0); // nothing written, nothing reported durable
  });
});

/**
 * The barrier rules of the shared state (src/commit.ts rules 3 and 5), white-box, on one
 * thread: what another thread would do is done step by step, so no race can hide a miss.
 */
describe("SharedLog barriers", () => {
  test("a barrier makes durable only bytes written before it, never a reservation in flight", () => {
    const shared = SharedLog.create(0, 0, 1000);
    const ranges: [number, number][] = [];
    const barrier = (from: number, to: number) => {
      ranges.push([from, to]);
      return "full" as const;
    };
    const written = shared.takeWriteSlot(0);
    shared.reserve(written, 10);
    shared.releaseWriteSlot(written, 1);
    const inFlight = shared.takeWriteSlot(1);
    shared.reserve(inFlight, 10); // bytes 10..20 reserved, not yet written
    shared.syncTo(10, null, shared.newId(), barrier);
    expect(shared.durable).toBe(10);
    shared.releaseWriteSlot(inFlight, 1);
    shared.syncTo(20, null, shared.newId(), barrier);
    expect(ranges).toEqual([
      [0, 10],
      [10, 20],
    ]);
  });

  test("a failed barrier fails the shared log: no later barrier runs, in any thread", () => {
    const shared = SharedLog.create(0, 0, 1000);
    const slot = shared.takeWriteSlot(0);
    shared.reserve(slot, 10);
    shared.releaseWriteSlot(slot, 1);
    const failing = () => {
      throw Object.assign(new Error("injected EIO"), { code: "EIO" });
    };
    expect(() => shared.syncTo(10, null, shared.newId(), failing)).toThrow("injected EIO");
    // Another thread's syncer: a new id, the same shared memory, attached as a Worker would.
    const other = SharedLog.attach(shared.buffer, 1000)!;
    let ran = 0;
    const error = walErrorOf(() =>
      other.syncTo(10, null, other.newId(), () => {
        ran++;
        return "full";
      }),
    );
    expect(error.code).toBe("POISONED");
    expect(ran).toBe(0);
    expect(walErrorOf(() => other.takeWriteSlot(0)).code).toBe("POISONED");
  });
});
