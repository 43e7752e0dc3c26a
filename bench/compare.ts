/**
 * wal-db against its peers and its targets, side by side, in one run (`bun run bench:compare`).
 * Every workload row is a ratio to the hand-rolled log (node:fs writeSync + fdatasyncSync)
 * measured in the same run, and the run ends with a table of targets, each a ratio to its own
 * baseline from the same run (bench/compare/targets.ts). Each measurement is one contender
 * running one workload in a process of its own (bench/compare/contender.ts) on a fresh
 * temporary directory, so no peer's native threads or heap sit beside another's; rounds go
 * round-robin across the contenders, starting one further along each time, so no contender
 * always runs first or right after the same neighbour. Every record is 256 bytes, record i
 * being payload i of a seeded pool of distinct payloads (bench/harness.ts `payloadPool`), the
 * same bytes in every child. Each figure is the median of its rounds.
 *
 *   W1  serial       one committer, each commit durable before the next (wal-db twice:
 *                    appendAndSync, and `await commit` as "wal-db (await commit)")
 *   W2  concurrent   N async committers, each looping `await commit`, N in COMMITTERS
 *   W3  bulk         RECORDS records, then one barrier (wal-db: appendBatch of 4,096, sync)
 *   W4  read         reopen the W3 log and read every record back (wal-db: open, then iter)
 *   memory           wal-db, 256 committers, the child's RSS sampled as the commits go by,
 *                    before and after a forced full collection (see MemorySample)
 *   append, CRC-32C  bench/compare/micro.ts each round, as the run's CRC-32C and again with
 *                    WAL_DB_CRC=ts: Wal.append against a raw write of the same frame, and
 *                    crc32c over 1 MiB blocks and per 264-byte frame
 *
 * The "limit" contender (bench/compare/limit.ts) is the disk's own bound for one commit at a
 * time; it runs W1 and W2 only. Recovery memory (peak RSS opening a 1 GiB log) is measured by
 * bench/segments.ts (`bun run bench`), not here: building a 1 GiB log would double this run.
 *
 * How each peer does each workload, and why, is in its file in bench/compare/. The
 * "durable?" column is the last `bun run bench:audit` (bench/results/audit.json): whether
 * strace saw a barrier between each commit's start and its acknowledgement.
 *
 * Sizes: WAL_BENCH_SIZE=full (default; 3 rounds; also renders docs/bench-compare.svg) or tiny
 * (1 round, a few hundred records; the test suite's smoke run). `--chart` renders the chart
 * at any size. Results go to bench/results/compare-<size>.json (not committed).
 */

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { join } from "node:path";
import type { AuditReport } from "./audit.ts";
import { renderLineChart } from "./chart.ts";
import {
  CONTENDER_NAMES,
  type ContenderName,
  type MemorySample,
  type MicroResult,
  runContender,
  runMicro,
  type WorkloadName,
} from "./compare/protocol.ts";
import { type MicroMedians, printTargets, targetRows } from "./compare/targets.ts";
import {
  consume,
  formatCount,
  median,
  POOL_PAYLOADS,
  POOL_SEED,
  pairedRatio,
  payloadPool,
  resultsDir,
  workDigest,
} from "./harness.ts";

const SIZES = {
  full: {
    rounds: 3,
    // W1 and W2 run at disk speed for the peers without group commit (~5,000 commits/s
    // here), so their counts are set by time: a full run takes 4 to 6 minutes on 2 cores (260 s measured).
    serialCommits: 2_000,
    // W1 takes ~3 s a pass for every contender, so it runs three passes a round: nine samples
    // for its ratios, whose targets are within 5% of the limit.
    serialPasses: 3,
    poolPayloads: POOL_PAYLOADS,
    concurrentCommits: 20_000,
    committers: [1, 4, 16, 64, 256],
    records: 1_000_000,
    memoryCommits: 1_000_000,
    memorySampleEvery: 100_000,
    // micro.ts, once a round per CRC-32C: its own alternating rounds of each pair of sides.
    micro: { appends: 200_000, rounds: 3, crcBytes: 64 << 20, crcRecords: 262_144 },
  },
  tiny: {
    rounds: 1,
    serialCommits: 50,
    serialPasses: 1,
    // 1 MiB, so a tiny run's children do not each build 16 MiB of payloads.
    poolPayloads: 4_096,
    concurrentCommits: 320,
    committers: [1, 16],
    records: 500,
    memoryCommits: 10_000,
    memorySampleEvery: 1_000,
    micro: { appends: 2_000, rounds: 2, crcBytes: 1 << 20, crcRecords: 4_096 },
  },
} as const;

