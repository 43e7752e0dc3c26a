/**
 * The archiver (src/archive/archiver.ts, `Wal.archive`) against the s3rver the tests start on
 * 127.0.0.1, directly or through the fault proxy: what it uploads and when, that nothing past
 * the durable LSN leaves, retention that keeps what is not uploaded, faults that delay it but
 * never advance `archivedLsn` or touch the log, a restart that neither duplicates nor skips, an
 * archive of another log refused, and cuts of an archived log. Every check ends in a restore.
 */

import { expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { openBucket } from "../src/archive/bucket.ts";
import { parseArchiveKey } from "../src/archive/layout.ts";
import { MemoryStore, Wal, type WalRecord } from "../src/index.ts";
import { HEADER_SIZE } from "../src/record.ts";
import { walErrorOf, walRejectionOf } from "./support/errors.ts";
import { CREDENTIALS as credentials, useLocalS3 } from "./support/s3.ts";
import { logPath, tempDir } from "./support/temp.ts";

const server = useLocalS3();
const dir = tempDir();
const S = 4096;
let prefixes = 0;

const freshUrl = () => `s3://${server.s3.bucket}/archiver-${++prefixes}`;
const direct = () => ({ endpoint: server.s3.endpoint, ...credentials });
const viaProxy = (requestTimeout = 300) => ({
  endpoint: server.proxy.endpoint,
  ...credentials,
  requestTimeout,
});
const listing = (url: string) => openBucket(url, direct()).list();
const recordsOf = (wal: { iter(): Iterable<WalRecord> }) =>
  [...wal.iter()].map(({ lsn, data }) => ({ lsn, data: data.slice() }));
const payload = (i: number) =>
  Uint8Array.from({ length: (i * 379) % 1500 }, (_, j) => (i * 7 + j) & 0xff);

/** Restores `url` into a new directory and returns its records (and the log's head). */
async function restored(url: string, untilLsn?: number) {
  const to = logPath(dir, "restored");
  const until = untilLsn === undefined ? {} : { untilLsn };
  const { segmentSize } = await Wal.restore({ from: url, to, ...until, ...direct() });
  // A restored log of one segment cannot show its size: the report gives it.
  using wal = Wal.open(to, { segmentSize });
  return { head: wal.head, records: recordsOf(wal) };
}

function segmentedLog(name = "log") {
  return Wal.open(logPath(dir, name), { segmentSize: S });
}

test("a flush uploads every sealed segment, the active one's durable part and the head, and a restore gives the log back", async () => {
  const url = freshUrl();
  using wal = segmentedLog();
  const told: number[] = [];
  await using archiver = await wal.archive({
    to: url,
    interval: 60_000,
    ...direct(),
    onArchived: (lsn) => told.push(lsn),
  });
  for (let i = 0; i < 30; i++) wal.append(payload(i));
  wal.sync();
  wal.truncateBefore([...wal.iter()][4]!.lsn);
  expect(await archiver.flush()).toBe(wal.len);
  expect(archiver.archivedLsn).toBe(wal.len);
  expect(told.at(-1)).toBe(wal.len);
  expect(told).toEqual([...told].sort((a, b) => a - b));
  const kinds = (await listing(url)).map(({ key }) => parseArchiveKey(key)?.kind);
  expect(kinds).toContain("meta");
  expect(kinds).toContain("segment");
  expect(kinds).toContain("head");
  expect(await restored(url)).toEqual({ head: wal.head, records: recordsOf(wal) });
});

/** The last record end at or below `lsn` in `wal` (records span segments freely). */
const lastRecordEndBelow = (wal: Wal, lsn: number) =>
  Math.max(
    0,
    ...[...wal.iter()].map((r) => r.lsn + HEADER_SIZE + r.data.length).filter((e) => e <= lsn),
  );

/** Waits (10 s at most) until the archiver's `archivedLsn` reaches `lsn`, without a flush. */
async function archivedTo(archiver: { readonly archivedLsn: number }, lsn: number) {
  for (let waited = 0; archiver.archivedLsn < lsn && waited < 10_000; waited += 20) {
    await Bun.sleep(20);
  }
}

test("archivedLsn moves as each sealed segment lands, to the last record end in it", async () => {
  using wal = segmentedLog();
  const told: number[] = [];
  await using archiver = await wal.archive({
    to: freshUrl(),
    interval: 60_000,
    ...direct(),
    onArchived: (lsn) => told.push(lsn),
  });
  await archiver.flush();
  for (let i = 0; i < 40; i++) wal.append(payload(i));
  wal.sync();
  const sealed = Math.floor(wal.len / S);
  expect(sealed).toBeGreaterThan(3);
  expect(await archiver.flush()).toBe(wal.len);
  // Never at a segment's end that cuts a record: at the last record end before it.
  const expected = [
    ...new Set(Array.from({ length: sealed }, (_, k) => lastRecordEndBelow(wal, (k + 1) * S))),
  ].filter((end) => end > 0);
  expect(told).toEqual([...expected, wal.len]);
});

test("a sealed segment goes as soon as it is durable, the active one's part at the interval", async () => {
  using wal = segmentedLog();
  await using archiver = await wal.archive({ to: freshUrl(), interval: 60_000, ...direct() });
  await archiver.flush();
  for (let i = 0; i < 20; i++) wal.append(payload(i));
  wal.sync();
  const sealedEnd = Math.floor(wal.len / S) * S;
  expect(sealedEnd).toBeGreaterThan(0);
  const expected = lastRecordEndBelow(wal, sealedEnd);
  // No flush: the archiver's own look for sealed segments uploads them, long before 60 s.
  await archivedTo(archiver, expected);
  expect(archiver.archivedLsn).toBe(expected);
  expect(archiver.archivedLsn).toBeLessThan(wal.len);
  const kinds = (await listing(archiver.url)).map(({ key }) => parseArchiveKey(key)?.kind);
  expect(kinds).not.toContain("partial");
  expect(await archiver.flush()).toBe(wal.len);
});

test("an archiver restarted on an archive that ends in a sealed segment starts at the last record end in it", async () => {
  const url = freshUrl();
  using wal = segmentedLog();
  const first = await wal.archive({ to: url, interval: 60_000, ...direct() });
  await first.flush();
  for (let i = 0; i < 20; i++) wal.append(payload(i));
  wal.sync();
  const sealedEnd = Math.floor(wal.len / S) * S;
  const expected = lastRecordEndBelow(wal, sealedEnd);
  // The segment's end cuts a record: the archive holds its start, not its end.
  expect(expected).toBeLessThan(sealedEnd);
  await archivedTo(first, expected);
  await first.close();
  const kinds = (await listing(url)).map(({ key }) => parseArchiveKey(key)?.kind);
  expect(kinds).not.toContain("partial");
  await using second = await wal.archive({ to: url, interval: 60_000, ...direct() });
  expect(second.archivedLsn).toBe(expected);
  expect(await second.flush()).toBe(wal.len);
  expect(await restored(url)).toEqual({ head: wal.head, records: recordsOf(wal) });
});

test("nothing past the durable LSN leaves the machine", async () => {
  const url = freshUrl();
  using wal = segmentedLog();
  await using archiver = await wal.archive({ to: url, interval: 60_000, ...direct() });
  for (let i = 0; i < 10; i++) wal.append(payload(i));
  wal.sync();
  const durable = wal.len;
  wal.append("appended, never synced");
  expect(await archiver.flush()).toBe(durable);
  const back = await restored(url);
  expect(back.records.map((r) => r.lsn)).toEqual(
    recordsOf(wal)
      .filter((r) => r.lsn < durable)
      .map((r) => r.lsn),
  );
  const newest = Math.max(
    ...(await listing(url)).map(({ key }) => {
      const parsed = parseArchiveKey(key);
      return parsed?.kind === "partial"
        ? parsed.end
        : parsed?.kind === "segment"
          ? (parsed.index + 1) * S
          : 0;
    }),
  );
  expect(newest).toBeLessThanOrEqual(durable);
});

test("a single-file or memory log is refused: archiving needs segments", async () => {
  using file = Wal.open(logPath(dir, "single.wal"));
  const error = await walRejectionOf(file.archive({ to: freshUrl(), ...direct() }));
  expect(error.code).toBe("INVALID_ARGUMENT");
  expect(error.message).toContain("archiving needs a segmented log");
  using memory = Wal.withStore(new MemoryStore());
  expect((await walRejectionOf(memory.archive({ to: freshUrl(), ...direct() }))).code).toBe(
    "INVALID_ARGUMENT",
  );
  using wal = segmentedLog();
  await using _first = await wal.archive({ to: freshUrl(), interval: 60_000, ...direct() });
  const second = await walRejectionOf(wal.archive({ to: freshUrl(), ...direct() }));
  expect(second.message).toContain("already has an archiver");
});

test("while uploads fail, truncateBefore keeps every segment not archived, and the archive's next cycle releases them", async () => {
  const url = freshUrl();
  const path = logPath(dir, "held");
  using wal = Wal.open(path, { segmentSize: S });
  await using archiver = await wal.archive({ to: url, interval: 60_000, ...viaProxy() });
  await archiver.flush();
  for (let i = 0; i < 40; i++) wal.append(payload(i));
  wal.sync();
  const segmentsBefore = readdirSync(path)
    .filter((name) => name.endsWith(".wal"))
    .sort();
  server.proxy.inject({ kind: "status", status: 500 });
  const failed = await walRejectionOf(archiver.flush());
  expect(failed.code).toBe("ARCHIVE");
  expect(archiver.lastError?.code).toBe("ARCHIVE");
  expect(archiver.archivedLsn).toBeLessThan(wal.len);
  // The log goes on: a checkpoint moves the head, and appends and commits work.
  const last = [...wal.iter()].at(-1)!.lsn;
  wal.truncateBefore(last);
  expect(wal.head).toBe(last);
  expect(
    readdirSync(path)
      .filter((name) => name.endsWith(".wal"))
      .sort(),
  ).toEqual(segmentsBefore);
  await wal.commit("committed while the archive fails");
  await archiver.flush();
  expect(archiver.lastError).toBeUndefined();
  const kept = readdirSync(path).filter((name) => name.endsWith(".wal"));
  expect(kept.length).toBeLessThan(segmentsBefore.length);
  expect(await restored(url)).toEqual({ head: wal.head, records: recordsOf(wal) });
});

for (const fault of [
  { kind: "status", status: 500 },
  { kind: "status", status: 503 },
  { kind: "drop", bytes: 0 },
  { kind: "stall" },
] as const) {
  test(`a ${fault.kind}${"status" in fault ? ` ${fault.status}` : ""} fault never advances archivedLsn, and a later cycle archives everything`, async () => {
    const url = freshUrl();
    using wal = segmentedLog();
    const errors: string[] = [];
    await using archiver = await wal.archive({
      to: url,
      interval: 60_000,
      ...viaProxy(),
      onError: (error) => errors.push(error.code),
    });
    await archiver.flush();
    const before = archiver.archivedLsn;
    // Small records, inside the active segment: no sealed segment goes before the flush, so
    // the fault hits the flush's own upload.
    for (let i = 0; i < 12; i++) await wal.commit(payload(i).subarray(0, 100));
    // Bun's client sends a request again, once, when a reused connection drops: twice, it fails.
    server.proxy.inject(fault, fault.kind === "drop" ? 2 : 1);
    let settled = false;
    const flushing = walRejectionOf(archiver.flush()).finally(() => {
      settled = true;
    });
    if (fault.kind === "stall") {
      // While the upload hangs, a commit is durable at once: it never waits for the archive.
      await wal.commit("while the upload hangs");
      expect(settled).toBe(false);
    }
    const error = await flushing;
    if (fault.kind === "stall") server.proxy.release();
    expect(error.code).toBe("ARCHIVE");
    expect(errors).toEqual(["ARCHIVE"]);
    expect(archiver.archivedLsn).toBe(before);
    // Appends, commits and syncs never wait for the archive.
    await wal.commit("after the fault");
    wal.appendAndSync("and another");
    expect(await archiver.flush()).toBe(wal.len);
    expect(await restored(url)).toEqual({ head: wal.head, records: recordsOf(wal) });
  });
}

test("a restarted archiver continues where the archive ends: no object twice, no byte skipped", async () => {
  const url = freshUrl();
  using wal = segmentedLog();
  const first = await wal.archive({ to: url, interval: 60_000, ...direct() });
  for (let i = 0; i < 9; i++) await wal.commit(payload(i));
  await first.flush();
  await first.close();
  for (let i = 9; i < 30; i++) await wal.commit(payload(i));
  const before = new Set((await listing(url)).map(({ key }) => key));
  const putsBefore = server.proxy.requests.PUT ?? 0;
  await using second = await wal.archive({ to: url, interval: 60_000, ...viaProxy(10_000) });
  expect(second.archivedLsn).toBe(first.archivedLsn);
  expect(await second.flush()).toBe(wal.len);
  const after = await listing(url);
  // Every PUT made a new object: nothing the archive held was sent again.
  const added = after.filter(({ key }) => !before.has(key));
  expect(added.length).toBeGreaterThan(0);
  expect((server.proxy.requests.PUT ?? 0) - putsBefore).toBe(added.length);
  const keys = after.map(({ key }) => parseArchiveKey(key)!);
  const indices = keys.flatMap((k) => (k.kind === "segment" ? [k.index] : []));
  expect(new Set(indices).size).toBe(indices.length);
  // The partials left are the active segment's, one chain: each starts where one ended.
  const partials = keys.flatMap((k) => (k.kind === "partial" ? [k] : []));
  for (const p of partials) expect(Math.floor(p.start / S)).toBe(Math.floor((wal.len - 1) / S));
  expect(await restored(url)).toEqual({ head: wal.head, records: recordsOf(wal) });
});

test("a prefix holding another log's archive is ARCHIVE_MISMATCH, with nothing in it changed", async () => {
  const url = freshUrl();
  {
    using one = segmentedLog("one");
    for (let i = 0; i < 12; i++) one.append(payload(i));
    one.sync();
    await using archiver = await one.archive({ to: url, interval: 60_000, ...direct() });
    await archiver.flush();
  }
  const before = await listing(url);
  using other = segmentedLog("other");
  for (let i = 0; i < 12; i++) other.append(payload(i + 1));
  other.sync();
  const error = await walRejectionOf(other.archive({ to: url, ...direct() }));
  expect(error.code).toBe("ARCHIVE_MISMATCH");
  expect(error.message).toContain("not this log's");
  // A shorter log than its archive is refused too: the archive holds records it lost.
  using short = segmentedLog("short");
  short.appendAndSync("one record");
  expect((await walRejectionOf(short.archive({ to: url, ...direct() }))).code).toBe(
    "ARCHIVE_MISMATCH",
  );
  expect(await listing(url)).toEqual(before);
  // A retention kept for the refused archiver is released: the log's own truncateBefore works.
  expect(other.truncateBefore(other.len)).toBe(other.len);
});

test("truncateAfter below what the archive holds is refused; the archiver's cuts the archive first", async () => {
  const url = freshUrl();
  using wal = segmentedLog();
  const told: number[] = [];
  await using archiver = await wal.archive({
    to: url,
    interval: 60_000,
    ...direct(),
    onArchived: (lsn) => told.push(lsn),
  });
  const lsns: number[] = [];
  for (let i = 0; i < 30; i++) lsns.push(await wal.commit(payload(i)));
  await archiver.flush();
  const end = wal.len;
  const refused = walErrorOf(() => wal.truncateAfter(lsns[5]!));
  expect(refused.code).toBe("INVALID_ARGUMENT");
  expect(refused.message).toContain("archiver's truncateAfter");
  expect(wal.len).toBe(end);
  await archiver.truncateAfter(lsns[5]!);
  expect(wal.len).toBe(lsns[6]!);
  expect(archiver.archivedLsn).toBeLessThanOrEqual(lsns[6]!);
  // The one move back of archivedLsn is reported too.
  expect(told.at(-1)).toBe(archiver.archivedLsn);
  // A new history from the cut on, archived and restored as it now is.
  for (let i = 100; i < 110; i++) await wal.commit(payload(i));
  expect(await archiver.flush()).toBe(wal.len);
  expect(await restored(url)).toEqual({ head: wal.head, records: recordsOf(wal) });
});

test("after a cut the archive ends at a sealed segment's end: archivedLsn is the last record end before it", async () => {
  using wal = segmentedLog();
  await using archiver = await wal.archive({ to: freshUrl(), interval: 60_000, ...direct() });
  const lsns: number[] = [];
  for (let i = 0; i < 40; i++) lsns.push(wal.append(payload(i)));
  wal.sync();
  await archiver.flush();
  // A record inside the segment before the last: that sealed segment and everything after go.
  const lastSealed = Math.floor(wal.len / S) - 1;
  const inside = lsns.find((lsn) => Math.floor(lsn / S) === lastSealed && lsn > lastSealed * S)!;
  expect(inside).toBeDefined();
  const left = lastSealed * S;
  const expected = lastRecordEndBelow(wal, left);
  expect(expected).toBeLessThan(left);
  await archiver.truncateAfter(inside);
  expect(archiver.archivedLsn).toBe(expected);
  expect(await archiver.flush()).toBe(wal.len);
  expect(await restored(archiver.url)).toEqual({ head: wal.head, records: recordsOf(wal) });
});

test("an archiver started after the log dropped what the archive lacks restarts the archive at the head", async () => {
  const url = freshUrl();
  using wal = segmentedLog();
  const first = await wal.archive({ to: url, interval: 60_000, ...direct() });
  for (let i = 0; i < 5; i++) await wal.commit(payload(i));
  await first.flush();
  await first.close();
  for (let i = 5; i < 40; i++) await wal.commit(payload(i));
  const head = wal.truncateBefore([...wal.iter()].at(-3)!.lsn);
  await using second = await wal.archive({ to: url, interval: 60_000, ...direct() });
  expect(await second.flush()).toBe(wal.len);
  expect(await restored(url)).toEqual({ head, records: recordsOf(wal) });
});

test("closing the log stops its archiver: a flush then is CLOSED", async () => {
  const wal = segmentedLog();
  const archiver = await wal.archive({ to: freshUrl(), interval: 60_000, ...direct() });
  wal.appendAndSync("x");
  await archiver.flush();
  wal.close();
  expect((await walRejectionOf(archiver.flush())).code).toBe("CLOSED");
  await archiver.close();
  expect(existsSync(join(wal.path, "LOCK"))).toBe(true);
});
