/**
 * `share()` and `Wal.attach()` within one thread (the Worker tests are in workers.test.ts):
 * an attached Wal writes into the owner's LSN space, shares its counters and barriers, and
 * cannot outlive the owner's `close`. A handle is a capability, so `attach` checks every field
 * and turns anything malformed into INVALID_ARGUMENT, never a crash or a write.
 */

import { afterAll, describe, expect, test } from "bun:test";
import { closeSync, openSync, writeFileSync } from "node:fs";
import { MemoryStore, Wal, type WalHandle } from "../src/index.ts";
import { walErrorOf } from "./support/errors.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();
const text = (data: Uint8Array) => new TextDecoder().decode(data);

describe("Wal.attach()", () => {
  test("appends into the owner's log, in the same LSN space, with shared counters", async () => {
    const path = logPath(dir);
    using owner = Wal.open(path);
    owner.append("from the owner");
    const attached = Wal.attach(owner.share());
    expect(attached.append("attached")).toBe(22);
    expect(attached.appendBatch(["b1", "b2"])).toEqual([38, 48]);
    expect(await attached.commit("committed")).toBe(58);
    expect(owner.append("owner again")).toBe(75);
    expect(attached.len).toBe(94);
    expect(owner.stats()).toEqual(attached.stats());
    expect(owner.stats().appends).toBe(6);
    attached.sync();
    owner.sync(); // covered by the attached Wal's barrier: no second one
    expect(owner.stats().barriers).toBe(2); // the commit's, then sync()'s
    attached.close();

    // Detaching leaves the owner's file open and working.
    owner.appendAndSync("after detach");
    expect([...owner.iter()].map((r) => text(r.data))).toEqual([
      "from the owner",
      "attached",
      "b1",
      "b2",
      "committed",
      "owner again",
      "after detach",
    ]);
  });

  test("an attached Wal does not read: iterate from the owner", () => {
    using owner = Wal.open(logPath(dir));
    using attached = Wal.attach(owner.share());
    // @ts-expect-error an attached Wal has no readers; a caller past the compiler gets this
    expect(walErrorOf(() => attached.iter()).code).toBe("INVALID_ARGUMENT");
    // @ts-expect-error nor iterFrom
    expect(walErrorOf(() => attached.iterFrom(0)).code).toBe("INVALID_ARGUMENT");
  });

  test.each([
    ["a single file", {}],
    ["4 KiB segments", { segmentSize: 4096 }],
  ] as const)(
    "after the owner closes, attached Wals and new attaches get CLOSED: %s",
    async (_layout, options) => {
      const owner = Wal.open(logPath(dir), options);
      const handle = owner.share();
      const attached = Wal.attach(handle);
      owner.close();
      expect(walErrorOf(() => attached.append("late")).code).toBe("CLOSED");
      expect(walErrorOf(() => attached.sync()).code).toBe("CLOSED");
      expect(walErrorOf(() => attached.appendBatch(["late"])).code).toBe("CLOSED");
      await expect(attached.commit("late")).rejects.toMatchObject({ code: "CLOSED" });
      expect(walErrorOf(() => Wal.attach(handle)).code).toBe("CLOSED");
      attached.close();
    },
  );

  test("share() of a log in this thread's memory is refused", () => {
    using wal = Wal.withStore(new MemoryStore());
    expect(walErrorOf(() => wal.share()).code).toBe("INVALID_ARGUMENT");
  });

  test("truncation from an attached Wal is refused, at either end", () => {
    using owner = Wal.open(logPath(dir));
    const lsn = owner.append("a record");
    using attached = Wal.attach(owner.share());
    // @ts-expect-error only the owner truncates
    expect(walErrorOf(() => attached.truncateAfter(lsn)).code).toBe("INVALID_ARGUMENT");
    // @ts-expect-error either end
    expect(walErrorOf(() => attached.truncateBefore(lsn)).code).toBe("INVALID_ARGUMENT");
    expect(owner.len).toBe(lsn + 16);
  });

  test("a malformed handle is INVALID_ARGUMENT and writes nothing", () => {
    const path = logPath(dir);
    using owner = Wal.open(path);
    owner.appendAndSync("only record");
    const good = owner.share();
    const otherPath = logPath(dir, "other");
    writeFileSync(otherPath, "");
    const otherFd = openSync(otherPath, "r+");
    afterAll(() => closeSync(otherFd));
    const forged: unknown[] = [
      undefined,
      null,
      42,
      "handle",
      [],
      {},
      { ...good, kind: "something else" },
      { ...good, version: 2 },
      { ...good, buffer: new SharedArrayBuffer(good.buffer.byteLength) }, // no magic
      { ...good, buffer: new SharedArrayBuffer(16) },
      { ...good, buffer: new ArrayBuffer(good.buffer.byteLength) },
      { ...good, store: undefined },
      { ...good, store: { ...good.store, layout: "tape" } },
      { ...good, store: { ...good.store, fd: -1 } },
      { ...good, store: { ...good.store, fd: 1.5 } },
      { ...good, store: { ...good.store, fd: 2 ** 40 } },
      { ...good, store: { ...good.store, fd: "3" } },
      { ...good, store: { ...good.store, fd: otherFd } }, // open, but on another file
      { ...good, store: { ...good.store, path: otherPath } },
      { ...good, store: { ...good.store, path: 7 } },
      { ...good, maxRecordSize: -1 },
      { ...good, stallTimeout: 0 },
      { ...good, maxPendingCommits: Number.NaN },
      { ...good, recovery: null },
      { ...good, recovery: { ...good.recovery, end: -5 } },
      { ...good, recovery: { ...good.recovery, reason: 12 } },
    ];
    for (const handle of forged) {
      expect(walErrorOf(() => Wal.attach(handle as WalHandle)).code).toBe("INVALID_ARGUMENT");
    }
    expect([...owner.iter()].map((r) => text(r.data))).toEqual(["only record"]);
    expect(owner.stats().appends).toBe(1);
  });

  test("a segmented log shares: both Wals append into one LSN space across rolls, in order on reopen", () => {
    const path = logPath(dir, "segments");
    const lsns: number[] = [];
    {
      using owner = Wal.open(path, { segmentSize: 4096 });
      using attached = Wal.attach(owner.share());
      for (let i = 0; i < 40; i++) {
        const wal = i % 2 === 0 ? owner : attached;
        lsns.push(wal.append(`record ${i} `.padEnd(300, "x")));
      }
      attached.sync();
      expect(owner.stats().segmentsCreated).toBeGreaterThanOrEqual(3);
    }
    using reopened = Wal.openReadOnly(path);
    const records = [...reopened.iter()];
    expect(records.map((r) => r.lsn)).toEqual(lsns);
    expect(records.map((r) => text(r.data).split(" ")[1])).toEqual(lsns.map((_, i) => `${i}`));
  });

  test("a malformed segmented handle is INVALID_ARGUMENT and writes nothing", () => {
    const path = logPath(dir, "forged-segments");
    using owner = Wal.open(path, { segmentSize: 4096 });
    owner.appendAndSync("only record");
    const good = owner.share();
    const store = good.store as Extract<WalHandle["store"], { layout: "segments" }>;
    const forged: unknown[] = [
      { ...good, store: { ...store, layout: "file" } },
      { ...good, store: { ...store, table: new SharedArrayBuffer(16) } },
      { ...good, store: { ...store, table: new SharedArrayBuffer(store.table.byteLength) } },
      { ...good, store: { ...store, table: undefined } },
      { ...good, store: { ...store, segmentSize: 0 } },
      { ...good, store: { ...store, segmentSize: "4096" } },
      { ...good, store: { ...store, path: dir } }, // a directory, but not this log's
      { ...good, store: { ...store, path: 7 } },
    ];
    for (const handle of forged) {
      expect(walErrorOf(() => Wal.attach(handle as WalHandle)).code).toBe("INVALID_ARGUMENT");
    }
    expect([...owner.iter()].map((r) => text(r.data))).toEqual(["only record"]);
    expect(owner.stats().appends).toBe(1);
  });

  // The owner's store wrote none of those records: the cut and the head must be checked against
  // what every thread wrote (a single file's length, the segment table), or they are refused
  // and the refusal poisons the log.
  test.each([
    ["a single file with its zero fill", {}],
    ["a single file without one", { preallocate: 0 }],
    ["4 KiB segments", { segmentSize: 4096 }],
  ] as const)(
    "the owner truncates at records only an attached Wal wrote: %s",
    (_layout, options) => {
      const path = logPath(dir, "cut-attached");
      const lsns: number[] = [];
      {
        using owner = Wal.open(path, options);
        owner.appendAndSync("the owner's only record");
        using attached = Wal.attach(owner.share());
        for (let i = 0; i < 100; i++) lsns.push(attached.append(`record ${i} `.padEnd(200, "x")));
        attached.sync();
        owner.truncateAfter(lsns[90]!);
        expect(owner.len).toBe(lsns[91]!);
        const head = owner.truncateBefore(lsns[50]!);
        expect(head).toBe("segmentSize" in options ? lsns[50]! : 0);
        expect(owner.append("after the cuts")).toBe(lsns[91]!);
      }
      using reopened = Wal.openReadOnly(path, options);
      const records = [...reopened.iter()];
      expect(records.at(-1)!.lsn).toBe(lsns[91]!);
      expect(records.at(-2)!.lsn).toBe(lsns[90]!);
    },
  );
});