/**
 * Memory counts as flat when the last sample's RSS and JS heap after a full collection exceed
 * the first's by no more than this fraction. After a collection, because the RSS as found also
 * holds garbage JavaScriptCore has not yet collected; first against last, not against the
 * maximum, because the allocator returns freed pages to the OS in bursts (a full run saw the
 * RSS after GC go 43.4, 45.6 … 48.6, 48.3, 44.9, 44.9 MiB with the heap at 2.3 MiB throughout),
 * while a leak keeps growing to the end.
 */
const MEMORY_GROWTH_FLAT = 0.1;
const BASELINE: ContenderName = "hand-rolled";
const CHART_PATH = new URL("../docs/bench-compare.svg", import.meta.url).pathname;

const sizeName = (process.env.WAL_BENCH_SIZE ?? "full") as keyof typeof SIZES;
const size = SIZES[sizeName];
if (size === undefined) {
  throw new Error(`WAL_BENCH_SIZE must be one of ${Object.keys(SIZES).join(", ")}`);
}

/** One row of the table: a workload at one size, run by some of the contenders. */
interface Row {
  readonly id: string;
  readonly title: string;
  readonly unit: "commits" | "records";
  readonly workload: WorkloadName;
  readonly count: number;
  readonly committers: number;
  readonly contenders: readonly ContenderName[];
  /** Times the row runs in each round (each pass rotating the order by one more). */
  readonly passes: number;
}

/** One contender's figures in one row. */
interface Cell {
  /** Time per operation in each round (and pass), in nanoseconds. */
  readonly roundsNs: number[];
  medianNs: number;
  /** Operations per second at the median time. */
  rate: number;
  /** Over the hand-rolled rate in the same row: the median of the rounds' ratios. */
  ratio: number;
}

const without = (...names: ContenderName[]) =>
  CONTENDER_NAMES.filter((name) => !names.includes(name));
/**
 * Who runs what: the staged hand-rolled log differs from the plain one only in its bulk load,
 * the lmdb variants only in their writes, wal-db (await commit) only in W1; the limit commits
 * one record at a time and does nothing else.
 */
const serialists = without("hand-rolled-staged");
const writers = without("hand-rolled-staged", "wal-db (await commit)");
const loaders = without("limit", "wal-db (await commit)");
const readers = without("limit", "hand-rolled-staged", "lmdb-no-overlap", "wal-db (await commit)");

const rows: Row[] = [
  {
    id: "W1",
    title: `W1 serial commits, each durable before the next (${formatCount(size.serialCommits)})`,
    unit: "commits",
    workload: "serial",
    count: size.serialCommits,
    committers: 1,
    contenders: serialists,
    passes: size.serialPasses,
  },
  ...size.committers.map(
    (committers): Row => ({
      id: `W2 N=${committers}`,
      title: `W2 ${committers} concurrent committer${committers === 1 ? "" : "s"}, each looping await commit (${formatCount(size.concurrentCommits)} in all)`,
      unit: "commits",
      workload: "concurrent",
      count: size.concurrentCommits,
      committers,
      contenders: writers,
      passes: 1,
    }),
  ),
  {
    id: "W3",
    title: `W3 ${formatCount(size.records)} records, then one barrier`,
    unit: "records",
    workload: "bulk",
    count: size.records,
    committers: 1,
    contenders: loaders,
    passes: 1,
  },
  {
    id: "W4",
    title: `W4 reopen and read back ${formatCount(size.records)} records`,
    unit: "records",
    workload: "read",
    count: size.records,
    committers: 1,
    contenders: readers,
    passes: 1,
  },
];

