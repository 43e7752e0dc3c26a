/**
 * @module
 * How the read-only commands (inspect, verify, dump, tail) open a log: with
 * `Wal.openReadOnly`, which takes no lock, writes nothing and cuts nothing, so they can run on
 * a log another process is writing and on a damaged log an operator has not decided about.
 * A directory is a segmented log; its segment size is read back from its files when they
 * say it (see {@link inferSegmentSize}), or taken from `--segment-size`.
 */

import { statSync } from "node:fs";
import {
  type CorruptionError,
  DEFAULT_MAX_RECORD_SIZE,
  FileStore,
  SegmentedStore,
  Wal,
  WalError,
  type WalStore,
} from "../index.ts";
import { nodeFileSystem } from "../store/file-system.ts";
import { listSegments, type SegmentFile } from "../store/segmented.ts";
import { parseInteger } from "./args.ts";
import { CliError, EXIT, usageError } from "./command.ts";

/** The flags every reading command takes to say how to read the log. */
export const LOG_FLAGS = {
  "segment-size": { type: "string" },
  "max-record-size": { type: "string" },
} as const;

/** Help lines for {@link LOG_FLAGS}, shared by every reading command's help. */
export const LOG_FLAGS_HELP = `  --segment-size SIZE     segment size of a segmented log (a directory); read from its
                          files when it has two or more segments (k, M, G suffixes)
  --max-record-size SIZE  the maxRecordSize the log was written with (default 64M)`;

/** The parsed {@link LOG_FLAGS}. */
export type LogFlagValues = { "segment-size"?: string; "max-record-size"?: string };

/** Opens {@link openStoreForReading} tries while the segment files are changing under it. */
const LAYOUT_ATTEMPTS = 3;
/** The largest segment size the library takes: an LSN must stay exact. */
const SEGMENT_SIZE_MAX = Number.MAX_SAFE_INTEGER;
/** The largest `--max-record-size`: the length field is a u32. */
const RECORD_SIZE_MAX = 0xffff_ffff;

/** Where a log's files are and how to read them, as {@link locateLog} found them. */
export interface LogLocation {
  /** "file" for a single-file log, "segments" for a directory of segments. */
  readonly kind: "file" | "segments";
  /** Bytes the log's files hold on disk, zero-filled tail and leftover segments included. */
  readonly diskSize: number;
  /** The segments, for a segmented log; empty for a file. */
  readonly segments: readonly SegmentFile[];
  /** The segment size to read a segmented log with. */
  readonly segmentSize: number | undefined;
  /** How the segment size was found: "flag", "files" or "single segment" (any size ≥ it reads the same). */
  readonly segmentSizeSource: "flag" | "files" | "single segment" | "empty" | undefined;
  /** The `maxRecordSize` to read with (`--max-record-size`). */
  readonly maxRecordSize: number;
}

/** What {@link openLogForReading} opened. */
export interface OpenedLog extends LogLocation {
  readonly wal: Wal;
}

/**
 * Opens the log at `path` read-only. `values` are the parsed {@link LOG_FLAGS}.
 * @param onCorrupt - with `skip`, called for each damaged region iteration steps over.
 * @throws CliError as {@link locateLog} does.
 */
export function openLogForReading(
  path: string,
  values: LogFlagValues,
  recovery: "stop" | "skip" = "stop",
  onCorrupt?: (error: CorruptionError) => void,
): OpenedLog {
  const location = locateLog(path, values);
  const { maxRecordSize, segmentSize } = location;
  const options = { maxRecordSize, recovery, ...(onCorrupt === undefined ? {} : { onCorrupt }) };
  const wal =
    segmentSize === undefined
      ? Wal.openReadOnly(path, options)
      : Wal.openReadOnly(path, { ...options, segmentSize });
  return { ...location, wal };
}

/**
 * Opens the bytes of the log at `path` read-only, without the recovery scan a `Wal` runs at
 * open: for a reader that already knows where records start, such as `tail --follow` looking
 * past the last record it printed. Its size and segments are the files' as they are now.
 *
 * A writer may grow or add a segment between the listing that read the segment size and the
 * open that checks it, so a size mismatch is looked at again, a few times, before it counts.
 * @param knownSegmentSize - the size an earlier call returned: once a log has shown it, it
 * stays readable after `truncateBefore` leaves one segment that cannot show it, and the
 * store's own listing is the only one (no second listing to find the size again).
 * @returns the store, and `segmentSize` when it is certain (from the flag or the files).
 * @throws CliError as {@link locateLog} does; WalError when the segments do not form a log.
 */
