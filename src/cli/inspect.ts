/**
 * @module
 * `wal-db inspect <path>`: what a log holds and what an open would do to it, read-only.
 * Records, bytes, first and last LSN, head, segments, a histogram of record sizes, and the cut
 * `Wal.open` would make (offset, bytes, records, reason), which this command never makes.
 */

import { parseCommandArgs } from "./args.ts";
import { type Command, EXIT } from "./command.ts";
import { describeCut, type WouldCut, wouldCut } from "./cut.ts";
import { LOG_FLAGS, LOG_FLAGS_HELP, type OpenedLog, openLogForReading } from "./open-log.ts";
import { Output } from "./output.ts";

/** One power-of-two bucket of the size histogram: payloads of `min` to `max` bytes. */
interface SizeBucket {
  readonly min: number;
  readonly max: number;
  records: number;
}

const HELP = `Usage: wal-db inspect <path> [options]

Prints what a log holds: records, bytes, first and last LSN, head, segments, a histogram of
record sizes, and what Wal.open would cut (offset, bytes, records, reason). Read-only: takes
no lock and never changes a byte, so it is safe on a log another process is writing.
<path> is a log file, or the directory of a segmented log.

Options:
      --json              print one JSON object instead of text
${LOG_FLAGS_HELP}
  -h, --help              show this help

Exit codes: 0 printed (even when records are damaged: see 'wal-db verify'); 1 a segmented
log whose files do not form one log (a missing segment, a damaged head file); 2 bad
arguments; 3 the log could not be read, or the path holds no wal-db log (a FIFO, a
directory of other files).`;

/** `wal-db inspect`. */
export const inspectCommand: Command = {
  name: "inspect",
  summary: "records, sizes, segments, and what an open would cut (read-only)",
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(
      argv,
      { json: { type: "boolean" }, ...LOG_FLAGS },
      ["path"],
    );
    const out = new Output();
    const path = positionals[0]!;
    const tally = new RecordTally();
    const log = openLogForReading(path, values, {
      visit: { label: "inspect", record: (data, lsn) => tally.add(data.length, lsn) },
    });
    try {
      const report = inspect(path, log, tally);
      if (values.json === true) out.line(JSON.stringify(report, null, 2));
      else for (const line of formatReport(report)) out.line(line);
    } finally {
      log.wal.close();
    }
    out.flush();
    return EXIT.ok;
  },
};

/** What `inspect` found; printed as text, or as JSON with `--json`. */
interface InspectReport {
  readonly path: string;
  readonly kind: "file" | "segments";
  readonly records: number;
  /** Payload bytes of all records, and the frames they take (payload plus 8-byte headers). */
  readonly payloadBytes: number;
  readonly firstLsn: number | null;
  readonly lastLsn: number | null;
  readonly head: number;
  /** Where the valid records end: the LSN the next append gets. */
  readonly end: number;
  /** Bytes of the log from head to end. */
  readonly logBytes: number;
  /** Bytes the files hold. */
  readonly diskBytes: number;
  /** Zeros after the end that an open keeps (the preallocated tail of a file log). */
  readonly zeroTailBytes: number;
  readonly segments: {
    readonly count: number;
    readonly segmentSize: number;
    readonly segmentSizeFrom: string;
    readonly firstIndex: number;
    readonly lastSize: number;
  } | null;
  readonly sizes: readonly SizeBucket[];
  readonly wouldCut: WouldCut | null;
}

/** Counts, sizes and LSN range of the records the open's scan passes. */
class RecordTally {
  readonly buckets: SizeBucket[] = [];
  records = 0;
  payloadBytes = 0;
  firstLsn: number | null = null;
  lastLsn: number | null = null;

  add(length: number, lsn: number): void {
    this.records++;
    this.payloadBytes += length;
    this.firstLsn ??= lsn;
    this.lastLsn = lsn;
    const bucket = bucketIndex(length);
    while (this.buckets.length <= bucket) this.buckets.push(bucketAt(this.buckets.length));
    this.buckets[bucket]!.records++;
  }
}

function inspect(path: string, log: OpenedLog, tally: RecordTally): InspectReport {
  const { records, payloadBytes, firstLsn, lastLsn, buckets } = tally;
  const { head, end, storeSize, bytesDropped } = log.wal.recovery;
  const lastSegment = log.segments.at(-1);
  return {
    path,
    kind: log.kind,
    records,
    payloadBytes,
    firstLsn,
    lastLsn,
    head,
    end,
    logBytes: end - head,
    diskBytes: log.diskSize,
    zeroTailBytes: bytesDropped === 0 ? storeSize - end : 0,
    segments:
      log.kind === "segments"
        ? {
            count: log.segments.length,
            segmentSize: log.segmentSize!,
            segmentSizeFrom: log.segmentSizeSource!,
            firstIndex: log.segments[0]?.index ?? 0,
            lastSize: lastSegment?.length ?? 0,
          }
        : null,
    sizes: buckets.filter((bucket) => bucket.records > 0),
    wouldCut: wouldCut(log),
  };
}

/** Bucket 0 holds empty payloads; bucket k ≥ 1 holds sizes from 2^(k-1) to 2^k - 1. */
function bucketIndex(size: number): number {
  return size === 0 ? 0 : 32 - Math.clz32(size);
}

function bucketAt(index: number): SizeBucket {
  return index === 0
    ? { min: 0, max: 0, records: 0 }
    : { min: 2 ** (index - 1), max: 2 ** index - 1, records: 0 };
}

/** Width of the histogram's longest bar. */
const HISTOGRAM_WIDTH = 40;

function formatReport(report: InspectReport): string[] {
  const row = (name: string, value: string | number) => `${name.padEnd(15)}${value}`;
  const lines = [
    row("log", `${report.path} (${report.kind === "file" ? "single file" : "segmented"})`),
    row("records", report.records),
    row("payload bytes", report.payloadBytes),
    row("first LSN", report.firstLsn ?? "-"),
    row("last LSN", report.lastLsn ?? "-"),
    row("head", report.head),
    row("end", `${report.end} (the next append's LSN)`),
    row("log bytes", report.logBytes),
    row(
      "disk bytes",
      `${report.diskBytes}${report.zeroTailBytes > 0 ? ` (${report.zeroTailBytes} of them a zero-filled tail, kept)` : ""}`,
    ),
  ];
  const segments = report.segments;
  if (segments !== null) {
    lines.push(
      row(
        "segments",
        `${segments.count} from index ${segments.firstIndex}, size ${segments.segmentSize} ` +
          `(${segmentSizeNote(segments.segmentSizeFrom)}), last ${segments.lastSize} bytes`,
      ),
    );
  }
  lines.push("record sizes (payload bytes: records)");
  const widest = Math.max(1, ...report.sizes.map((bucket) => bucket.records));
  for (const bucket of report.sizes) {
    const range = bucket.min === bucket.max ? `${bucket.min}` : `${bucket.min}-${bucket.max}`;
    const bar = "#".repeat(Math.max(1, Math.round((bucket.records / widest) * HISTOGRAM_WIDTH)));
    lines.push(`  ${range.padStart(21)}: ${String(bucket.records).padStart(9)} ${bar}`);
  }
  if (report.sizes.length === 0) lines.push("  (no records)");
  lines.push(
    row("open would cut", report.wouldCut === null ? "nothing" : describeCut(report.wouldCut)),
  );
  return lines;
}

function segmentSizeNote(source: string): string {
  switch (source) {
    case "flag":
      return "from --segment-size";
    case "files":
      return "read from the files";
    case "single segment":
      return "one segment: any size at least this reads the same";
    default:
      return "no segments";
  }
}
