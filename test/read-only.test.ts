/**
 * `Wal.openReadOnly`: a reader that never changes a byte. What must hold:
 * - it reads a log another `Wal` holds open (no lock), up to what the files held when it opened;
 * - on a damaged log it reports exactly what `Wal.open` then cuts, and the files stay
 *   byte for byte as they were (a read-only file opens too: the descriptors cannot write);
 * - every call that writes, syncs, cuts or shares throws `READ_ONLY`;
 * - a segmented log reads the same way, and no lock file or directory is created.
 */

import { describe, expect, test } from "bun:test";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { FileStore, type ReadOnlyWal, SegmentedStore, Wal } from "../src/index.ts";
import { walErrorOf, walRejectionOf } from "./support/errors.ts";
import { seededRecords } from "./support/random.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();
const { payloads, lsns, total } = seededRecords(0x5ead, 20, 300);

/** A closed log of the twenty seeded records at `path`. */
function writeLog(path: string, options = {}): void {
  using wal = Wal.open(path, { preallocate: 0, ...options });
  for (const payload of payloads) wal.append(payload);
  wal.sync();
}

const dataOf = (wal: ReadOnlyWal) => [...wal.iter()].map((record) => Buffer.from(record.data));

describe("Wal.openReadOnly", () => {
  test("reads a log another Wal holds open, as it was when opened", () => {
    const path = logPath(dir);
    using writer = Wal.open(path);
    for (const payload of payloads) writer.append(payload);
    writer.sync();
    using reader = Wal.openReadOnly(path);
    expect(reader.readOnly).toBe(true);
    expect(reader.len).toBe(total);
    expect(reader.recovery.bytesDropped).toBe(0);
    expect(dataOf(reader)).toEqual(payloads.map((p) => Buffer.from(p)));
    expect([...reader.iterFrom(lsns[7]!)].map((r) => r.lsn)).toEqual(lsns.slice(7));
    writer.appendAndSync("later");
    expect(reader.len).toBe(total);
    using again = Wal.openReadOnly(path);
    expect(dataOf(again).at(-1)?.toString()).toBe("later");
  });

  test.each([
    ["a torn tail", (image: Uint8Array) => image.subarray(0, total - 5)],
    [
      "damage that valid records follow",
      (image: Uint8Array) => {
        const damaged = image.slice();
        damaged[lsns[12]! + 9]! ^= 0x40;
        return damaged;
      },
    ],
  ])("on %s: reports what Wal.open then cuts, and changes no byte", (_name, damage) => {
    const path = logPath(dir);
    writeLog(path);
    const image = damage(new Uint8Array(readFileSync(path)));
    writeFileSync(path, image);
    chmodSync(path, 0o444); // opens anyway: every descriptor it takes is read-only
    let seen: Wal["recovery"];
    {
      using reader = Wal.openReadOnly(path);
      seen = reader.recovery;
      expect(seen.bytesDropped).toBeGreaterThan(0);
      expect(seen.reason).not.toBeNull();
      expect(seen.barrier).toBeNull(); // a reader syncs nothing
      expect(reader.len).toBe(seen.end);
      expect([...reader.iter()]).toHaveLength(seen.records);
    }
    expect(Buffer.from(readFileSync(path)).equals(Buffer.from(image))).toBe(true);
    chmodSync(path, 0o644);
    using writer = Wal.open(path, { preallocate: 0 });
    expect(writer.recovery).toEqual({ ...seen, barrier: "full" });
    expect(readFileSync(path).length).toBe(seen.end);
  });

  test("every call that writes, syncs, cuts, shares or follows throws READ_ONLY", async () => {
    const path = logPath(dir);
    writeLog(path);
    using reader = Wal.openReadOnly(path);
    const calls: [string, () => unknown][] = [
      // @ts-expect-error a read-only log has no append; a caller past the compiler gets READ_ONLY
      ["append", () => reader.append("x")],
      // @ts-expect-error a read-only log has no appendAndSync; a caller past the compiler gets READ_ONLY
      ["appendAndSync", () => reader.appendAndSync("x")],
      // @ts-expect-error a read-only log has no appendBatch; a caller past the compiler gets READ_ONLY
      ["appendBatch", () => reader.appendBatch(["x"])],
      // @ts-expect-error a read-only log has no sync; a caller past the compiler gets READ_ONLY
      ["sync", () => reader.sync()],
      // @ts-expect-error a read-only log has no truncateBefore; a caller past the compiler gets READ_ONLY
      ["truncateBefore", () => reader.truncateBefore(lsns[3]!)],
      // @ts-expect-error a read-only log has no truncateAfter; a caller past the compiler gets READ_ONLY
      ["truncateAfter", () => reader.truncateAfter(lsns[3]!)],
      // @ts-expect-error a read-only log has no share; a caller past the compiler gets READ_ONLY
      ["share", () => reader.share()],
    ];
    for (const [name, call] of calls) {
      const error = walErrorOf(call);
      expect(error.code, name).toBe("READ_ONLY");
      expect(error.message, name).toContain("read-only");
    }
    // @ts-expect-error no commit either
    expect((await walRejectionOf(reader.commit("x"))).code).toBe("READ_ONLY");
    // @ts-expect-error nor syncAsync
    expect((await walRejectionOf(reader.syncAsync())).code).toBe("READ_ONLY");
    // follow would wait for barriers no one in this process can make: refused, not hung.
    // @ts-expect-error nor follow
    const follow = await walRejectionOf(reader.follow().next());
    expect(follow.code).toBe("READ_ONLY");
    expect(follow.message).toContain("wal-db tail --follow");
    expect(readFileSync(path).length).toBe(total);
    expect(reader.len).toBe(total);
  });

  test("a read-only store refuses to sync, though fdatasync would work on its descriptor", () => {
    const path = logPath(dir);
    writeLog(path);
    const file = FileStore.open(path, { readOnly: true });
    expect(walErrorOf(() => file.sync()).code).toBe("READ_ONLY");
    file.close();
    const segments = join(dir, "read-only-segments");
    Wal.open(segments, { segmentSize: 4096 }).close();
    const segmented = SegmentedStore.open(segments, 4096, { readOnly: true });
    expect(walErrorOf(() => segmented.sync()).code).toBe("READ_ONLY");
    segmented.close();
  });

  test("a segmented log reads the same way, and nothing is created", () => {
    const logDir = join(dir, "segments");
    // Records of up to 2,000 bytes: some 20 KB, five 4 KiB segments, records spanning them.
    const large = seededRecords(0x5eae, 20, 2000);
    {
      using wal = Wal.open(logDir, { segmentSize: 4096 });
      for (const payload of large.payloads) wal.append(payload);
      wal.sync();
    }
    expect(readdirSync(logDir).filter((name) => name.endsWith(".wal")).length).toBeGreaterThan(2);
    const lockFile = join(logDir, "LOCK");
    using writer = Wal.open(logDir, { segmentSize: 4096 }); // holds the lock meanwhile
    using reader = Wal.openReadOnly(logDir, { segmentSize: 4096 });
    expect(dataOf(reader)).toEqual(large.payloads.map((p) => Buffer.from(p)));
    expect(writer.len).toBe(large.total);
    const missing = join(dir, "no-such-dir");
    expect(walErrorOf(() => Wal.openReadOnly(missing, { segmentSize: 4096 })).code).toBe(
      "NOT_FOUND",
    );
    expect(existsSync(missing)).toBe(false);
    expect(existsSync(lockFile)).toBe(true); // the writer's, not the reader's
    const bare = join(dir, "bare");
    mkdirSync(bare);
    using empty = Wal.openReadOnly(bare, { segmentSize: 4096 });
    expect(empty.len).toBe(0);
    expect(existsSync(join(bare, "LOCK"))).toBe(false);
  });

  test("a missing file is NOT_FOUND and is not created; a directory needs segmentSize", () => {
    const path = logPath(dir);
    const error = walErrorOf(() => Wal.openReadOnly(path));
    expect(error.code).toBe("NOT_FOUND");
    expect(error.message).toContain("a read-only open never creates a log");
    expect(existsSync(path)).toBe(false);
    expect(walErrorOf(() => Wal.openReadOnly(dir)).code).toBe("INVALID_ARGUMENT");
  });
});