/** `rotate([a, b, c], 1)` → `[b, c, a]`. */
function rotate<T>(items: readonly T[], by: number): T[] {
  const start = by % items.length;
  return [...items.slice(start), ...items.slice(0, start)];
}

function loadAudit(): AuditReport | null {
  const path = join(resultsDir(), "audit.json");
  if (!existsSync(path)) return null;
  return (JSON.parse(readFileSync(path, "utf8")) as { audit: AuditReport }).audit;
}

/**
 * The "durable?" cell of a commit row: the audit's verdict and barriers per commit of that
 * workload. The audit runs W1 and W2 only, so the bulk and read rows have none.
 */
function durability(audit: AuditReport | null, row: Row, contender: ContenderName): string {
  if (row.workload !== "serial" && row.workload !== "concurrent") return "";
  const found = audit?.contenders[contender];
  if (audit === null || found === undefined) return "not audited";
  const serial = row.workload === "serial";
  const audited = serial ? found.serial : found.concurrent;
  const calls = Object.keys(audited.barrierCalls)
    .map((key) => key.split(" ")[0])
    .join("+");
  const where = serial ? "" : ` at N=${audit.concurrentCommitters}`;
  return `${found.verdict} (${audited.barriersPerCommit.toFixed(2)} ${calls}/commit${where})`;
}

const poolSpec = { payloads: size.poolPayloads, seed: POOL_SEED };
/**
 * What every contender's read-back (W4) must return: each reads the records of the bulk load
 * back in order and adds each payload's length and first byte, so a store that kept other
 * bytes, or the same payload over and over, or dropped or reordered records, fails the run.
 */
const expectedReadBack = (() => {
  const pool = payloadPool(poolSpec.payloads, poolSpec.seed);
  let sum = 0;
  for (let i = 0; i < size.records; i++) {
    const payload = pool[i & (pool.length - 1)]!;
    sum += payload.length + payload[0]!;
  }
  return sum;
})();

const machine = `${cpus().length}× ${cpus()[0]?.model.trim() ?? "unknown CPU"}, Linux ${release()}`;
const started = Bun.nanoseconds();
console.log(
  `wal-db vs peers, size ${sizeName}, ${size.rounds} round(s), Bun ${Bun.version}, ${machine}; ` +
    `record i is payload i mod ${formatCount(size.poolPayloads)} of a pool of distinct 256-byte ` +
    `payloads (${(size.poolPayloads * 256) / (1 << 20)} MiB, seed 0x${POOL_SEED.toString(16)})`,
);

const cells = new Map<Row, Map<ContenderName, Cell>>(
  rows.map((row) => [
    row,
    new Map(row.contenders.map((name) => [name, { roundsNs: [], medianNs: 0, rate: 0, ratio: 0 }])),
  ]),
);
/** micro.ts's rounds: as the run's CRC-32C stands ("default"), and forced to TypeScript. */
const microEnvs = { default: {}, ts: { WAL_DB_CRC: "ts" } } as const;
const microRuns: Record<keyof typeof microEnvs, MicroResult[]> = { default: [], ts: [] };
for (let round = 0; round < size.rounds; round++) {
  for (const env of rotate(["default", "ts"] as const, round)) {
    microRuns[env].push(await runMicro({ pool: poolSpec, ...size.micro }, microEnvs[env]));
  }
  for (const [rowIndex, row] of rows.entries()) {
    const runs = Array.from({ length: row.passes }, (_, pass) =>
      rotate(row.contenders, round * row.passes + pass + rowIndex),
    );
    for (const contender of runs.flat()) {
      const result = await runContender({
        contender,
        workload: row.workload,
        count: row.count,
        committers: row.committers,
        pool: poolSpec,
      });
      if (row.workload === "read" && result.work !== expectedReadBack) {
        throw new Error(
          `${contender} read back ${result.work}, not ${expectedReadBack}: not the records written`,
        );
      }
      consume(result.work);
      cells
        .get(row)!
        .get(contender)!
        .roundsNs.push(result.elapsedNs / result.operations);
    }
  }
  const secondsSoFar = ((Bun.nanoseconds() - started) / 1e9).toFixed(0);
  console.log(`round ${round + 1}/${size.rounds} done, ${secondsSoFar} s`);
}
for (const row of rows) {
  const rowCells = cells.get(row)!;
  for (const cell of rowCells.values()) {
    cell.medianNs = median(cell.roundsNs);
    cell.rate = 1e9 / cell.medianNs;
  }
  const baselineNs = rowCells.get(BASELINE)!.roundsNs;
  for (const cell of rowCells.values()) cell.ratio = pairedRatio(baselineNs, cell.roundsNs);
}