export function openStoreForReading(
  path: string,
  values: LogFlagValues,
  knownSegmentSize?: number,
): { store: WalStore; maxRecordSize: number; segmentSize: number | undefined } {
  if (knownSegmentSize !== undefined) {
    const store = SegmentedStore.open(path, knownSegmentSize, { readOnly: true });
    return { store, maxRecordSize: maxRecordSizeOf(values), segmentSize: knownSegmentSize };
  }
  for (let attempt = 1; ; attempt++) {
    const { segmentSize, segmentSizeSource, maxRecordSize } = locateLog(path, values);
    const certain = segmentSizeSource === "flag" || segmentSizeSource === "files";
    try {
      // A lone first segment reads the same under any size at least its length: the largest
      // keeps it valid while it grows.
      const size = segmentSizeSource === "single segment" ? SEGMENT_SIZE_MAX : segmentSize;
      const store =
        size === undefined
          ? FileStore.open(path, { readOnly: true })
          : SegmentedStore.open(path, size, { readOnly: true });
      return { store, maxRecordSize, segmentSize: certain ? segmentSize : undefined };
    } catch (error) {
      const changing = error instanceof WalError && error.code === "SEGMENT_SIZE_MISMATCH";
      if (!changing || attempt === LAYOUT_ATTEMPTS) throw error;
    }
  }
}

/** `--max-record-size`, or the library's default of 64 MiB. */
function maxRecordSizeOf(values: LogFlagValues): number {
  return parseInteger("max-record-size", values["max-record-size"], DEFAULT_MAX_RECORD_SIZE, {
    min: 0,
    max: RECORD_SIZE_MAX,
    units: true,
  });
}

/**
 * Finds what kind of log `path` holds and the sizes to read it with, from its files and the
 * flags. A segment size read from a single growing segment is that segment's length now, so
 * a reader that looks again later calls this again.
 * @throws CliError (exit 3) when `path` does not exist; (exit 2) when a segmented log's
 * segment size cannot be read from its files and `--segment-size` is absent.
 */
export function locateLog(path: string, values: LogFlagValues): LogLocation {
  let isDirectory: boolean;
  let fileSize: number;
  try {
    const stat = statSync(path);
    isDirectory = stat.isDirectory();
    fileSize = stat.size;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ENOENT") throw new CliError(`${path}: no such file or directory`, EXIT.failed);
    throw new CliError(`${path}: ${code ?? String(error)}`, EXIT.failed);
  }
  const maxRecordSize = maxRecordSizeOf(values);
  if (!isDirectory) {
    if (values["segment-size"] !== undefined) {
      throw usageError(`${path} is a file; --segment-size is for a segmented log's directory`);
    }
    return {
      kind: "file",
      diskSize: fileSize,
      segments: [],
      segmentSize: undefined,
      segmentSizeSource: undefined,
      maxRecordSize,
    };
  }
  const segments = listSegments(nodeFileSystem, path);
  const given = values["segment-size"];
  const inferred = inferSegmentSize(segments);
  let segmentSize: number;
  let source: LogLocation["segmentSizeSource"];
  if (given !== undefined) {
    segmentSize = parseInteger("segment-size", given, 0, {
      min: 1,
      max: SEGMENT_SIZE_MAX,
      units: true,
    });
    source = "flag";
  } else if (inferred !== null) {
    segmentSize = inferred.size;
    source = inferred.source;
  } else {
    throw usageError(
      `${path}: cannot tell the segment size from one segment that does not start the log; pass --segment-size`,
    );
  }
  return {
    kind: "segments",
    diskSize: segments.reduce((sum, segment) => sum + segment.length, 0),
    segments,
    segmentSize,
    segmentSizeSource: source,
    maxRecordSize,
  };
}

/**
 * The segment size the files of a segmented log say, or null when they do not say it.
 *
 * The size is not stored (docs/ON_DISK_FORMAT.md), but every segment except the last is
 * exactly that size, leftovers below the head included; so with two or more segments the
 * lowest one's length is the size (the open still checks every other against it). With one
 * segment, index 0, every size at least its length maps its bytes to the same LSNs, so its
 * length reads the log correctly. With no segment the log is empty and any size reads it.
 * One segment above index 0 is the case the files cannot answer: its first LSN is index × S.
 */
export function inferSegmentSize(
  segments: readonly SegmentFile[],
): { size: number; source: "files" | "single segment" | "empty" } | null {
  const lowest = segments[0];
  if (lowest === undefined) return { size: 1, source: "empty" };
  if (segments.length >= 2) {
    if (lowest.length === 0) return null;
    return { size: lowest.length, source: "files" };
  }
  if (lowest.index === 0) return { size: Math.max(1, lowest.length), source: "single segment" };
  return null;
}
