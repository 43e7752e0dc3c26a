/**
 * The archive commands of `wal-db` (`restore`, `verify s3://...`, `archive`), run as a user runs
 * them: `bun src/cli/main.ts ...` in a child process against the s3rver the tests start on
 * 127.0.0.1, credentials in the environment. The archives for `restore` and `verify` are
 * uploaded by the test from a real log's files, in the layout of src/archive/layout.ts (as
 * test/archive-restore.test.ts does), so they do not depend on the archiver; then objects are
 * damaged or deleted one at a time and each must be named.
 */

import { expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type ArchiveBucket, openBucket } from "../src/archive/bucket.ts";
import { ARCHIVE_FORMAT, archiveKeys } from "../src/archive/layout.ts";
import { crc32c } from "../src/crc32c.ts";
import { Wal } from "../src/index.ts";
import { runScript } from "./support/child.ts";
import { CREDENTIALS as credentials, useLocalS3 } from "./support/s3.ts";
import { logPath, tempDir } from "./support/temp.ts";

const server = useLocalS3();
const MAIN = join(import.meta.dir, "..", "src", "cli", "main.ts");
const dir = tempDir("wal-db-cli-archive-");
const S = 4096;
let prefixes = 0;

/** The environment a user sets for the store: credentials only, the endpoint is a flag. */
const ENV = {
  S3_ACCESS_KEY_ID: credentials.accessKeyId,
  S3_SECRET_ACCESS_KEY: credentials.secretAccessKey,
  S3_REGION: credentials.region,
};

/** Runs `wal-db ...args --endpoint <s3rver>` to its end. */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runScript(MAIN, ENV, [...args, "--endpoint", server.s3.endpoint]);
}

type Records = { lsn: number; data: Uint8Array<ArrayBuffer> }[];

interface Source {
  readonly url: string;
  readonly bucket: ArchiveBucket;
  readonly records: Records;
  readonly head: number;
  readonly end: number;
}

const recordsOf = (path: string): Records => {
  using wal = Wal.openReadOnly(path);
  return [...wal.iter()].map(({ lsn, data }) => ({ lsn, data: data.slice() }));
};

/**
 * A log of `count` records (0 to 2 KiB) over 4 KiB segments with its head at record `headAt`,
 * archived by hand: log.json, every segment but the last sealed (segment 1 also as a
 * superseded partial, as the archiver leaves one until it deletes it), the last one as two
 * partials, and the head. Older segments below the head stay, as the archiver keeps them.
 */