const memory = await runContender({
  contender: "wal-db",
  workload: "memory",
  count: size.memoryCommits,
  committers: 256,
  sampleEvery: size.memorySampleEvery,
  pool: poolSpec,
});
consume(memory.work);
const memorySamples = memory.memorySamples ?? [];
/** First, last and largest of one figure over the samples. */
const span = (figure: (sample: MemorySample) => number) => {
  const values = memorySamples.map(figure);
  return { first: values[0] ?? 0, last: values.at(-1) ?? 0, max: Math.max(...values) };
};
const rss = span((sample) => sample.rss);
const rssAfterGc = span((sample) => sample.rssAfterGc);
const heapUsedAfterGc = span((sample) => sample.heapUsedAfterGc);
const memoryFlat = [rssAfterGc, heapUsedAfterGc].every(
  ({ first, last }) => last <= first * (1 + MEMORY_GROWTH_FLAT),
);

const audit = loadAudit();
const mebibytes = (bytes: number) => `${(bytes / (1 << 20)).toFixed(1)} MiB`;
console.log("");
for (const row of rows) {
  console.log(row.title);
  console.log(
    `  ${"contender".padEnd(22)} ${`${row.unit}/s`.padStart(12)} ${"× hand-rolled".padStart(14)}   durable? (audit)`,
  );
  for (const [contender, cell] of cells.get(row)!) {
    console.log(
      `  ${contender.padEnd(22)} ${formatCount(cell.rate).padStart(12)} ${`${cell.ratio.toFixed(2)}×`.padStart(14)}   ${durability(audit, row, contender)}`,
    );
  }
}
const describeSpan = (name: string, figures: ReturnType<typeof span>) =>
  `  ${name.padEnd(24)} first ${mebibytes(figures.first)}, last ${mebibytes(figures.last)}, max ${mebibytes(figures.max)}`;
console.log(
  `memory: wal-db, 256 committers, ${formatCount(size.memoryCommits)} commits, sampled every ` +
    `${formatCount(size.memorySampleEvery)}: ${memoryFlat ? "flat" : "GROWING"} ` +
    `(flat: the last RSS and JS heap after GC within ${MEMORY_GROWTH_FLAT * 100}% of the first)`,
);
console.log(describeSpan("RSS as found", rss));
console.log(describeSpan("RSS after Bun.gc(true)", rssAfterGc));
console.log(describeSpan("JS heap after GC", heapUsedAfterGc));
if (audit === null) console.log("durable?: not audited (run `bun run bench:audit`)");
else {
  console.log(
    `durable?: the audit of ${audit.date} (bench/results/audit.json): W1 rows from its serial ` +
      "commits, every W2 row from its concurrent ones; barriers per commit as strace saw them",
  );
}

