/**
 * Remote retention (src/archive/prune.ts, `Wal.pruneArchive`) against the s3rver the tests start
 * on 127.0.0.1: a prune cuts the archive at a head, deletes exactly what only older points need,
 * and leaves every later point restorable byte-exact, a restarted archiver able to go on, and an
 * archive `verify` calls clean, also when the prune is cut off halfway by a failing store.
 */

import { expect, test } from "bun:test";
import { openBucket } from "../src/archive/bucket.ts";
import { parseArchiveKey } from "../src/archive/layout.ts";
import { verifyArchive } from "../src/cli/verify-archive.ts";
import { Wal, type WalRecord } from "../src/index.ts";
import { walRejectionOf } from "./support/errors.ts";
import { CREDENTIALS as credentials, useLocalS3 } from "./support/s3.ts";
import { logPath, tempDir } from "./support/temp.ts";

const server = useLocalS3();
const dir = tempDir("wal-db-archive-prune-");
const S = 4096;
let prefixes = 0;

const direct = () => ({ endpoint: server.s3.endpoint, ...credentials });
const payload = (i: number) =>
  Uint8Array.from({ length: 100 + ((i * 379) % 1400) }, (_, j) => (i * 7 + j) & 0xff);
type Records = { lsn: number; data: Uint8Array }[];
const recordsOf = (wal: { iter(): Iterable<WalRecord> }): Records =>
  [...wal.iter()].map(({ lsn, data }) => ({ lsn, data: data.slice() }));
const endOf = (record: Records[number]) => record.lsn + 8 + record.data.length;

/** Restores `url` (to `untilLsn`) into a new directory and returns its records. */
async function restored(url: string, untilLsn?: number): Promise<Records> {
  const to = logPath(dir, "restored");
  const until = untilLsn === undefined ? {} : { untilLsn };
  const { segmentSize } = await Wal.restore({ from: url, to, ...until, ...direct() });
  using wal = Wal.open(to, { segmentSize });
  return recordsOf(wal);
}

/**
 * An archived log whose head moved twice while the archiver ran (two `head/<lsn>` objects),
 * with every record it ever held, and the two heads.
 */
async function archivedLog() {
  const url = `s3://${server.s3.bucket}/prune-${++prefixes}`;
  const wal = Wal.open(logPath(dir, "log"), { segmentSize: S });
  const archiver = await wal.archive({ to: url, interval: 60_000, ...direct() });
  const all: Records = [];
  const commit = async (count: number) => {
    for (let i = 0; i < count; i++) {
      const data = payload(all.length);
      all.push({ lsn: await wal.commit(data), data });
    }
    await archiver.flush();
  };
  await commit(30);
  const first = wal.truncateBefore(all[12]!.lsn);
  await commit(30);
  const second = wal.truncateBefore(all[40]!.lsn);
  await commit(10);
  expect(second).toBeGreaterThan(first);
  expect(Math.floor(first / S)).toBeGreaterThan(0);
  return { url, wal, archiver, all, heads: [first, second] as const };
}

const keysOf = async (url: string) => (await openBucket(url, direct()).list()).map((o) => o.key);