async function archivedLog(count = 40, headAt = 20): Promise<Source> {
  const path = logPath(dir, "source");
  const wal = Wal.open(path, { segmentSize: S });
  const lsns = Array.from({ length: count }, (_, i) =>
    wal.append(Uint8Array.from({ length: (i * 373) % 2048 }, (_, j) => (i + j) & 0xff)),
  );
  wal.sync();
  // The files before the cut: the archiver uploaded the older segments before they were dropped.
  const files = new Map(
    readdirSync(path)
      .filter((name) => name.endsWith(".wal"))
      .map((name) => [name, new Uint8Array(readFileSync(join(path, name)))] as const),
  );
  const head = wal.truncateBefore(lsns[headAt]!);
  const end = wal.len;
  const records = [...wal.iter()].map(({ lsn, data }) => ({ lsn, data: data.slice() }));
  wal.close();
  const url = `s3://${server.s3.bucket}/cli-${++prefixes}`;
  const bucket = openBucket(url, { endpoint: server.s3.endpoint, ...credentials });
  await bucket.put(
    archiveKeys.meta,
    new TextEncoder().encode(JSON.stringify({ format: ARCHIVE_FORMAT, segmentSize: S })),
  );
  const names = [...files.keys()].sort();
  for (const name of names) {
    const index = Number(name.slice(0, 20));
    const bytes = files.get(name)!;
    if (name !== names.at(-1)) {
      await bucket.put(archiveKeys.segment(index, crc32c(bytes)), bytes);
      if (index === 1) {
        const prefix = bytes.subarray(0, 1000);
        await bucket.put(archiveKeys.partial(S, S + 1000, crc32c(prefix)), prefix);
      }
      continue;
    }
    const start = index * S;
    const split = Math.min(
      Math.max(records.find((r) => r.lsn > start)?.lsn ?? end, start + 1),
      end,
    );
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

/** Flips one bit of the object under `key`, in place: a store that rotted it. */
async function flipBit(bucket: ArchiveBucket, key: string): Promise<void> {
  const size = (await bucket.list()).find((object) => object.key === key)!.size;
  const bytes = await bucket.get(key, size);
  bytes[Math.floor(size / 2)]! ^= 0x04;
  await bucket.put(key, bytes);
}

const keysOf = async (bucket: ArchiveBucket, folder: string) =>
  (await bucket.list()).map((object) => object.key).filter((key) => key.startsWith(folder));

test("restore brings back every record byte-exact and prints one summary line", async () => {
  const source = await archivedLog();
  const to = logPath(dir, "restored");
  const run = await cli(["restore", source.url, to]);
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  const lines = run.stdout.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toStartWith(`restored ${source.url} to ${to}: `);
  expect(lines[0]).toMatch(/: \d+ objects, \d+ bytes, /);
  expect(lines[0]).toContain(`LSN ${source.head} to ${source.end}`);
  expect(source.head).toBeGreaterThan(S); // the head is past segment 0: older segments exist
  expect(recordsOf(to)).toEqual(source.records);
});

test("restore --until keeps exactly the records that end at or below it", async () => {
  const source = await archivedLog();
  const cut = source.records[9]!;
  const to = logPath(dir, "until");
  const run = await cli(["restore", source.url, to, "--until", String(cut.lsn + 3)]);
  expect(run.code).toBe(0);
  expect(run.stdout).toContain(`LSN ${source.head} to ${cut.lsn}`);
  expect(recordsOf(to)).toEqual(source.records.slice(0, 9));
});

test("restore into a directory that holds anything exits 2 and changes nothing", async () => {
  const source = await archivedLog(8, 0);
  const to = logPath(dir, "occupied");
  mkdirSync(to);
  writeFileSync(join(to, "keep.txt"), "mine");
  const run = await cli(["restore", source.url, to]);
  expect(run.code).toBe(2);
  expect(run.stderr).toStartWith("wal-db: restore: cannot restore into");
  expect(run.stderr.trimEnd().split("\n")).toHaveLength(1);
  expect(run.stdout).toBe("");
  expect(readdirSync(to)).toEqual(["keep.txt"]);
  expect(readFileSync(join(to, "keep.txt"), "utf8")).toBe("mine");
  expect(readdirSync(dir).filter((name) => name.includes("restoring"))).toEqual([]);
});

test("restore from a damaged archive exits 1 naming the object; nothing is left", async () => {
  const source = await archivedLog();
  const victim = (await keysOf(source.bucket, "partial/")).at(-1)!;
  await flipBit(source.bucket, victim);
  const to = logPath(dir, "damaged");
  const run = await cli(["restore", source.url, to]);
  expect(run.code).toBe(1);
  expect(run.stderr).toContain(victim);
  expect(existsSync(to)).toBe(false);
});

test("restore from a prefix with no archive exits 3", async () => {
  const run = await cli(["restore", `s3://${server.s3.bucket}/nothing-here`, logPath(dir)]);
  expect(run.code).toBe(3);
  expect(run.stderr).toContain("holds no wal-db archive");
});

test.each([
  [
    ["restore", "http://bucket/x", "out"],
    "wal-db: restore: an archive is an s3://bucket/prefix URL",
  ],
  [["restore", "s3://wal"], "wal-db: restore: missing <dir>"],
  [["restore", "s3://wal/x", "out", "--until", "-1"], "wal-db: restore: --until takes an LSN"],
  [
    ["verify", "s3://wal/x", "--segment-size", "4k"],
    "wal-db: verify: --segment-size is for a local log",
  ],
  [["archive", "some-dir"], "wal-db: archive: missing --to s3://bucket/prefix"],
  [
    ["archive", "some-dir", "--to", "bucket/x"],
    "wal-db: archive: an archive is an s3://bucket/prefix URL",
  ],
  [
    ["archive", "some-dir", "--to", "s3://wal/x", "--interval", "0"],
    "wal-db: archive: --interval takes milliseconds",
  ],
])("bad arguments %j exit 2 with one line", async (args, prefix) => {
  const run = await cli(args);
  expect(run.code).toBe(2);
  expect(run.stderr).toStartWith(prefix);
  expect(run.stderr.trimEnd().split("\n")).toHaveLength(1);
  expect(run.stdout).toBe("");
});

test("--endpoint that is not an http(s) URL, and --endpoint on a local path, exit 2", async () => {
  const bad = await runScript(MAIN, ENV, ["restore", "s3://wal/x", "out", "--endpoint", "ftp://x"]);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toStartWith("wal-db: restore: --endpoint takes an http:// or https:// URL");
  const local = await cli(["verify", logPath(dir)]);
  expect(local.code).toBe(2);
  expect(local.stderr).toStartWith("wal-db: verify: --endpoint is for an s3://bucket/prefix");
});

test("verify s3://... on a clean archive exits 0 and says what it holds", async () => {
  const source = await archivedLog();
  const run = await cli(["verify", source.url]);
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  const segments = (await keysOf(source.bucket, "segments/")).length;
  expect(run.stdout).toContain(`segments    ${segments}\n`);
  expect(run.stdout).toContain("partials    3 (1 superseded)\n");
  expect(run.stdout).toContain(`heads       1 (newest ${source.head})\n`);
  expect(run.stdout).toContain(`restorable  --until LSN 0 to ${source.end}\n`);
  expect(run.stdout).toContain(
    `OK ${source.url}: ${source.records.length} records, LSN ${source.head} to ${source.end}; `,
  );
  const json = JSON.parse((await cli(["verify", source.url, "--json"])).stdout);
  expect(json).toMatchObject({
    ok: true,
    segmentSize: S,
    segments,
    partials: 3,
    superseded: 1,
    heads: [source.head],
    restored: { head: source.head, end: source.end, records: source.records.length },
    restorable: [{ from: 0, to: source.end }],
    problems: [],
  });
  // Every object holding log bytes was downloaded: those the restore needed and the rest.
  expect(json.objects).toBe(segments + 3);
});

test("verify s3://... names a flipped bit in an object the restore needs, and exits 1", async () => {
  const source = await archivedLog();
  const victim = (await keysOf(source.bucket, "segments/")).at(-1)!;
  await flipBit(source.bucket, victim);
  const run = await cli(["verify", source.url]);
  expect(run.code).toBe(1);
  expect(run.stdout).toContain(
    `damaged     ${source.url}/${victim} does not match the CRC-32C its key names\n`,
  );
  expect(run.stdout).toContain(`DAMAGED ${source.url}: 1 problem; `);
});

test("verify s3://... names damage in objects no restore to the newest point reads", async () => {
  const source = await archivedLog();
  // Segment 0 lies below the head; partial 4096-5096 is superseded by sealed segment 1.
  const [oldest] = await keysOf(source.bucket, "segments/");
  const superseded = archiveKeys.partial(S, S + 1000, 0).slice(0, -"00000000.wal".length);
  const partial = (await keysOf(source.bucket, superseded))[0]!;
  await flipBit(source.bucket, oldest!);
  await flipBit(source.bucket, partial);
  // A restore does not see either: it still works.
  const restored = await cli(["restore", source.url, logPath(dir, "still")]);
  expect(restored.stderr).toBe("");
  expect(restored.code).toBe(0);
  const run = await cli(["verify", source.url]);
  expect(run.code).toBe(1);
  expect(run.stdout).toContain(`damaged     ${source.url}/${oldest} does not match`);
  expect(run.stdout).toContain(`damaged     ${source.url}/${partial} does not match`);
  expect(run.stdout).toContain(`DAMAGED ${source.url}: 2 problems; `);
});

test("verify s3://... names a missing segment, above the head and below it", async () => {
  const source = await archivedLog();
  const segments = await keysOf(source.bucket, "segments/");
  const headSegment = Math.floor(source.head / S);
  expect(segments.length).toBeGreaterThan(headSegment + 1);
  const below = segments[1]!; // between segment 0 and the head's: only older restores need it
  const above = segments[headSegment + 1]!;
  await source.bucket.delete(below);
  await source.bucket.delete(above);
  const run = await cli(["verify", source.url]);
  expect(run.code).toBe(1);
  for (const key of [below, above]) {
    // Below the head, segment 1 left a superseded partial of its first 1000 bytes: the hole
    // starts after them, and it is still the segment that is missing.
    const start = Number(key.slice("segments/".length, "segments/".length + 20)) * S;
    const from = key === below ? start + 1000 : start;
    expect(run.stdout).toContain(
      `damaged     ${source.url}/${key.slice(0, "segments/".length + 20)}-*.wal is missing: nothing holds LSN ${from} to ${start + S}`,
    );
  }
  const json = JSON.parse((await cli(["verify", source.url, "--json"])).stdout);
  expect(json.ok).toBe(false);
  expect(json.restored).toBeNull();
});

test("verify s3://... of a prefix with no archive exits 3", async () => {
  const run = await cli(["verify", `s3://${server.s3.bucket}/nothing-here`]);
  expect(run.code).toBe(3);
  expect(run.stderr).toContain("holds no wal-db archive");
});

test("archive --once uploads every durable record; restore brings them back byte-exact", async () => {
  const path = logPath(dir, "archived");
  const lsns: number[] = [];
  {
    using wal = Wal.open(path, { segmentSize: S });
    for (let i = 0; i < 30; i++) lsns.push(wal.append(`record ${i} `.repeat(i * 7)));
    wal.sync();
  }
  const expected = recordsOf(path);
  const url = `s3://${server.s3.bucket}/cli-${++prefixes}`;
  const run = await cli(["archive", path, "--to", url, "--once"]);
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  const lines = run.stdout.trimEnd().split("\n");
  const end = expected.at(-1)!.lsn + 8 + expected.at(-1)!.data.length;
  expect(lines.at(-1)).toBe(`stopped: ${url} holds ${path} to LSN ${end}`);
  expect(lines.slice(0, -1).every((line) => /^archived LSN \d+$/.test(line))).toBe(true);
  expect(lines.at(-2)).toBe(`archived LSN ${end}`);
  const to = logPath(dir, "from-archive");
  expect((await cli(["restore", url, to])).code).toBe(0);
  expect(recordsOf(to)).toEqual(expected);
  expect((await cli(["verify", url])).code).toBe(0);
  // Run again: the archive is continued, nothing new to upload.
  const again = await cli(["archive", path, "--to", url, "--once"]);
  expect(again.code).toBe(0);
  expect(again.stdout.trimEnd().split("\n").at(-1)).toBe(
    `stopped: ${url} holds ${path} to LSN ${end}`,
  );
});

test("archive without --once runs until SIGTERM, then stops with exit 0", async () => {
  const path = logPath(dir, "running");
  {
    using wal = Wal.open(path, { segmentSize: S });
    for (let i = 0; i < 10; i++) wal.append(`record ${i}`);
    wal.sync();
  }
  const url = `s3://${server.s3.bucket}/cli-${++prefixes}`;
  const child = Bun.spawn(
    [
      process.execPath,
      MAIN,
      "archive",
      path,
      "--to",
      url,
      "--interval",
      "50",
      "--segment-size",
      "4k",
      "--endpoint",
      server.s3.endpoint,
    ],
    { env: { ...process.env, ...ENV }, stdin: "ignore", stdout: "pipe", stderr: "pipe" },
  );
  const reader = child.stdout.getReader();
  let seen = "";
  while (!seen.includes("archived LSN")) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += new TextDecoder().decode(value);
  }
  expect(seen).toContain("archived LSN");
  child.kill("SIGTERM");
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += new TextDecoder().decode(value);
  }
  expect(await child.exited).toBe(0);
  expect(await new Response(child.stderr).text()).toBe("");
  // The log is closed (another writer may open it), and all of it was archived at the stop.
  using wal = Wal.open(path, { segmentSize: S });
  expect(wal.len).toBeGreaterThan(0);
  expect(seen).toEndWith(`stopped: ${url} holds ${path} to LSN ${wal.len}\n`);
});

