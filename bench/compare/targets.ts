/**
 * The targets of bench/compare.ts: each one a figure measured in the run against the baseline
 * measured in the same run (or against an absolute bound), with the ratio, the target and
 * whether it was met. Built from the run's medians by `targetRows`, printed by `printTargets`
 * as the table that ends the run.
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

/** The medians of one run of bench/compare/micro.ts's rows, in ns per operation. */
export interface MicroMedians {
  readonly crc32cImplementation: string;
  readonly appendNs: number;
  readonly rawWriteNs: number;
  readonly crcBlockNs: number;
  readonly crc32BlockNs: number;
  readonly crcRecordNs: number;
  readonly crc32RecordNs: number;
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
 * `subject` over `base`, both rates in `unit`/s, against `at least` (or, `strict`, above) the
 * ratio `min`.
 */
function rateRatio(
  row: string,
  unit: string,
  subject: number | undefined,
  baseName: string,
  base: number | undefined,
  min: number,
  strict = false,
): Target {
  const target = `${strict ? ">" : "≥"} ${times(min)}`;
  if (subject === undefined || base === undefined) {
    return { row, measured: "", baseline: baseName, ratio: "", target, status: "not run" };
  }
  const ratio = subject / base;
  return {
    row,
    measured: `${formatCount(subject)} ${unit}/s`,
    baseline: `${baseName} ${formatCount(base)}/s`,
    ratio: `${ratio.toFixed(2)}×`,
    target,
    status: (strict ? ratio > min : ratio >= min) ? "met" : "MISSED",
  };
}

/** The CRC-32C and append rows of one micro.ts run; `info` for the forced fallback's. */
function microRows(micro: MicroMedians, label: string, info: boolean): Target[] {
  const judge = (met: boolean): Target["status"] => (info ? "info" : met ? "met" : "MISSED");
  const appendRatio = micro.appendNs / micro.rawWriteNs;
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
      ratio: `${(gbps / nativeGbps).toFixed(2)}×`,
      target: "≥ 8 GB/s",
      status: judge(gbps >= 8),
    },
    {
      row: `CRC-32C per 264-byte record, distinct (${label})`,
      measured: `${micro.crcRecordNs.toFixed(1)} ns`,
      baseline: `Bun.hash.crc32 ${micro.crc32RecordNs.toFixed(1)} ns`,
      ratio: `${(micro.crcRecordNs / micro.crc32RecordNs).toFixed(2)}× the time`,
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
  const walDb = "wal-db";
  const peers = inputs.contenders("W1").filter((name) => !NOT_PEERS.includes(name));
  const bestPeer = peers.reduce<ContenderName | undefined>(
    (best, name) => (best === undefined || rate("W1", name)! > rate("W1", best)! ? name : best),
    undefined,
  );
  const w4 = rate("W4", walDb);
  const w4Floor = 8_000_000;
  return [
    rateRatio(
      "W1 appendAndSync vs the limit",
      "commits",
      rate("W1", walDb),
      "limit",
      rate("W1", "limit"),
      0.95,
    ),
    rateRatio(
      "W1 appendAndSync vs the best peer",
      "commits",
      rate("W1", walDb),
      bestPeer ?? "best peer",
      bestPeer === undefined ? undefined : rate("W1", bestPeer),
      1,
      true,
    ),
    rateRatio(
      "W1 await commit, lone committer, vs hand-rolled",
      "commits",
      rate("W1", "wal-db (await commit)"),
      "hand-rolled",
      rate("W1", "hand-rolled"),
      0.9,
    ),
    ...[16, 256].map((n) =>
      rateRatio(
        `W2 ${n} committers vs hand-rolled`,
        "commits",
        rate(`W2 N=${n}`, walDb),
        "hand-rolled",
        rate(`W2 N=${n}`, "hand-rolled"),
        n === 16 ? 14 : 100,
      ),
    ),
    rateRatio(
      "W3 bulk load vs hand-rolled-staged",
      "records",
      rate("W3", walDb),
      "hand-rolled-staged",
      rate("W3", "hand-rolled-staged"),
      1,
    ),
    rateRatio(
      "W4 open + iter vs hand-rolled scan",
      "records",
      w4,
      "hand-rolled",
      rate("W4", "hand-rolled"),
      1,
    ),
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
    ratio: "ratio",
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