test("a prune cuts at the newest head at or below beforeLsn and deletes only what older points need", async () => {
  const { url, wal, archiver, all, heads } = await archivedLog();
  const [first, second] = heads;
  // Before the prune, a point below the first head restores from LSN 0 (the control).
  const early = all[5]!;
  expect(await restored(url, endOf(early))).toEqual(all.slice(0, 6));
  const keysBefore = await keysOf(url);

  const report = await Wal.pruneArchive({ from: url, beforeLsn: second - 1, ...direct() });
  expect(report.head).toBe(first);
  const keysAfter = await keysOf(url);
  const gone = keysBefore.filter((key) => !keysAfter.includes(key));
  expect(report.objects).toBe(gone.length);
  expect(gone.length).toBeGreaterThan(0);
  // Exactly the data objects that end at or below the start of the head's segment went.
  for (const key of keysBefore) {
    const parsed = parseArchiveKey(key);
    const end =
      parsed?.kind === "segment"
        ? (parsed.index + 1) * S
        : parsed?.kind === "partial"
          ? parsed.end
          : Number.POSITIVE_INFINITY;
    expect({ key, gone: gone.includes(key) }).toEqual({
      key,
      gone: end <= Math.floor(first / S) * S,
    });
  }

  // The newest point, and every point from the head on, restore as before.
  expect(await restored(url)).toEqual(recordsOf(wal));
  const between = all.find((record) => record.lsn > first && endOf(record) < second)!;
  expect(await restored(url, endOf(between))).toEqual(
    all.filter((record) => record.lsn >= first && endOf(record) <= endOf(between)),
  );
  // A point below the cut is refused, naming the oldest point left: never a shorter log.
  const refused = await walRejectionOf(restored(url, endOf(early)));
  expect(refused.code).toBe("INVALID_ARGUMENT");
  expect(refused.message).toContain(`its oldest point is LSN ${first}`);

  // verify calls it clean, with the pruned stretch unarchived, not missing.
  const verified = await verifyArchive(url, direct());
  expect(verified.problems).toEqual([]);
  expect(verified.unarchived).toEqual([{ from: 0, to: Math.floor(first / S) * S, head: first }]);
  expect(verified.restorable[0]!.from).toBe(first);

  // The archiver goes on, and after a restart too.
  await wal.commit(payload(1000));
  expect(await archiver.flush()).toBe(wal.len);
  await archiver.close();
  await wal.commit(payload(1001));
  await using again = await wal.archive({ to: url, interval: 60_000, ...direct() });
  expect(await again.flush()).toBe(wal.len);
  expect(await restored(url)).toEqual(recordsOf(wal));
  await again.close();
  wal.close();
});

test("a prune cut off by a failing store leaves an archive that restores and verifies clean; again, it finishes", async () => {
  const { url, wal, archiver, heads } = await archivedLog();
  await archiver.close();
  const keysBefore = (await keysOf(url)).length;
  const viaProxy = { endpoint: server.proxy.endpoint, ...credentials, requestTimeout: 1000 };
  // The listing, log.json, two deletes pass; the third delete fails.
  server.proxy.inject({ kind: "pass" }, 4);
  server.proxy.inject({ kind: "status", status: 500 });
  const failed = await walRejectionOf(
    Wal.pruneArchive({ from: url, beforeLsn: heads[1], ...viaProxy }),
  );
  expect(failed.code).toBe("ARCHIVE");
  const keysHalfway = (await keysOf(url)).length;
  expect(keysHalfway).toBe(keysBefore - 2);
  const verified = await verifyArchive(url, direct());
  expect(verified.problems).toEqual([]);
  expect(await restored(url)).toEqual(recordsOf(wal));
  const report = await Wal.pruneArchive({ from: url, beforeLsn: heads[1], ...direct() });
  expect(report.head).toBe(heads[1]);
  expect((await keysOf(url)).length).toBeLessThan(keysHalfway);
  expect((await verifyArchive(url, direct())).problems).toEqual([]);
  expect(await restored(url)).toEqual(recordsOf(wal));
  wal.close();
});

test("below every head a prune deletes nothing; bad options and a missing archive are typed", async () => {
  const { url, wal, archiver, heads } = await archivedLog();
  await archiver.close();
  const before = await keysOf(url);
  expect(await Wal.pruneArchive({ from: url, beforeLsn: heads[0] - 1, ...direct() })).toEqual({
    head: 0,
    objects: 0,
    bytes: 0,
  });
  expect(await keysOf(url)).toEqual(before);
  for (const beforeLsn of [-1, 1.5, "7", undefined]) {
    const error = await walRejectionOf(
      Wal.pruneArchive({ from: url, beforeLsn: beforeLsn as number, ...direct() }),
    );
    expect(error.code).toBe("INVALID_ARGUMENT");
  }
  const missing = `s3://${server.s3.bucket}/no-archive-here`;
  expect(
    (await walRejectionOf(Wal.pruneArchive({ from: missing, beforeLsn: 0, ...direct() }))).code,
  ).toBe("NOT_FOUND");
  expect(await keysOf(url)).toEqual(before);
  wal.close();
});
