/**
 * The targets of bench/compare.ts: each one a figure measured in the run against the baseline
 * measured in the same run (or against an absolute bound), with the ratio, the target and
 * whether it was met. The figures are medians over the rounds; each ratio is the median of the
 * rounds' own ratios (bench/harness.ts `pairedRatio`), so it can differ a little from the ratio
 * of the two medians. Built by `targetRows`, printed by `printTargets` as the table that ends
 * the run.
 */

import { formatCount } from "../harness.ts";
import type { ContenderName } from "./protocol.ts";

/** One row of the targets table; every column already formatted. */
export interface Target {
  readonly row: string;
  readonly measured: string;
  readonly baseline: string;
  readonly ratio: string;
  readonly target: string;
  /** "info": shown for comparison, no target applies; "not run": not at this size. */
  readonly status: "met" | "MISSED" | "info" | "not run";
}

/**
 * The medians of bench/compare/micro.ts's rounds under one environment, in ns per operation,
 * and each pair's time ratio (first over second, the median of the rounds' ratios).
 */
export interface MicroMedians {
  readonly crc32cImplementation: string;
  readonly appendNs: number;
  readonly rawWriteNs: number;
  readonly appendTimeRatio: number;
  readonly crcBlockNs: number;
  readonly crc32BlockNs: number;
  readonly crcBlockTimeRatio: number;
  readonly crcRecordNs: number;
  readonly crc32RecordNs: number;
  readonly crcRecordTimeRatio: number;
}

/** First and last of a memory figure over the memory workload's samples, in bytes. */
export interface MemorySpan {
  readonly first: number;
  readonly last: number;
}

/** What the targets are computed from. */
export interface TargetInputs {
  /** The median rate of `contender` in the row `id` ("W1", "W2 N=16", …), if it ran. */
  rate(id: string, contender: ContenderName): number | undefined;
  /** The rate of `subject` over that of `baseline` in the row `id`, round by round, if both ran. */
  ratio(id: string, subject: ContenderName, baseline: ContenderName): number | undefined;
  /** The contenders of the row `id` (none if it did not run). */
  contenders(id: string): readonly ContenderName[];
  /** micro.ts as the run's default CRC-32C, and with WAL_DB_CRC=ts. */
  readonly micro: MicroMedians;
  readonly microTs: MicroMedians;
  readonly memory: {
    readonly label: string;
    readonly rssAfterGc: MemorySpan;
    readonly heapUsedAfterGc: MemorySpan;
    /** Growth first to last counted as flat. */
    readonly flatGrowth: number;
  };
}

const MIB = 1 << 20;
/** The peers wal-db's W1 must lead: every W1 contender that is neither wal-db nor the limit. */
const NOT_PEERS: readonly ContenderName[] = ["limit", "wal-db", "wal-db (await commit)"];

const times = (value: number) => `${value >= 10 ? value : value.toFixed(2)}×`;
const nanoseconds = (value: number) => `${formatCount(value)} ns`;

/**
 * wal-db's (or `subject`'s) rate in the row `id` over `baseline`'s, in `unit`/s, against at
 * least (or, `strict`, above) the ratio `min`.
 */
function rateRatio(
  inputs: TargetInputs,
  row: string,
  [id, unit]: readonly [string, string],
  baseline: ContenderName,
  min: number,
  { subject = "wal-db" as ContenderName, strict = false } = {},
): Target {
  const target = `${strict ? ">" : "≥"} ${times(min)}`;
  const subjectRate = inputs.rate(id, subject);
  const base = inputs.rate(id, baseline);
  const ratio = inputs.ratio(id, subject, baseline);
  if (subjectRate === undefined || base === undefined || ratio === undefined) {
    return { row, measured: "", baseline, ratio: "", target, status: "not run" };
  }
  return {
    row,
    measured: `${formatCount(subjectRate)} ${unit}/s`,
    baseline: `${baseline} ${formatCount(base)}/s`,
    ratio: `${ratio.toFixed(2)}×`,
    target,
    status: (strict ? ratio > min : ratio >= min) ? "met" : "MISSED",
  };
}

