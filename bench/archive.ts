/**
 * wal-db's archive benchmarks, run by bench/run.ts after its segmented-log rows, or alone with
 * `bun bench/archive.ts` (same WAL_BENCH_SIZE; results then go to
 * bench/results/archive-<size>.json). The store is s3rver on 127.0.0.1, in a child process
 * (bench/archive-s3.ts), so its request handling does not run on the committers' thread. It is
 * loopback and a local disk, not S3: no network latency, no bandwidth limit but the machine's.
 * Every row is a ratio to a baseline measured in the same run, in alternating rounds:
 *
 *   commit, archived     256 async committers looping `await wal.commit` of 100-byte records
 *                        for a fixed time on a log of 1 MiB segments with `wal.archive` running
 *                        (interval 1000 ms, the default), vs the same committers on the same
 *                        log without an archiver: what archiving costs commits. Every 10 ms
 *                        a timer samples the archive's lag, durable − `archivedLsn`, reported
 *                        as p50, p99 and max in bytes and in ms of the round's commit rate.
 *                        Also: the time from telling the committers to stop until the last
 *                        commit resolved and `archiver.flush()` resolved (the archive whole)
 *   restore              `Wal.restore` of the last round's archive into a fresh directory, vs
 *                        downloading the same objects raw with Bun.S3Client (a listing, then
 *                        `arrayBuffer()` of each, 4 at a time, as restore.ts downloads): the
 *                        store's own limit, so the ratio is what checking and writing cost
 *
 * The durable LSN has no public getter; the committers' view of it stands in: one past the
 * newest record whose commit resolved (a commit resolves only once its record is durable, so
 * this trails the log's own durable LSN by at most the barrier in flight).
 *
 * Sizes: WAL_BENCH_SIZE (full: 3 rounds of 4 s a side; tiny: 1 round of 0.5 s, the smoke run),
 * WAL_BENCH_ARCHIVE_SECONDS for another round length, WAL_BENCH_ARCHIVE_INTERVAL for another
 * archive interval in ms.
 */

import { rmSync } from "node:fs";
import { join } from "node:path";
import { planRestore } from "../src/archive/layout.ts";
import { Wal } from "../src/index.ts";
import { HEADER_SIZE } from "../src/record.ts";
import { CREDENTIALS } from "../test/support/s3.ts";
import type { BenchContext } from "./concurrency.ts";
import {
  type Comparison,
  compare,
  consume,
  formatCount,
  median,
  pairedRatio,
  runAlone,
  type Side,
} from "./harness.ts";

/** The sizes of these rows, by WAL_BENCH_SIZE. */
export const ARCHIVE_SIZES = {
  full: { seconds: 4, rounds: 3, restoreRounds: 3 },
  tiny: { seconds: 0.5, rounds: 1, restoreRounds: 1 },
} as const;

export type ArchiveSizeName = keyof typeof ARCHIVE_SIZES;

/** What the rows share with bench/run.ts. */
export type ArchiveContext = Pick<BenchContext, "freshPath" | "report">;

const COMMITTERS = 256;
const SEGMENT_SIZE = 1 << 20;
const PAYLOAD = new Uint8Array(100).map((_, i) => i * 37);
const FRAME_SIZE = PAYLOAD.length + HEADER_SIZE;
const SAMPLE_MS = 10;
const SERVER_SCRIPT = join(import.meta.dir, "archive-s3.ts");
/** As many downloads at once as restore.ts runs. */
const RAW_DOWNLOADS_IN_FLIGHT = 4;

/** The server of bench/archive-s3.ts, running in its child process. */
interface Server {
  readonly endpoint: string;
  readonly bucket: string;
  client(): Bun.S3Client;
  close(): Promise<void>;
}

/** What one round of committers did. */
interface CommitRound {
  readonly commits: number;
  /** From the first commit call to the last commit resolved, ns. */
  readonly elapsedNs: number;
  /** One past the last record committed. */
  readonly end: number;
  /** From telling the committers to stop to the last commit resolved, ns. */
  readonly drainNs: number;
}

/** `p` (0 to 1) of `sorted`, by the nearest rank. */
const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? 0;

