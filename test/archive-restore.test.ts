/**
 * Restoring from an archive (src/archive/restore.ts) against the s3rver the tests start on
 * 127.0.0.1. The archives here are uploaded by the test from a real log's files, in the layout
 * of src/archive/layout.ts, so the restore is checked on its own: byte-exact records, a point in
 * time, and every damaged, missing or cut-short object a typed error that names it, with the
 * target left as it was.
 */

import { expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { type ArchiveBucket, openBucket } from "../src/archive/bucket.ts";
import { ARCHIVE_FORMAT, archiveKeys } from "../src/archive/layout.ts";
import { restoreArchive } from "../src/archive/restore.ts";
import { crc32c } from "../src/crc32c.ts";
import { Wal, WalError } from "../src/index.ts";
import { walRejectionOf } from "./support/errors.ts";
import { CREDENTIALS as credentials, useLocalS3 } from "./support/s3.ts";
import { logPath, tempDir } from "./support/temp.ts";

const server = useLocalS3();

const dir = tempDir();
const S = 4096;
let prefixes = 0;

interface Source {
  readonly url: string;
  readonly bucket: ArchiveBucket;
  readonly records: { lsn: number; data: Uint8Array<ArrayBuffer> }[];
  readonly head: number;
  readonly end: number;
}

/**
 * A log of `count` records (sizes 0 to 2 KiB) over 4 KiB segments with its head at record
 * `headAt`, archived by hand: log.json, every segment but the last sealed, the last one as two
 * partials, and the head.
 */
async function archivedLog(count = 40, headAt = 5): Promise<Source> {
  const path = logPath(dir, "source");
  const wal = Wal.open(path, { segmentSize: S });
  const lsns = Array.from({ length: count }, (_, i) =>
    wal.append(Uint8Array.from({ length: (i * 373) % 2048 }, (_, j) => (i + j) & 0xff)),
  );
  wal.sync();
  const head = wal.truncateBefore(lsns[headAt]!);
  const end = wal.len;
  const records = [...wal.iter()].map(({ lsn, data }) => ({ lsn, data: data.slice() }));
  wal.close();
  const url = `s3://${server.s3.bucket}/restore-${++prefixes}`;
  const bucket = openBucket(url, { endpoint: server.s3.endpoint, ...credentials });
  await bucket.put(
    archiveKeys.meta,
    new TextEncoder().encode(JSON.stringify({ format: ARCHIVE_FORMAT, segmentSize: S })),
  );
  const names = readdirSync(path)
    .filter((name) => name.endsWith(".wal"))
    .sort();
  for (const name of names) {
    const index = Number(name.slice(0, 20));
    const bytes = new Uint8Array(readFileSync(join(path, name)));
    if (name !== names.at(-1)) {
      await bucket.put(archiveKeys.segment(index, crc32c(bytes)), bytes);
      continue;
    }
    // The active segment as two partials, split at a record's end.
    const start = index * S;
    const middle = records.filter((r) => r.lsn > start).at(0)?.lsn ?? end;
    const split = Math.min(Math.max(middle, start + 1), end);
    for (const [from, to] of [
      [start, split],
      [split, end],
    ] as const) {
      if (to <= from) continue;
      const piece = bytes.subarray(from - start, to - start);
      await bucket.put(archiveKeys.partial(from, to, crc32c(piece)), piece);
    }
  }
  await bucket.put(archiveKeys.head(head), new Uint8Array(0));
  return { url, bucket, records, head, end };
}

const leftovers = (target: string) =>
  readdirSync(dirname(target)).filter((name) => name.includes("restoring"));

test("a restore brings back every record from the head, byte-exact, as a log Wal.open reads", async () => {
  const source = await archivedLog();
  const to = logPath(dir, "restored");
  const progress: number[] = [];
  const report = await restoreArchive({
    from: source.url,
    to,
    endpoint: server.s3.endpoint,
    ...credentials,
    onProgress: (done) => progress.push(done),
  });
  expect(report).toMatchObject({ segmentSize: S, head: source.head, end: source.end });
  expect(progress.length).toBe(report.objects);
  expect(progress.at(-1)).toBe(report.bytes);
  using wal = Wal.open(to);
  expect(wal.head).toBe(source.head);
  expect(wal.recovery.bytesDropped).toBe(0);
  expect([...wal.iter()].map(({ lsn, data }) => ({ lsn, data: data.slice() }))).toEqual(
    source.records,
  );
});

test("with untilLsn, exactly the records below it come back", async () => {
  const source = await archivedLog();
  for (const cutAt of [source.records[3]!, source.records[17]!, source.records.at(-1)!]) {
    const to = logPath(dir, "until");
    const report = await restoreArchive({
      from: source.url,
      to,
      untilLsn: cutAt.lsn,
      endpoint: server.s3.endpoint,
      ...credentials,
    });
    expect(report.end).toBe(cutAt.lsn);
    using wal = Wal.open(to);
    expect([...wal.iter()].map((r) => r.lsn)).toEqual(
      source.records.filter((r) => r.lsn < cutAt.lsn).map((r) => r.lsn),
    );
  }
  // A point inside a record keeps only the records that end at or below it.
  const inside = source.records[10]!.lsn + 3;
  const to = logPath(dir, "inside");
  await restoreArchive({
    from: source.url,
    to,
    untilLsn: inside,
    endpoint: server.s3.endpoint,
    ...credentials,
  });
  using wal = Wal.open(to);
  expect(wal.len).toBe(source.records[10]!.lsn);
});

test("a flipped bit in an object is CORRUPTION naming it, and the target is left as it was", async () => {
  const source = await archivedLog();
  const listed = await source.bucket.list();
  const victim = listed.find((object) => object.key.startsWith("segments/"))!;
  const bytes = await source.bucket.get(victim.key, victim.size);
  bytes[100]! ^= 0x10;
  await source.bucket.put(victim.key, bytes);
  const to = logPath(dir, "flipped");
  const error = await walRejectionOf(
    restoreArchive({ from: source.url, to, endpoint: server.s3.endpoint, ...credentials }),
  );
  expect(error.code).toBe("CORRUPTION");
  expect(error.message).toContain(victim.key);
  expect(existsSync(to)).toBe(false);
  expect(leftovers(to)).toEqual([]);
});

test("a damaged record in an object whose CRC matches (damaged before upload) is CORRUPTION naming it", async () => {
  const source = await archivedLog();
  const segments = (await source.bucket.list()).filter((object) =>
    object.key.startsWith("segments/"),
  );
  const victim = segments.at(-1)!;
  const bytes = await source.bucket.get(victim.key, victim.size);
  bytes[S - 10]! ^= 0x01;
  await source.bucket.delete(victim.key);
  const index = Number(victim.key.slice("segments/".length, "segments/".length + 20));
  const forged = archiveKeys.segment(index, crc32c(bytes));
  await source.bucket.put(forged, bytes);
  const to = logPath(dir, "forged");
  const error = await walRejectionOf(
    restoreArchive({ from: source.url, to, endpoint: server.s3.endpoint, ...credentials }),
  );
  expect(error.code).toBe("CORRUPTION");
  expect(error.message).toContain("holds no valid record at LSN");
  expect(existsSync(to)).toBe(false);
  expect(leftovers(to)).toEqual([]);
});

test("a missing segment is CORRUPTION naming it, never a shorter log", async () => {
  const source = await archivedLog();
  const segments = (await source.bucket.list()).filter((object) =>
    object.key.startsWith("segments/"),
  );
  expect(segments.length).toBeGreaterThan(2);
  await source.bucket.delete(segments[1]!.key);
  const to = logPath(dir, "gap");
  const error = await walRejectionOf(
    restoreArchive({ from: source.url, to, endpoint: server.s3.endpoint, ...credentials }),
  );
  expect(error.code).toBe("CORRUPTION");
  expect(error.message).toContain(segments[1]!.key.slice(0, "segments/".length + 20));
  expect(existsSync(to)).toBe(false);
});

test("a body cut short on the wire is ARCHIVE, and nothing is written", async () => {
  const source = await archivedLog();
  const to = logPath(dir, "short");
  const through = { from: source.url, to, endpoint: server.proxy.endpoint, ...credentials };
  // The faults apply in request order: the listing and log.json pass whole (a "cut" past their
  // length), and the body of the first segment is cut at 100 bytes.
  server.proxy.inject({ kind: "truncate", bytes: 1_000_000 }, 2);
  server.proxy.inject({ kind: "truncate", bytes: 100 });
  const error = await walRejectionOf(restoreArchive(through));
  expect(error.code).toBe("ARCHIVE");
  expect(error.message).toContain("100 bytes arrived");
  expect(existsSync(to)).toBe(false);
  expect(leftovers(to)).toEqual([]);
});

test("downloads run ahead of the writes, at most four at once, and a failure is reported in key order", async () => {
  const source = await archivedLog(80, 0);
  let inFlight = 0;
  let most = 0;
  const segments = (await source.bucket.list())
    .map(({ key }) => key)
    .filter((key) => key.startsWith("segments/"));
  expect(segments.length).toBeGreaterThan(8);
  const failing = new Map<string, number>();
  const watched: ArchiveBucket = {
    ...source.bucket,
    async get(key, size) {
      inFlight++;
      most = Math.max(most, inFlight);
      try {
        const failsAfter = failing.get(key);
        if (failsAfter !== undefined) {
          await Bun.sleep(failsAfter);
          throw new WalError("ARCHIVE", `get ${key} failed`);
        }
        await Bun.sleep(5);
        return await source.bucket.get(key, size);
      } finally {
        inFlight--;
      }
    },
  };
  const options = (to: string) => ({ from: source.url, to, endpoint: server.s3.endpoint });
  const report = await restoreArchive(options(logPath(dir, "ahead")), watched);
  expect(report.end).toBe(source.end);
  expect(most).toBeGreaterThan(1);
  expect(most).toBeLessThanOrEqual(4);
  // The later object fails first; the earlier one's failure is the one the restore reports.
  failing.set(segments[2]!, 40);
  failing.set(segments[3]!, 0);
  const to = logPath(dir, "ahead-failed");
  const error = await walRejectionOf(restoreArchive(options(to), watched));
  expect(error.message).toBe(`get ${segments[2]} failed`);
  expect(existsSync(to)).toBe(false);
  expect(leftovers(to)).toEqual([]);
});

test("a target that holds anything is refused before anything is downloaded", async () => {
  const source = await archivedLog(8, 0);
  const to = logPath(dir, "occupied");
  await restoreArchive({ from: source.url, to, endpoint: server.s3.endpoint, ...credentials });
  const before = readdirSync(to).sort();
  const error = await walRejectionOf(
    restoreArchive({ from: source.url, to, endpoint: server.s3.endpoint, ...credentials }),
  );
  expect(error.code).toBe("INVALID_ARGUMENT");
  expect(readdirSync(to).sort()).toEqual(before);
});

test("a prefix with no archive is NOT_FOUND", async () => {
  const to = logPath(dir, "none");
  const error = await walRejectionOf(
    restoreArchive({
      from: `s3://${server.s3.bucket}/nothing-here`,
      to,
      endpoint: server.s3.endpoint,
      ...credentials,
    }),
  );
  expect(error.code).toBe("NOT_FOUND");
  expect(existsSync(to)).toBe(false);
});
