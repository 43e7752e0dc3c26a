/**
 * Writing a whole segmented log from elsewhere (src/store/segment-import.ts, what a restore
 * writes through): the files go into a new directory beside the target and move into place with
 * one rename, so the target is either as it was or the whole log. A target that holds anything
 * is refused with nothing changed, and an abandoned import leaves nothing behind.
 */

import { expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { type FileSystem, type Platform, Wal } from "../src/index.ts";
import { currentPlatform } from "../src/platform/index.ts";
import { nodeFileSystem } from "../src/store/file-system.ts";
import { SegmentImport } from "../src/store/segment-import.ts";
import { walErrorOf } from "./support/errors.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();
const S = 4096;

/** A source log over `S`-byte segments with a moved head, and its files' bytes. */
function sourceLog() {
  const path = logPath(dir, "source");
  const wal = Wal.open(path, { segmentSize: S });
  const lsns = Array.from({ length: 12 }, (_, i) => wal.append(new Uint8Array(700).fill(i)));
  wal.sync();
  const head = wal.truncateBefore(lsns[7]!);
  wal.close();
  const segments = readdirSync(path)
    .filter((name) => name.endsWith(".wal"))
    .map((name) => ({ index: Number(name.slice(0, 20)), bytes: readFileSync(join(path, name)) }));
  return { head, lsns, segments };
}

const siblings = (target: string) =>
  readdirSync(dirname(target)).filter((name) => name.includes("restoring"));

test("a log written in pieces, moved into place, opens with the source's head and records", () => {
  const { head, lsns, segments } = sourceLog();
  const target = logPath(dir, "target");
  const restore = SegmentImport.begin(target);
  restore.writeHead(head);
  for (const { index, bytes } of segments) {
    // In two pieces, as a sealed segment and a partial after it would arrive.
    restore.write(index, 0, bytes.subarray(0, 1000));
    restore.write(index, 1000, bytes.subarray(1000));
  }
  expect(existsSync(target)).toBe(false);
  expect(restore.finish()).toBe(target);
  expect(siblings(target)).toEqual([]);
  using wal = Wal.open(target);
  expect(wal.head).toBe(head);
  expect([...wal.iter()].map((record) => record.lsn)).toEqual(lsns.slice(7));
});

test("an empty target directory is replaced by the log", () => {
  const { head, segments } = sourceLog();
  const target = logPath(dir, "empty");
  mkdirSync(target);
  const restore = SegmentImport.begin(target);
  restore.writeHead(head);
  for (const { index, bytes } of segments) restore.write(index, 0, bytes);
  restore.finish();
  using wal = Wal.open(target);
  expect(wal.head).toBe(head);
});

test("a target that holds anything, or is a file, is refused, unchanged; a missing parent is NOT_FOUND", () => {
  const full = logPath(dir, "full");
  mkdirSync(full);
  writeFileSync(join(full, "keep.txt"), "mine");
  const refused = walErrorOf(() => SegmentImport.begin(full));
  expect(refused.code).toBe("INVALID_ARGUMENT");
  expect(refused.message).toContain("holds 1 entry");
  expect(readdirSync(full)).toEqual(["keep.txt"]);
  expect(siblings(full)).toEqual([]);

  const file = logPath(dir, "file");
  writeFileSync(file, "a file");
  expect(walErrorOf(() => SegmentImport.begin(file)).message).toContain("is a file");
  expect(readFileSync(file, "utf8")).toBe("a file");

  expect(walErrorOf(() => SegmentImport.begin(join(dir, "no", "such", "log"))).code).toBe(
    "NOT_FOUND",
  );
});

test("a target filled while the import ran is refused at finish, and left as it is", () => {
  const target = logPath(dir, "raced");
  const restore = SegmentImport.begin(target);
  restore.write(0, 0, new Uint8Array(10));
  mkdirSync(target);
  writeFileSync(join(target, "theirs"), "x");
  expect(walErrorOf(() => restore.finish()).code).toBe("INVALID_ARGUMENT");
  expect(readdirSync(target)).toEqual(["theirs"]);
  restore.abandon();
  expect(siblings(target)).toEqual([]);
});

test("an abandoned import leaves nothing behind", () => {
  const target = logPath(dir, "abandoned");
  const restore = SegmentImport.begin(target);
  restore.writeHead(0);
  restore.write(0, 0, new Uint8Array(100));
  restore.abandon();
  restore.abandon();
  expect(existsSync(target)).toBe(false);
  expect(siblings(target)).toEqual([]);
});

test("each file is synced once, on the descriptor that wrote it, after its last write and before its close; the directory before the rename, the parent after", () => {
  const events: string[] = [];
  const names = new Map<number, string>();
  const name = (path: string) =>
    path
      .split("/")
      .at(-1)!
      .replace(/^\..*restoring-.*$/, "<import>");
  const fileSystem: FileSystem = {
    ...nodeFileSystem,
    openSync(path, flags, mode) {
      const fd = nodeFileSystem.openSync(path, flags, mode);
      names.set(fd, name(path));
      events.push(`open ${name(path)}`);
      return fd;
    },
    writeSync(fd, buffer, offset, length, position) {
      events.push(`write ${names.get(fd)}`);
      return nodeFileSystem.writeSync(fd, buffer, offset, length, position);
    },
    closeSync(fd) {
      events.push(`close ${names.get(fd)}`);
      nodeFileSystem.closeSync(fd);
    },
    renameSync(from, to) {
      events.push(`rename ${name(from)}`);
      nodeFileSystem.renameSync(from, to);
    },
  };
  const real = currentPlatform();
  const platform: Platform = {
    ...real,
    barrier(fd, target, strength) {
      events.push(`barrier ${names.get(fd)}`);
      return real.barrier(fd, target, strength);
    },
    syncDirectory(path, strength) {
      events.push(`sync-dir ${name(path)}`);
      return real.syncDirectory(path, strength);
    },
  };
  const target = logPath(dir, "ordered");
  const restore = SegmentImport.begin(target, { platform, fileSystem });
  restore.writeHead(4096);
  restore.write(1, 0, new Uint8Array(4096));
  restore.write(2, 0, new Uint8Array(100));
  restore.write(2, 100, new Uint8Array(50));
  restore.finish();
  const first = "00000000000000000001.wal";
  const second = "00000000000000000002.wal";
  expect(events).toEqual([
    "open head",
    "write head",
    "barrier head",
    "close head",
    `open ${first}`,
    `write ${first}`,
    `barrier ${first}`,
    `close ${first}`,
    `open ${second}`,
    `write ${second}`,
    `write ${second}`,
    `barrier ${second}`,
    `close ${second}`,
    "sync-dir <import>",
    "rename <import>",
    `sync-dir ${dirname(target).split("/").at(-1)}`,
  ]);
});