/** The medians of every round of micro.ts under one environment. */
function microMedians(runs: readonly MicroResult[]): MicroMedians {
  const implementations = [...new Set(runs.map((run) => run.crc32cImplementation))];
  const all = (figure: (run: MicroResult) => number[]) => runs.flatMap(figure);
  const pair = (first: (run: MicroResult) => number[], second: (run: MicroResult) => number[]) =>
    pairedRatio(all(first), all(second));
  return {
    crc32cImplementation: implementations.join("/"),
    appendNs: median(all((run) => run.appendNs)),
    rawWriteNs: median(all((run) => run.rawWriteNs)),
    appendTimeRatio: pair(
      (run) => run.appendNs,
      (run) => run.rawWriteNs,
    ),
    crcBlockNs: median(all((run) => run.crcBlockNs)),
    crc32BlockNs: median(all((run) => run.crc32BlockNs)),
    crcBlockTimeRatio: pair(
      (run) => run.crcBlockNs,
      (run) => run.crc32BlockNs,
    ),
    crcRecordNs: median(all((run) => run.crcRecordNs)),
    crc32RecordNs: median(all((run) => run.crc32RecordNs)),
    crcRecordTimeRatio: pair(
      (run) => run.crcRecordNs,
      (run) => run.crc32RecordNs,
    ),
  };
}
const micro = { default: microMedians(microRuns.default), ts: microMedians(microRuns.ts) };
const rowById = new Map(rows.map((row) => [row.id, row]));
const cellOf = (id: string, contender: ContenderName) => {
  const row = rowById.get(id);
  return row === undefined ? undefined : cells.get(row)!.get(contender);
};
const targets = targetRows({
  rate: (id, contender) => cellOf(id, contender)?.rate,
  ratio: (id, subject, baseline) => {
    const [subjectCell, baselineCell] = [cellOf(id, subject), cellOf(id, baseline)];
    if (subjectCell === undefined || baselineCell === undefined) return undefined;
    return pairedRatio(baselineCell.roundsNs, subjectCell.roundsNs);
  },
  contenders: (id) => rowById.get(id)?.contenders ?? [],
  micro: micro.default,
  microTs: micro.ts,
  memory: {
    label: `256 × ${formatCount(size.memoryCommits)} commits`,
    rssAfterGc,
    heapUsedAfterGc,
    flatGrowth: MEMORY_GROWTH_FLAT,
  },
});
console.log("");
console.log(
  `targets, size ${sizeName}: CRC-32C as run: ${micro.default.crc32cImplementation}; ` +
    `with WAL_DB_CRC=ts: ${micro.ts.crc32cImplementation}`,
);
printTargets(targets);
console.log(
  "recovery memory (peak RSS opening a 1 GiB log): measured by bench/segments.ts " +
    "(`bun run bench`, or `bun bench/segments.ts`), not in this run",
);
const elapsedSeconds = (Bun.nanoseconds() - started) / 1e9;
console.log(`work hash ${workDigest()}, ${elapsedSeconds.toFixed(0)} s`);

const date = new Date().toISOString();
mkdirSync(resultsDir(), { recursive: true });
const resultsPath = join(resultsDir(), `compare-${sizeName}.json`);
writeFileSync(
  resultsPath,
  JSON.stringify(
    {
      size: sizeName,
      date,
      bun: Bun.version,
      machine,
      rounds: size.rounds,
      elapsedSeconds,
      rows: rows.map((row) => ({
        id: row.id,
        title: row.title,
        unit: row.unit,
        workload: row.workload,
        count: row.count,
        committers: row.committers,
        results: Object.fromEntries(cells.get(row)!),
      })),
      memory: {
        commits: size.memoryCommits,
        committers: 256,
        sampleEvery: size.memorySampleEvery,
        samples: memorySamples,
        rss,
        rssAfterGc,
        heapUsedAfterGc,
        flat: memoryFlat,
      },
      pool: { ...poolSpec, payloadSize: 256 },
      micro: { ...size.micro, medians: micro, rounds: microRuns },
      targets,
      audit,
      workHash: workDigest(),
    },
    null,
    2,
  ),
);
console.log(`results: ${resultsPath}`);

if (sizeName === "full" || process.argv.includes("--chart")) {
  const concurrentRows = rows.filter((row) => row.workload === "concurrent");
  writeFileSync(
    CHART_PATH,
    renderLineChart({
      title: "Durable commits/s against concurrent committers, 256-byte records",
      subtitle: `${machine}, Bun ${Bun.version}, ${date.slice(0, 10)}, median of ${size.rounds} round(s)`,
      xLabel: "concurrent committers, each looping await commit",
      yLabel: "commits/s",
      series: writers.map((name) => ({
        name: name === "limit" ? "limit (this disk)" : name,
        points: concurrentRows.map(
          (row) => [row.committers, cells.get(row)!.get(name)!.rate] as const,
        ),
        reference: name === "limit",
      })),
    }),
  );
  console.log(`chart: ${CHART_PATH}`);
}
