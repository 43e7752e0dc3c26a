/**
 * The archive hold (the segment table's `KEEP`, `SegmentedStore.archiveHold`): retention never
 * deletes a segment an archiver has not uploaded yet. `truncateBefore` moves the head durably
 * but keeps every segment from the hold on as a leftover below it, a roll in any thread keeps
 * the old newest segment, and a later call at the head deletes them once the hold has passed.
 * A reopen reads the log from its head, leftovers ignored.
 */

import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { SegmentedStore, Wal } from "../src/index.ts";
import { segmentName } from "../src/store/segment-layout.ts";
import { NO_HOLD } from "../src/store/segment-table.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();
const S = 4096;
/** A record of `size` payload bytes; a segment-sized frame takes 8 bytes of header off S. */
const record = (i: number, size = 1000) => new Uint8Array(size).fill(i & 0xff);
const WHOLE_SEGMENT = S - 8;

/** A log over `S`-byte segments through a store the test holds, with `count` records. */
function openWith(count: number, size?: number) {
  const path = logPath(dir, "hold");
  const store = SegmentedStore.open(path, S);
  const wal = Wal.withStore(store);
  const lsns = Array.from({ length: count }, (_, i) => wal.append(record(i, size)));
  wal.sync();
  return { path, store, wal, lsns };
}

const present = (path: string, index: number) => existsSync(join(path, segmentName(index)));

test("no hold by default: truncateBefore deletes the segments below the head's", () => {
  const { path, store, wal, lsns } = openWith(20);
  expect(store.archiveHold).toBe(NO_HOLD);
  wal.truncateBefore(lsns[13]!);
  const headSegment = Math.floor(lsns[13]! / S);
  expect(headSegment).toBeGreaterThan(2);
  for (let index = 0; index < headSegment; index++) expect(present(path, index)).toBe(false);
  wal.close();
});

test("truncateBefore keeps every segment from the hold on, and a call at the head deletes them once it passes", () => {
  const { path, store, wal, lsns } = openWith(20);
  const head = lsns[13]!;
  const headSegment = Math.floor(head / S);
  store.archiveHold = 1;
  expect(wal.truncateBefore(head)).toBe(head);
  expect(wal.head).toBe(head);
  expect(present(path, 0)).toBe(false);
  for (let index = 1; index < headSegment; index++) expect(present(path, index)).toBe(true);
  // The log is read from its head; the held segments below it are leftovers.
  expect([...wal.iter()].map((r) => r.lsn)).toEqual(lsns.slice(13));

  store.archiveHold = headSegment - 1;
  wal.truncateBefore(wal.head);
  for (let index = 1; index < headSegment - 1; index++) expect(present(path, index)).toBe(false);
  expect(present(path, headSegment - 1)).toBe(true);
  wal.close();

  // A reopen ignores the leftover and reads from the head.
  using reopened = Wal.open(path);
  expect(reopened.head).toBe(head);
  expect([...reopened.iter()].map((r) => r.lsn)).toEqual(lsns.slice(13));
  expect(present(path, headSegment - 1)).toBe(true);
});

test("a roll keeps the old newest segment below the head while it is held", () => {
  // Records of one segment each: the log ends at a segment's end.
  const { path, store, wal } = openWith(2, WHOLE_SEGMENT);
  const end = wal.len;
  expect(end).toBe(2 * S);
  const newest = 1;
  store.archiveHold = newest;
  // The head at the very end: the newest segment stays only for being the newest...
  wal.truncateBefore(end);
  // ...and the roll into the next one would delete it, but the archiver has not uploaded it.
  for (let i = 0; i < 6; i++) wal.append(record(i));
  wal.sync();
  expect(Math.floor((wal.len - 1) / S)).toBeGreaterThan(newest);
  expect(present(path, newest)).toBe(true);
  store.archiveHold = NO_HOLD;
  wal.truncateBefore(wal.head);
  expect(present(path, newest)).toBe(false);
  wal.close();
});

test("without the hold the same roll deletes it (the control)", () => {
  const { path, wal } = openWith(2, WHOLE_SEGMENT);
  const end = wal.len;
  const newest = 1;
  wal.truncateBefore(end);
  for (let i = 0; i < 6; i++) wal.append(record(i));
  wal.sync();
  expect(present(path, newest)).toBe(false);
  wal.close();
});