const positiveEnv = (name: string, fallback: number) => {
  const raw = process.env[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!(value > 0)) throw new Error(`${name} must be a positive number, got ${raw}`);
  return value;
};

/** Starts bench/archive-s3.ts and waits until its server listens. */
async function startServer(): Promise<Server> {
  const child = Bun.spawn([process.execPath, SERVER_SCRIPT], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${SERVER_SCRIPT} exited before it listened`);
    text += decoder.decode(value, { stream: true });
  }
  reader.releaseLock();
  const { endpoint, bucket } = JSON.parse(text.slice(0, text.indexOf("\n"))) as {
    endpoint: string;
    bucket: string;
  };
  return {
    endpoint,
    bucket,
    client: () => new Bun.S3Client({ endpoint, bucket, ...CREDENTIALS }),
    async close() {
      await child.stdin.end();
      const code = await child.exited;
      if (code !== 0) throw new Error(`${SERVER_SCRIPT} exited with ${code}`);
    },
  };
}

/**
 * 256 committers looping `await wal.commit` for `ms`, then stopping; `sample` is called every
 * 10 ms meanwhile with the committed end (one past the newest record whose commit resolved).
 */
async function commitFor(
  wal: Wal,
  ms: number,
  sample: (committedEnd: number) => void,
): Promise<CommitRound> {
  let stop = false;
  let commits = 0;
  let end = 0;
  const committer = async () => {
    while (!stop) {
      const lsn = await wal.commit(PAYLOAD);
      commits++;
      if (lsn + FRAME_SIZE > end) end = lsn + FRAME_SIZE;
    }
  };
  const sampler = setInterval(() => sample(end), SAMPLE_MS);
  const start = Bun.nanoseconds();
  const running = Array.from({ length: COMMITTERS }, committer);
  await Bun.sleep(ms);
  stop = true;
  const stopped = Bun.nanoseconds();
  await Promise.all(running);
  const drained = Bun.nanoseconds();
  clearInterval(sampler);
  return { commits, elapsedNs: drained - start, end, drainNs: drained - stopped };
}

/** What the archived rounds measured, beyond their commit rate. */
interface ArchivedRounds {
  /** durable − archivedLsn at each sample, bytes. */
  readonly lagBytes: number[];
  /** The same, over the round's commit bytes per ms. */
  readonly lagMs: number[];
  /** Stop → last commit resolved → `flush()` resolved, ms, per round. */
  readonly stopToFlushMs: number[];
  readonly flushMs: number[];
  /** The largest lag of each round's first half and of its second, ms: growing or steady. */
  readonly halvesMs: [number, number][];
  /** The archive of the last round: its URL and end. */
  last?: { url: string; end: number };
}

/** Runs the archive rows, reporting each; returns the lines of their summary. */
export async function runArchive(sizeName: ArchiveSizeName, bench: ArchiveContext) {
  const size = ARCHIVE_SIZES[sizeName];
  const seconds = positiveEnv("WAL_BENCH_ARCHIVE_SECONDS", size.seconds);
  const interval = Math.round(positiveEnv("WAL_BENCH_ARCHIVE_INTERVAL", 1000));
  const summary: string[] = [];
  const server = await startServer();
  try {
    const s3 = { endpoint: server.endpoint, ...CREDENTIALS };
    let archives = 0;

    // 1. Commits with and without an archiver, in alternating rounds, the lag sampled.
    const archived: ArchivedRounds = {
      lagBytes: [],
      lagMs: [],
      stopToFlushMs: [],
      flushMs: [],
      halvesMs: [],
    };
    const times = { archived: [] as number[], plain: [] as number[] };
    let samples = 0;
    const round = async (withArchiver: boolean) => {
      const dir = bench.freshPath();
      const wal = Wal.open(dir, { segmentSize: SEGMENT_SIZE });
      try {
        // A first commit starts the log's sync Worker, as a server's would be.
        await wal.commit(PAYLOAD);
        const url = `s3://${server.bucket}/round-${++archives}`;
        const archiver = withArchiver ? await wal.archive({ to: url, ...s3, interval }) : undefined;
        // The round starts with the archive in step with the log.
        await archiver?.flush();
        const lags: number[] = [];
        const result = await commitFor(wal, seconds * 1000, (end) =>
          lags.push(Math.max(0, end - (archiver?.archivedLsn ?? 0))),
        );
        samples += lags.length;
        (withArchiver ? times.archived : times.plain).push(result.elapsedNs / result.commits);
        consume(result.end);
        if (archiver !== undefined) {
          const flushStart = Bun.nanoseconds();
          const flushed = await archiver.flush();
          const flushNs = Bun.nanoseconds() - flushStart;
          if (flushed !== result.end || wal.len !== result.end) {
            throw new Error(
              `the flush archived to ${flushed}, the log ends at ${wal.len}, the commits at ${result.end}`,
            );
          }
          await archiver.close();
          const bytesPerMs = (result.commits * FRAME_SIZE) / (result.elapsedNs / 1e6);
          archived.lagBytes.push(...lags);
          const lagMs = lags.map((lag) => lag / bytesPerMs);
          archived.lagMs.push(...lagMs);
          const half = lagMs.length >> 1;
          archived.halvesMs.push([
            Math.max(0, ...lagMs.slice(0, half)),
            Math.max(0, ...lagMs.slice(half)),
          ]);
          archived.flushMs.push(flushNs / 1e6);
          archived.stopToFlushMs.push((result.drainNs + flushNs) / 1e6);
          archived.last = { url, end: result.end };
        }
      } finally {
        wal.close();
        rmSync(dir, { recursive: true, force: true });
      }
    };
    for (let r = 0; r < size.rounds; r++) {
      for (const withArchiver of r % 2 === 0 ? [true, false] : [false, true]) {
        await round(withArchiver);
      }
    }
    const commitNs = median(times.archived);
    const plainNs = median(times.plain);
    const commitRow: Comparison = {
      title: `commit ${PAYLOAD.length} B ×${COMMITTERS}, archived`,
      unit: "commit",
      operations: Math.round((seconds * 1e9) / commitNs),
      contender: {
        name: `wal.archive, ${interval} ms`,
        operations: Math.round((seconds * 1e9) / commitNs),
        perOperationNs: commitNs,
      },
      baseline: {
        name: "no archiver",
        operations: Math.round((seconds * 1e9) / plainNs),
        perOperationNs: plainNs,
      },
      timeRatio: commitNs / plainNs,
    };
    const lagBytes = [...archived.lagBytes].sort((a, b) => a - b);
    const lagMs = [...archived.lagMs].sort((a, b) => a - b);
    const lag = {
      samples: lagBytes.length,
      bytes: {
        p50: percentile(lagBytes, 0.5),
        p99: percentile(lagBytes, 0.99),
        max: lagBytes.at(-1) ?? 0,
      },
      ms: { p50: percentile(lagMs, 0.5), p99: percentile(lagMs, 0.99), max: lagMs.at(-1) ?? 0 },
    };
    const pairedTime = pairedRatio(times.archived, times.plain);
    bench.report({
      ...commitRow,
      pairedTimeRatio: pairedTime,
      roundNsPerCommit: times,
      seconds,
      interval,
      segmentSize: SEGMENT_SIZE,
      lag,
      sampleMs: (seconds * 1000 * 2 * size.rounds) / samples,
      stopToFlushMs: archived.stopToFlushMs,
      lagHalvesMaxMs: archived.halvesMs,
      flushMs: archived.flushMs,
    } as Comparison);
    const kib = (bytes: number) => `${formatCount(bytes / 1024)} KiB`;
    summary.push(
      `${"commit ×256, archived:".padEnd(28)} ${formatCount(1e9 / commitNs).padStart(9)}/s vs no archiver ` +
        `${formatCount(1e9 / plainNs)}/s: ${(1 / pairedTime).toFixed(2)}× the rate, paired by round ` +
        `(${interval} ms interval, ${kib(SEGMENT_SIZE)} segments, ${size.rounds} × ${seconds} s a side)`,
      `${"archive lag:".padEnd(28)} p50 ${kib(lag.bytes.p50)} (${lag.ms.p50.toFixed(0)} ms), ` +
        `p99 ${kib(lag.bytes.p99)} (${lag.ms.p99.toFixed(0)} ms), max ${kib(lag.bytes.max)} ` +
        `(${lag.ms.max.toFixed(0)} ms of commits), ${formatCount(lag.samples)} samples; ` +
        `max per round, first half → second: ${archived.halvesMs
          .map(([first, second]) => `${first.toFixed(0)} → ${second.toFixed(0)} ms`)
          .join(", ")}`,
      `${"stop → flush resolved:".padEnd(28)} median ${median(archived.stopToFlushMs).toFixed(0)} ms, ` +
        `max ${Math.max(...archived.stopToFlushMs).toFixed(0)} ms (the flush alone: median ` +
        `${median(archived.flushMs).toFixed(0)} ms)`,
    );

    // 2. Restore of the last archive vs downloading the same objects raw.
    const { url, end } = archived.last!;
    const prefix = `${url.slice(`s3://${server.bucket}/`.length)}/`;
    const client = server.client();
    const listAll = async () => {
      const objects: { key: string; size: number }[] = [];
      let startAfter: string | undefined;
      for (;;) {
        const page = await client.list({
          prefix,
          ...(startAfter === undefined ? {} : { startAfter }),
        });
        const entries = page.contents ?? [];
        for (const entry of entries) objects.push({ key: entry.key, size: entry.size ?? 0 });
        if (!page.isTruncated || entries.length === 0) break;
        startAfter = entries.at(-1)!.key;
      }
      return objects;
    };
    const listing = await listAll();
    const plan = planRestore(
      listing.map(({ key, size }) => ({ key: key.slice(prefix.length), size })),
      SEGMENT_SIZE,
    );
    const planned = new Set(plan.pieces.map((piece) => prefix + piece.key));
    const bytes = plan.pieces.reduce((sum, piece) => sum + piece.size, 0);
    let target = "";
    const restoreSide: Side = {
      name: "Wal.restore",
      prepare() {
        target = bench.freshPath();
        return async () => {
          const report = await Wal.restore({ from: url, to: target, ...s3 });
          if (report.end !== end || report.bytes !== bytes || report.objects !== planned.size) {
            throw new Error(
              `the restore ended at ${report.end} with ${report.objects} objects of ${report.bytes} bytes; ` +
                `the archive ends at ${end}, with ${planned.size} objects of ${bytes} bytes`,
            );
          }
          return report.end;
        };
      },
      cleanup: () => rmSync(target, { recursive: true, force: true }),
    };
    const rawSide: Side = {
      name: `S3Client list + arrayBuffer ×${RAW_DOWNLOADS_IN_FLIGHT}`,
      prepare: () => async () => {
        const keys = (await listAll()).filter(({ key }) => planned.has(key));
        let total = 0;
        let next = 0;
        const downloader = async () => {
          while (next < keys.length) {
            const body = await client.file(keys[next++]!.key).arrayBuffer();
            total += body.byteLength;
          }
        };
        await Promise.all(Array.from({ length: RAW_DOWNLOADS_IN_FLIGHT }, downloader));
        if (total !== bytes) throw new Error(`the raw download got ${total} of ${bytes} bytes`);
        return total;
      },
    };
    const restore = await compare(
      "restore, 1 MiB segments",
      "MB",
      bytes / 1e6,
      size.restoreRounds,
      restoreSide,
      rawSide,
    );
    bench.report({ ...restore, bytes, objects: planned.size } as Comparison);
    const rate = (ns: number) => (1e9 / ns).toFixed(0);
    summary.push(
      `${"restore:".padEnd(28)} ${rate(restore.contender.perOperationNs)} MB/s vs raw download ` +
        `${rate(restore.baseline.perOperationNs)} MB/s: ${(1 / restore.timeRatio).toFixed(2)}× the rate ` +
        `(${(bytes / 1e6).toFixed(1)} MB in ${formatCount(planned.size)} objects)`,
    );
  } finally {
    await server.close();
  }
  return summary;
}

// Alone: `bun bench/archive.ts`, with bench/run.ts's row format.
if (import.meta.main) {
  await runAlone("archive", ARCHIVE_SIZES, (sizeName, bench) => runArchive(sizeName, { ...bench }));
}
