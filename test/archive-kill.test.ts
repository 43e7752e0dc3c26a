/**
 * The archive's end-to-end proof across a real process boundary. A child
 * (archive-kill-writer.ts) commits records with the archiver running and prints every
 * `archivedLsn` it is told; the parent SIGKILLs it at a random moment, deletes its log (the
 * machine is lost), and restores the archive into a fresh directory. Every record below the
 * last printed `archivedLsn` must come back byte-exact, and nothing the child never committed.
 * Then a point-in-time restore below it must give exactly the records below that point.
 *
 * The child talks to the server through the fault proxy (injecting nothing), which reads each
 * request whole before passing it on: S3 stores a PUT whole or not at all, and so must the
 * server here, or a PUT cut off by the kill would show up as a damaged object.
 *
 * Knobs: WAL_ARCHIVE_KILLS (default 10 × WAL_SCALE); WAL_SEED.
 */

import { expect, test } from "bun:test";
import { join } from "node:path";
import { spawn } from "bun";
import { Wal } from "../src/index.ts";
import { indexOfPayload } from "./support/archive-records.ts";
import { reportFigures, sized } from "./support/knobs.ts";
import { mulberry32, seedFromEnv } from "./support/random.ts";
import { CREDENTIALS, useLocalS3 } from "./support/s3.ts";
import { logPath, removeTree, tempDir } from "./support/temp.ts";

const server = useLocalS3();
const dir = tempDir("wal-db-archive-kill-");
const SEED = seedFromEnv(0xa4c1);
const KILLS = sized("WAL_ARCHIVE_KILLS", 10);
/** A child that printed no advance by then is hung: the run fails. */
const DEADLINE_MS = 20_000;

/** Runs the writer until it has printed `advances` advances, then `delayMs` more; kills it. */
async function killedWriter(
  path: string,
  url: string,
  advances: number,
  delayMs: number,
  lie: boolean,
) {
  const child = spawn(
    [
      process.execPath,
      join(import.meta.dir, "archive-kill-writer.ts"),
      path,
      url,
      server.proxy.endpoint,
      ...(lie ? ["lie"] : []),
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  const printed: number[] = [];
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  const deadline = Date.now() + DEADLINE_MS;
  let killAt = Number.POSITIVE_INFINITY;
  // One read in flight at a time: a read given up on would take its chunk with it.
  let pending = reader.read();
  let ended = false;
  while (!ended && Date.now() < Math.min(killAt, deadline)) {
    const wait = Math.max(1, Math.min(50, killAt - Date.now()));
    const chunk = await Promise.race([pending, Bun.sleep(wait).then(() => null)]);
    if (chunk === null) continue;
    pending = reader.read();
    ended = chunk.done;
    if (chunk.value !== undefined) buffered += decoder.decode(chunk.value, { stream: true });
    const lines = buffered.split("\n");
    buffered = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith("archived ")) printed.push(Number(line.slice(9)));
    }
    if (printed.length >= advances && killAt === Number.POSITIVE_INFINITY)
      killAt = Date.now() + delayMs;
  }
  child.kill("SIGKILL");
  await child.exited;
  // What the child had sent whole lands, as on S3; what it had half sent never does.
  await server.proxy.idle();
  // Lines already in the pipe when the kill landed were printed after the archive held them.
  for (let chunk = await pending; !chunk.done; chunk = await reader.read()) {
    buffered += decoder.decode(chunk.value, { stream: true });
  }
  for (const line of buffered.split("\n")) {
    if (line.startsWith("archived ")) printed.push(Number(line.slice(9)));
  }
  const stderr = await new Response(child.stderr).text();
  return { printed, stderr, signal: child.signalCode };
}

/** Kills `kills` writers (lying ones for the negative control) and checks each restore. */
async function killAndRestore(kills: number, lie: boolean) {
  const draw = mulberry32(SEED);
  const random = () => draw() / 2 ** 32;
  let lost = 0;
  let phantom = 0;
  let restoredRecords = 0;
  for (let kill = 0; kill < kills; kill++) {
    const path = logPath(dir, "writer");
    const url = `s3://${server.s3.bucket}/kill-${lie ? "lie" : "true"}-${SEED}-${kill}`;
    const plan = { advances: 1 + Math.floor(random() * 6), delayMs: Math.floor(random() * 250) };
    const context = `kill ${kill} (${JSON.stringify(plan)}, WAL_SEED=${SEED})`;
    const { printed, stderr, signal } = await killedWriter(
      path,
      url,
      plan.advances,
      plan.delayMs,
      lie,
    );
    expect({ context, stderr, signal }).toEqual({ context, stderr: "", signal: "SIGKILL" });
    expect(printed.length).toBeGreaterThanOrEqual(plan.advances);
    const last = Math.max(...printed);
    removeTree(path); // the machine is lost

    const to = logPath(dir, "restored");
    const report = await Wal.restore({
      from: url,
      to,
      endpoint: server.s3.endpoint,
      ...CREDENTIALS,
    });
    const records = (() => {
      using wal = Wal.open(to, { segmentSize: report.segmentSize });
      return [...wal.iter()].map(({ lsn, data }) => ({
        lsn,
        index: indexOfPayload(data),
        end: lsn + 8 + data.length,
      }));
    })();
    // From LSN 0 on, with no gap: every byte below `last` is records.
    const ends = [0, ...records.map((record) => record.end)];
    lost += records.filter((record, i) => record.lsn !== ends[i]).length;
    if ((ends.at(-1) ?? 0) < last) lost++;
    const indices = records.map((record) => record.index);
    phantom += indices.filter((index) => index === null).length;
    phantom += indices.length - new Set(indices).size;
    restoredRecords += records.length;

    // Point in time: a record boundary below the last advance gives exactly the records below it.
    const below = records.filter((record) => record.end <= last);
    if (below.length > 1) {
      const until = below[Math.floor(random() * below.length)]!.lsn;
      const earlier = logPath(dir, "until");
      await Wal.restore({
        from: url,
        to: earlier,
        untilLsn: until,
        endpoint: server.s3.endpoint,
        ...CREDENTIALS,
      });
      using wal = Wal.open(earlier, { segmentSize: report.segmentSize });
      expect({ context, until, lsns: [...wal.iter()].map((record) => record.lsn) }).toEqual({
        context,
        until,
        lsns: records.filter((record) => record.lsn < until).map((record) => record.lsn),
      });
    }
  }
  return { lost, phantom, restoredRecords };
}

test(`${KILLS} SIGKILLed writers: a restore brings back every record below the last archivedLsn printed, and nothing else (WAL_SEED=${SEED})`, async () => {
  const { lost, phantom, restoredRecords } = await killAndRestore(KILLS, false);
  reportFigures("archive kill", {
    checked: KILLS,
    unit: "kills",
    lost,
    phantom,
    untyped: 0,
    extra: { restoredRecords },
    seed: SEED,
  });
  expect({ lost, phantom }).toEqual({ lost: 0, phantom: 0 });
  expect(restoredRecords).toBeGreaterThan(0);
}, 300_000);

test(`negative control: a writer that prints each commit before the archive holds it is caught losing records (WAL_SEED=${SEED})`, async () => {
  const { lost } = await killAndRestore(3, true);
  expect(lost).toBeGreaterThan(0);
}, 120_000);
