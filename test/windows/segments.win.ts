/**
 * A segmented log on Windows: appends roll into new segment files, `truncateBefore` deletes the
 * ones wholly before a checkpoint (open files on Windows delete only if opened to allow it),
 * and a reopen starts at the new head. Run under Wine by run.ts.
 */

import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { Wal } from "../../src/index.ts";
import { logPath, tempDir } from "../support/temp.ts";

const dir = tempDir();
const SEGMENT_SIZE = 4096;
const text = (data: Uint8Array) => new TextDecoder().decode(data);
const segments = (path: string) => readdirSync(path).filter((name) => name.endsWith(".wal"));

test("a segmented log rolls, truncateBefore deletes the old segments, a reopen keeps the rest", () => {
  const path = logPath(dir, "segmented");
  const wal = Wal.open(path, { segmentSize: SEGMENT_SIZE });
  const lsns: number[] = [];
  for (let i = 0; i < 400; i++) lsns.push(wal.append(`segment record ${i} `.padEnd(40, ".")));
  wal.sync();
  expect(wal.stats().segmentsCreated).toBeGreaterThanOrEqual(3);
  const before = segments(path).length;
  const checkpoint = lsns[300] as number;
  const head = wal.truncateBefore(checkpoint);
  expect(head).toBeLessThanOrEqual(checkpoint);
  expect(wal.stats().segmentsDeleted).toBeGreaterThan(0);
  expect(segments(path).length).toBe(before - wal.stats().segmentsDeleted);
  wal.append("after the truncation");
  wal.sync();
  wal.close();

  const again = Wal.open(path, { segmentSize: SEGMENT_SIZE });
  expect(again.recovery.head).toBe(head);
  const records = [...again.iter()];
  again.close();
  expect(records[0]?.lsn).toBe(head);
  const texts = records.map(({ data }) => text(data));
  expect(texts.at(-1)).toBe("after the truncation");
  expect(texts).toContain(`segment record 300 `.padEnd(40, "."));
  expect(texts).not.toContain(`segment record 0 `.padEnd(40, "."));
});