test("archive of a log whose files cannot show its segment size exits 2 naming --segment-size", async () => {
  const path = logPath(dir, "one-segment");
  {
    using wal = Wal.open(path, { segmentSize: S });
    wal.append("only");
    wal.sync();
  }
  const run = await cli(["archive", path, "--to", `s3://${server.s3.bucket}/never`, "--once"]);
  expect(run.code).toBe(2);
  expect(run.stderr).toContain("pass --segment-size");
  expect(
    await keysOf(
      openBucket(`s3://${server.s3.bucket}/never`, {
        endpoint: server.s3.endpoint,
        ...credentials,
      }),
      "",
    ),
  ).toEqual([]);
});

test("prune --before the head deletes the segments below it; restore and verify still pass", async () => {
  const source = await archivedLog();
  const segmentsBefore = await keysOf(source.bucket, "segments/");
  const run = await cli(["prune", source.url, "--before", String(source.head)]);
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  expect(run.stdout).toContain(`the oldest point is LSN ${source.head}`);
  const segmentsAfter = await keysOf(source.bucket, "segments/");
  const headSegment = Math.floor(source.head / S);
  expect(segmentsAfter).toEqual(
    segmentsBefore.filter((key) => Number(key.slice(9, 29)) >= headSegment),
  );
  expect(segmentsAfter.length).toBeLessThan(segmentsBefore.length);
  const to = logPath(dir, "after-prune");
  expect((await cli(["restore", source.url, to])).code).toBe(0);
  expect(recordsOf(to)).toEqual(source.records);
  const verified = await cli(["verify", source.url]);
  expect(verified.code).toBe(0);
  expect(verified.stdout).toContain("unarchived  LSN 0 to");
  expect((await cli(["prune", source.url])).code).toBe(2);
});