/** The CRC-32C and append rows of one micro.ts run; `info` for the forced fallback's. */
function microRows(micro: MicroMedians, label: string, info: boolean): Target[] {
  const judge = (met: boolean): Target["status"] => (info ? "info" : met ? "met" : "MISSED");
  const appendRatio = micro.appendTimeRatio;
  const gbps = MIB / micro.crcBlockNs;
  const nativeGbps = MIB / micro.crc32BlockNs;
  return [
    {
      row: `append 256 B, distinct payloads (${label})`,
      measured: nanoseconds(micro.appendNs),
      baseline: `raw writeSync 264 B ${nanoseconds(micro.rawWriteNs)}`,
      ratio: `${appendRatio.toFixed(2)}× the time`,
      target: "≤ 1.25× the time",
      status: judge(appendRatio <= 1.25),
    },
    {
      row: `CRC-32C, 1 MiB blocks (${label})`,
      measured: `${gbps.toFixed(2)} GB/s`,
      baseline: `Bun.hash.crc32 ${nativeGbps.toFixed(2)} GB/s`,
      ratio: `${(1 / micro.crcBlockTimeRatio).toFixed(2)}×`,
      target: "≥ 8 GB/s",
      status: judge(gbps >= 8),
    },
    {
      row: `CRC-32C per 264-byte record, distinct (${label})`,
      measured: `${micro.crcRecordNs.toFixed(1)} ns`,
      baseline: `Bun.hash.crc32 ${micro.crc32RecordNs.toFixed(1)} ns`,
      ratio: `${micro.crcRecordTimeRatio.toFixed(2)}× the time`,
      target: "≤ 40 ns",
      status: judge(micro.crcRecordNs <= 40),
    },
  ];
}

/** The memory rows: the last sample against the first, after a forced full collection. */
function memoryRows(memory: TargetInputs["memory"]): Target[] {
  const mib = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;
  const flat = 1 + memory.flatGrowth;
  return (
    [
      ["RSS after GC", memory.rssAfterGc],
      ["JS heap after GC", memory.heapUsedAfterGc],
    ] as const
  ).map(([what, span]) => ({
    row: `memory, ${memory.label}: ${what}`,
    measured: mib(span.last),
    baseline: `first of the samples ${mib(span.first)}`,
    ratio: `${(span.last / span.first).toFixed(2)}×`,
    target: `≤ ${flat.toFixed(2)}× (flat)`,
    status: span.last <= span.first * flat ? "met" : "MISSED",
  }));
}

/** Every target of the run, in the order of the issue. */
export function targetRows(inputs: TargetInputs): Target[] {
  const { rate } = inputs;
  const peers = inputs.contenders("W1").filter((name) => !NOT_PEERS.includes(name));
  const bestPeer = peers.reduce<ContenderName | undefined>(
    (best, name) => (best === undefined || rate("W1", name)! > rate("W1", best)! ? name : best),
    undefined,
  );
  const w4 = rate("W4", "wal-db");
  const W1 = ["W1", "commits"] as const;
  const w4Floor = 8_000_000;
  return [
    rateRatio(inputs, "W1 appendAndSync vs the limit", W1, "limit", 0.95),
    // The best peer by median rate; a W1 without peers (none at this size) leaves hand-rolled,
    // which then reports "not run".
    rateRatio(inputs, "W1 appendAndSync vs the best peer", W1, bestPeer ?? "hand-rolled", 1, {
      strict: true,
    }),
    rateRatio(inputs, "W1 await commit, lone committer, vs hand-rolled", W1, "hand-rolled", 0.9, {
      subject: "wal-db (await commit)",
    }),
    rateRatio(inputs, "W2 16 committers vs hand-rolled", ["W2 N=16", "commits"], "hand-rolled", 14),
    rateRatio(
      inputs,
      "W2 256 committers vs hand-rolled",
      ["W2 N=256", "commits"],
      "hand-rolled",
      100,
    ),
    rateRatio(
      inputs,
      "W3 bulk load vs hand-rolled-staged",
      ["W3", "records"],
      "hand-rolled-staged",
      1,
    ),
    rateRatio(inputs, "W4 open + iter vs hand-rolled scan", ["W4", "records"], "hand-rolled", 1),
    {
      row: "W4 open + iter, every CRC checked",
      measured: w4 === undefined ? "" : `${formatCount(w4)} records/s`,
      baseline: "(absolute)",
      ratio: "",
      target: `≥ ${formatCount(w4Floor)}/s`,
      status: w4 === undefined ? "not run" : w4 >= w4Floor ? "met" : "MISSED",
    },
    ...microRows(inputs.micro, inputs.micro.crc32cImplementation, false),
    ...microRows(inputs.microTs, `${inputs.microTs.crc32cImplementation}, WAL_DB_CRC=ts`, true),
    ...memoryRows(inputs.memory),
  ];
}

/** Prints `targets` as a table, each column as wide as its widest cell. */
export function printTargets(targets: readonly Target[]): void {
  const header: Target = {
    row: "target row",
    measured: "measured",
    baseline: "baseline (same run)",
    ratio: "ratio (by round)",
    target: "target",
    status: "met" as const,
  };
  const columns = ["row", "measured", "baseline", "ratio", "target"] as const;
  const widths = columns.map((column) =>
    Math.max(...[header, ...targets].map((target) => target[column].length)),
  );
  const line = (target: Target, status: string) =>
    `${columns.map((column, k) => target[column].padEnd(widths[k]!)).join("  ")}  ${status}`;
  const heading = line(header, "met?");
  console.log(heading);
  console.log("-".repeat(heading.length));
  for (const target of targets) console.log(line(target, target.status));
}
