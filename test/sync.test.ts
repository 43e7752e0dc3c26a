/**
 * The barrier: when sync issues one, when it does not, and what a failed write or barrier does
 * to the log (it poisons it: a retried fdatasync can report success over lost data).
 */

import { describe, expect, test } from "bun:test";
import { closeSync, openSync, readdirSync, statSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import {
  FileStore,
  IoError,
  MemoryStore,
  type Platform,
  SegmentedStore,
  Wal,
} from "../src/index.ts";
import { currentPlatform } from "../src/platform/index.ts";
import { walErrorOf as errorOf } from "./support/errors.ts";
import { FaultStore } from "./support/fault-store.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();
const text = (data: Uint8Array) => new TextDecoder().decode(data);

/** The real platform, with every call recorded in order. */
function recordingPlatform(): { platform: Platform; calls: string[] } {
  const real = currentPlatform();
  const calls: string[] = [];
  return {
    calls,
    platform: {
      barrier(fd, target) {
        calls.push(`barrier ${target}`);
        return real.barrier(fd, target);
      },
      syncDirectory(path) {
        calls.push(`syncDirectory ${path}`);
        return real.syncDirectory(path);
      },
      tryLockExclusive(fd, target) {
        calls.push(`lock ${target}`);
        return real.tryLockExclusive(fd, target);
      },
      dropCache(fd, target) {
        calls.push(`dropCache ${target}`);
        real.dropCache(fd, target);
      },
    },
  };
}

describe("Wal.sync() and the platform barrier", () => {
  test("Wal.open() of a new file locks it, syncs its directory, and makes recovery durable", () => {
    const path = logPath(dir);
    const { platform, calls } = recordingPlatform();
    using wal = Wal.withStore(FileStore.open(path, { platform }));
    // The barrier, then the drop of the cached pages, before recovery reads a byte.
    expect(calls).toEqual([
      `lock ${path}`,
      `syncDirectory ${dirname(path)}`,
      `barrier ${path}`,
      `dropCache ${path}`,
    ]);
    expect(wal.len).toBe(0);
  });

  test("Wal.sync() issues one barrier per sync that has new records, none otherwise", () => {
    const path = logPath(dir);
    const { platform, calls } = recordingPlatform();
    using wal = Wal.withStore(FileStore.open(path, { platform }));
    calls.length = 0;
    wal.sync(); // nothing appended since open's barrier
    expect(calls).toEqual([]);
    wal.append("one");
    wal.append("two");
    expect(calls).toEqual([]); // append never syncs
    wal.sync();
    expect(calls).toEqual([`barrier ${path}`]);
    wal.sync();
    expect(calls).toHaveLength(1);
    wal.appendAndSync("three");
    expect(calls).toEqual([`barrier ${path}`, `barrier ${path}`]);
  });

  test("Wal.open() of a torn file cuts it, then issues the barrier that makes the cut durable", () => {
    const path = logPath(dir);
    {
      using wal = Wal.open(path);
      wal.appendAndSync("whole");
    }
    // A torn header right after the record, in its zero-filled tail, as a crash leaves it.
    const sizeBefore = statSync(path).size;
    expect(sizeBefore).toBeGreaterThan(16);
    const fd = openSync(path, "r+");
    writeSync(fd, new Uint8Array([9, 9, 9]), 0, 3, 13);
    closeSync(fd);
    const { platform, calls } = recordingPlatform();
    using wal = Wal.withStore(FileStore.open(path, { platform }));
    expect(statSync(path).size).toBe(13);
    expect(wal.recovery.bytesDropped).toBe(sizeBefore - 13);
    // Recovery's barrier and drop before the scan, then the cut's own barrier.
    expect(calls).toEqual([
      `lock ${path}`,
      `syncDirectory ${dirname(path)}`,
      `barrier ${path}`,
      `dropCache ${path}`,
      `barrier ${path}`,
    ]);
  });

  test("Wal.open() of a torn log cuts it with a durable truncate", () => {
    const store = new FaultStore(new MemoryStore(new Uint8Array([1, 2, 3, 4, 5])));
    using wal = Wal.withStore(store);
    expect(store.calls.truncate).toBe(1);
    expect(store.size).toBe(0);
    expect(wal.recovery.bytesDropped).toBe(5);
    expect(wal.recovery.reason).toContain("incomplete header");
  });
});

describe("a failure poisons the log", () => {
  test("Wal.sync() that fails throws IO, and every later append and sync throws POISONED", () => {
    const store = new FaultStore();
    const wal = Wal.withStore(store);
    wal.append("covered by the failed barrier");
    store.failNext("sync", "EIO");
    const failure = errorOf(() => wal.sync());
    expect(failure).toBeInstanceOf(IoError);
    expect(failure.code).toBe("IO");
    expect((failure as IoError).errno).toBe("EIO");

    // The barrier would succeed now, but it is never retried and trusted.
    const syncsBefore = store.calls.sync;
    for (const call of [() => wal.sync(), () => wal.append("x"), () => wal.appendAndSync("y")]) {
      const error = errorOf(call);
      expect(error.code).toBe("POISONED");
      expect(error.cause).toBe(failure);
    }
    expect(store.calls.sync).toBe(syncsBefore);
    // Reading what is there still works; reopening recovers it.
    expect([...wal.iter()].map((r) => text(r.data))).toEqual(["covered by the failed barrier"]);
    wal.close();
    using reopened = Wal.withStore(new MemoryStore((store.inner as MemoryStore).snapshot()));
    expect(reopened.appendAndSync("after reopen")).toBe(37);
  });

  test("Wal.append() whose write fails part-way throws IO, poisons, and the torn frame is cut on reopen", () => {
    const store = new FaultStore();
    const wal = Wal.withStore(store);
    wal.appendAndSync("whole");
    store.failNext("write", "ENOSPC", 5);
    const failure = errorOf(() => wal.append("this frame is torn by a full disk"));
    expect(failure.code).toBe("IO");
    expect((failure as IoError).errno).toBe("ENOSPC");
    expect(wal.len).toBe(13); // the log never grew over the torn frame
    expect(errorOf(() => wal.append("z")).code).toBe("POISONED");
    expect(errorOf(() => wal.sync()).code).toBe("POISONED");
    expect(store.size).toBe(18); // five bytes of the torn frame reached the store
    wal.close();

    using reopened = Wal.withStore(new MemoryStore((store.inner as MemoryStore).snapshot()));
    expect(reopened.recovery.bytesDropped).toBe(5);
    expect([...reopened.iter()].map((r) => text(r.data))).toEqual(["whole"]);
  });

  test("Wal.append() of a large record whose payload write fails poisons the log", () => {
    const store = new FaultStore();
    const wal = Wal.withStore(store);
    const big = new Uint8Array(100_000);
    // The header is written first, then the payload in place; fail the payload.
    const realWrite = store.write.bind(store);
    let writes = 0;
    store.write = (source, length, position) => {
      if (++writes === 2) store.failNext("write", "EIO");
      realWrite(source, length, position);
    };
    expect(errorOf(() => wal.append(big)).code).toBe("IO");
    expect(wal.len).toBe(0);
    expect(errorOf(() => wal.append("next")).code).toBe("POISONED");
  });
});

describe("a failed truncation", () => {
  test("Wal.truncateAfter() whose cut fails throws IO and poisons the log: the cut may be half done", () => {
    const store = new FaultStore();
    const wal = Wal.withStore(store);
    const kept = wal.append("kept");
    wal.append("to be cut");
    store.failNext("truncate", "EIO");
    const error = errorOf(() => wal.truncateAfter(kept));
    expect(error.code).toBe("IO");
    expect((error as IoError).errno).toBe("EIO");
    expect(errorOf(() => wal.append("next")).code).toBe("POISONED");
    expect(errorOf(() => wal.truncateAfter(kept)).code).toBe("POISONED");
    wal.close();
  });

  test("Wal.truncateBefore() whose barrier fails throws IO, deletes nothing and poisons the log", () => {
    const dir2 = logPath(dir, "segments");
    const failing: Platform = {
      ...currentPlatform(),
      barrier(fd, target) {
        if (armed) throw new IoError("fdatasync", target, "EIO", new Error("EIO"));
        return currentPlatform().barrier(fd, target);
      },
    };
    let armed = false;
    const wal = Wal.withStore(SegmentedStore.open(dir2, 16, { platform: failing }));
    const lsns = Array.from({ length: 6 }, (_, i) => wal.append(`r${i}`));
    armed = true;
    expect(errorOf(() => wal.truncateBefore(lsns[4]!)).code).toBe("IO");
    armed = false;
    expect(errorOf(() => wal.append("next")).code).toBe("POISONED");
    wal.close();
    using reopened = Wal.withStore(SegmentedStore.open(dir2, 16));
    expect(reopened.head).toBe(0);
    expect([...reopened.iter()].map((r) => r.lsn)).toEqual(lsns);
  });
});

describe("barriers of a segmented log", () => {
  /** A platform that records each barrier's file name, and "directory" for directory syncs. */
  function recording(): { platform: Platform; targets: string[] } {
    const targets: string[] = [];
    const platform: Platform = {
      ...currentPlatform(),
      barrier(fd, target) {
        targets.push(target.slice(target.lastIndexOf("/") + 1));
        return currentPlatform().barrier(fd, target);
      },
      syncDirectory(path) {
        targets.push("directory");
        return currentPlatform().syncDirectory(path);
      },
    };
    return { platform, targets };
  }

  test("Wal.sync() syncs only the segments holding unsynced writes; each roll syncs the full segment first", () => {
    const { platform: counting, targets } = recording();
    const path = logPath(dir, "segments");
    using wal = Wal.withStore(SegmentedStore.open(path, 64, { platform: counting }));
    targets.length = 0;
    // 10 records of 8 + 24 bytes: bytes 0..320 across segments 0..4.
    for (let i = 0; i < 10; i++) wal.append("twenty-four bytes each..");
    // Each roll: a barrier on the full segment, then the new name made durable.
    expect(targets).toEqual([
      "directory",
      ...[1, 2, 3, 4].flatMap((k) => [`0000000000000000000${k - 1}.wal`, "directory"]),
    ]);
    targets.length = 0;
    wal.sync();
    expect(targets).toEqual(["00000000000000000004.wal"]);
    targets.length = 0;
    wal.append("twenty-four bytes each..");
    wal.sync();
    expect(targets).toEqual(["00000000000000000004.wal", "directory", "00000000000000000005.wal"]);
  });

  test("Wal.open() of a directory syncs its parent, new or not; recovery syncs every segment and the directory", () => {
    const synced: string[] = [];
    const platform: Platform = {
      ...currentPlatform(),
      barrier(fd, target) {
        synced.push(target);
        return currentPlatform().barrier(fd, target);
      },
      syncDirectory(path) {
        synced.push(`directory ${path}`);
        return currentPlatform().syncDirectory(path);
      },
    };
    const path = logPath(dir, "segments");
    Wal.withStore(SegmentedStore.open(path, 64, { platform })).close();
    // Creating the directory: its name in the parent must be durable before any segment is.
    expect(synced[0]).toBe(`directory ${dirname(path)}`);
    {
      using wal = Wal.withStore(SegmentedStore.open(path, 64));
      for (let i = 0; i < 10; i++) wal.append("twenty-four bytes each..");
    }
    synced.length = 0;
    // A crashed writer may have left the directory's name and any segment unsynced:
    // reopening syncs them all.
    Wal.withStore(SegmentedStore.open(path, 64, { platform })).close();
    expect(synced).toEqual([
      `directory ${dirname(path)}`,
      ...[0, 1, 2, 3, 4].map((k) => join(path, `0000000000000000000${k}.wal`)),
      `directory ${path}`,
    ]);
  });

  test("Wal.truncateBefore() makes the records, then the head, durable before it deletes a segment", () => {
    const { platform, targets } = recording();
    const path = logPath(dir, "segments");
    using wal = Wal.withStore(SegmentedStore.open(path, 64, { platform }));
    const lsns = Array.from({ length: 10 }, () => wal.append("twenty-four bytes each.."));
    targets.length = 0;
    wal.truncateBefore(lsns[5]!); // 160: segment 2; segments 0 and 1 go
    expect(targets).toEqual([
      "00000000000000000004.wal", // the unsynced records
      "head.tmp", // the new head's bytes
      "directory", // its rename over head
      "directory", // the deletions, once the head is durable
    ]);
    expect(readdirSync(path).filter((name) => name.endsWith(".wal"))[0]).toBe(
      "00000000000000000002.wal",
    );
  });

  test("Wal.truncateAfter() deletes from the last segment down, syncing the directory after each, then syncs the cut", () => {
    const { platform, targets } = recording();
    const path = logPath(dir, "segments");
    using wal = Wal.withStore(SegmentedStore.open(path, 64, { platform }));
    const lsns = Array.from({ length: 10 }, () => wal.append("twenty-four bytes each.."));
    targets.length = 0;
    wal.truncateAfter(lsns[2]!); // keeps bytes [0, 96): segments 0 and 1
    expect(targets).toEqual(["directory", "directory", "directory", "00000000000000000001.wal"]);
    expect(readdirSync(path).filter((name) => name.endsWith(".wal"))).toEqual([
      "00000000000000000000.wal",
      "00000000000000000001.wal",
    ]);
  });
});
