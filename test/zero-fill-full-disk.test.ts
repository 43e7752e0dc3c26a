/**
 * The zero fill (`preallocate`) on a disk without room for it. The fill is an optimisation: a
 * record that fits must not fail because the zeros after it do not. What must hold:
 * - when writing the zeros fails with a space error (ENOSPC, EDQUOT, EFBIG), the append goes
 *   on without them, succeeds, and the record survives a reopen; zeros a short write left are
 *   cut again, so they take no room the record needs;
 * - any other error of the zero write (EIO) still fails the append and poisons the log;
 * - after a barrier, a later fill tries the zeros again;
 * - on a real file system that is nearly full (a small tmpfs, as root on Linux), a 1 KiB and
 *   then a 40 KiB record are appended and synced where 60 KiB are free, though the default fill
 *   wants 1 MiB.
 */

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statfsSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryStore, Wal } from "../src/index.ts";
import { walErrorOf, walRejectionOf } from "./support/errors.ts";
import { FaultStore } from "./support/fault-store.ts";

const FILL = 1024 * 1024;
const text = (data: Uint8Array) => new TextDecoder().decode(data);

/** The records a fresh open of `store`'s bytes finds. */
function reopened(store: FaultStore): string[] {
  using wal = Wal.withStore(new MemoryStore((store.inner as MemoryStore).snapshot()), {
    preallocate: FILL,
  });
  return [...wal.iter()].map((r) => text(r.data));
}

describe.each(["ENOSPC", "EDQUOT", "EFBIG"])("a zero fill that fails with %s", (errno) => {
  test("append() goes on without the zeros; the record survives reopen", () => {
    const store = new FaultStore();
    using wal = Wal.withStore(store, { preallocate: FILL });
    store.failNext("write", errno); // the first write of the first append: its zeros
    expect(wal.append("it fits")).toBe(0);
    expect(store.failed.write).toBe(1);
    expect(store.size).toBe(15); // the record, and no zeros
    wal.sync();
    expect(wal.append("and so does this")).toBe(15);
    wal.sync();
    expect(reopened(store)).toEqual(["it fits", "and so does this"]);
  });

  test("append() after a short zero write cuts the zeros it left, then writes the record", () => {
    const store = new FaultStore();
    using wal = Wal.withStore(store, { preallocate: FILL });
    store.failNext("write", errno, 8192); // 8 KiB of zeros reach the store, then the error
    expect(wal.append("it fits")).toBe(0);
    expect(store.calls.truncate).toBe(1);
    expect(store.size).toBe(15);
    wal.sync();
    expect(reopened(store)).toEqual(["it fits"]);
  });

  test("commit() and appendBatch() go on without the zeros too", async () => {
    const store = new FaultStore();
    using wal = Wal.withStore(store, { preallocate: FILL });
    store.failNext("write", errno);
    expect(await wal.commit("committed")).toBe(0);
    expect(store.failed.write).toBe(1);
    store.failNext("write", errno); // a barrier ran: the next fill tries the zeros again
    expect(wal.appendBatch(["one", "two"])).toEqual([17, 28]);
    expect(store.failed.write).toBe(2);
    wal.sync();
    expect(reopened(store)).toEqual(["committed", "one", "two"]);
  });
});

describe("a zero fill that fails with EIO", () => {
  test("append() fails with IO and poisons the log", () => {
    const store = new FaultStore();
    using wal = Wal.withStore(store, { preallocate: FILL });
    store.failNext("write", "EIO");
    const error = walErrorOf(() => wal.append("doomed"));
    expect([error.code, (error as { errno?: string }).errno]).toEqual(["IO", "EIO"]);
    expect(walErrorOf(() => wal.append("after")).code).toBe("POISONED");
  });

  test("commit() rejects with IO and poisons the log", async () => {
    const store = new FaultStore();
    using wal = Wal.withStore(store, { preallocate: FILL });
    store.failNext("write", "EIO");
    expect((await walRejectionOf(wal.commit("doomed"))).code).toBe("IO");
    expect(walErrorOf(() => wal.append("after")).code).toBe("POISONED");
  });
});

describe("a zero fill after a failed one", () => {
  test("append() writes zeros again once a barrier ran and the log passes the fill it gave up", () => {
    const store = new FaultStore();
    using wal = Wal.withStore(store, { preallocate: 4096 });
    store.failNext("write", "ENOSPC");
    wal.append("first");
    // No barrier since the failed fill: no zeros, as after any fill (zero-tail.ts).
    for (let i = 0; i < 100; i++) wal.append("x".repeat(92));
    expect(store.size).toBe(wal.len);
    wal.sync();
    for (let i = 0; i < 100; i++) wal.append("x".repeat(92));
    expect(store.size).toBeGreaterThan(wal.len); // zeros past the records again
    wal.sync();
    expect(reopened(store)).toHaveLength(201);
  });
});

/**
 * A small tmpfs for the real test, or why there is none. Mounted at load so that the test can
 * be skipped by name; unmounted and removed after the file's tests.
 */
function mountSmallTmpfs(): { readonly dir: string } | { readonly reason: string } {
  if (process.platform !== "linux") return { reason: "tmpfs is Linux only" };
  if (process.getuid?.() !== 0) return { reason: "mounting a tmpfs needs root" };
  const dir = mkdtempSync(join(tmpdir(), "wal-db-full-"));
  const mount = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir]);
  if (mount.exitCode !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return {
      reason: `mount refused: ${mount.stderr.toString().trim() || `exit ${mount.exitCode}`}`,
    };
  }
  afterAll(() => {
    const unmount = Bun.spawnSync(["umount", dir]);
    if (unmount.exitCode !== 0) throw new Error(`umount ${dir}: ${unmount.stderr.toString()}`);
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir };
}

const tmpfs = mountSmallTmpfs();
if ("reason" in tmpfs)
  console.warn(`zero-fill-full-disk: skipping the tmpfs test: ${tmpfs.reason}`);

/** Free bytes on the file system holding `dir`. */
const freeBytes = (dir: string) => {
  const stats = statfsSync(dir);
  return stats.bavail * stats.bsize;
};

test.skipIf("reason" in tmpfs)(
  "Wal.open() on a tmpfs with 60 KiB free: append() and sync() of 1 KiB, then 40 KiB, succeed and survive reopen",
  () => {
    const dir = (tmpfs as { dir: string }).dir;
    writeFileSync(join(dir, "filler"), new Uint8Array(freeBytes(dir) - 60 * 1024));
    expect(freeBytes(dir)).toBe(60 * 1024);
    const path = join(dir, "app.wal");
    const small = new Uint8Array(1024).fill(1);
    const large = new Uint8Array(40 * 1024).fill(2);
    {
      using wal = Wal.open(path); // the default fill: 1 MiB, which does not fit
      expect(wal.append(small)).toBe(0);
      wal.sync();
      // The fill after this barrier eats the free space before it fails: it must be cut again,
      // or the record's own pages would not fit.
      expect(wal.append(large)).toBe(8 + 1024);
      wal.sync();
    }
    expect(statSync(path).size).toBe(2 * 8 + small.length + large.length);
    using wal = Wal.open(path);
    const records = [...wal.iter()];
    expect(records.map((r) => r.data.length)).toEqual([small.length, large.length]);
    expect(records[0]!.data.every((byte) => byte === 1)).toBe(true);
    expect(records[1]!.data.every((byte) => byte === 2)).toBe(true);
  },
);
