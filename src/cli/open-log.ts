/**
 * @module
 * How the read-only commands (inspect, verify, dump, tail) open a log: with
 * `Wal.openReadOnly`, which takes no lock, writes nothing and cuts nothing, so they can run on
 * a log another process is writing and on a damaged log an operator has not decided about.
 * A directory is a segmented log; its segment size is read back from its files when they
 * say it (as `Wal.open` reads it: `segmentSizeEvidence`), or taken from `--segment-size`.
 */

import { readdirSync, type Stats, statSync } from "node:fs";
import { notALog, notARegularFile } from "../errors.ts";
import {
  type CorruptionError,
  DEFAULT_MAX_RECORD_SIZE,
  type ReadOnlyWal,
  Wal,
  WalError,
  type WalStore,
} from "../index.ts";
import { SEGMENT_SIZE_MIN } from "../options.ts";
import { LSN_LIMIT, PAYLOAD_SIZE_LIMIT } from "../record.ts";
import { fileKind, nodeFileSystem } from "../store/file-system.ts";
import { openStore } from "../store/index.ts";
import {
  holdsSegmentedLog,
  listSegments,
  type SegmentFile,
  segmentSizeEvidence,
  segmentsDisagree,
} from "../store/segment-layout.ts";
import { parseInteger } from "./args.ts";
import { CliError, describeOsError, EXIT, usageError } from "./command.ts";
import { replayWithProgress } from "./scan.ts";

/** The flags every reading command takes to say how to read the log. */
export const LOG_FLAGS = {
  "segment-size": { type: "string" },
  "max-record-size": { type: "string" },
} as const;

/** Help lines for {@link LOG_FLAGS}, shared by every reading command's help. */
export const LOG_FLAGS_HELP = `      --segment-size SIZE segment size of a segmented log (a directory); read from its
                          files when it has two or more segments (k, M, G suffixes)
      --max-record-size SIZE
                          the maxRecordSize the log was written with (default 64M)`;

/** The parsed {@link LOG_FLAGS}. */
export type LogFlagValues = { "segment-size"?: string; "max-record-size"?: string };

/** Opens {@link whileLayoutSettles} tries while the segment files are changing under it. */
const LAYOUT_ATTEMPTS = 3;

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
  /** How the segment size was found: "flag", "files", "single segment" (any size ≥ it reads the same) or "empty" (no segment: any size). */
  readonly segmentSizeSource: "flag" | "files" | "single segment" | "empty" | undefined;
  /** The `maxRecordSize` to read with (`--max-record-size`). */
  readonly maxRecordSize: number;
}

/** What {@link openLogForReading} opened. */
export interface OpenedLog extends LogLocation {
  readonly wal: ReadOnlyWal;
  /**
   * Opens the log's bytes again, read-only and with the segment size `wal` was opened with,
   * for a look at bytes past the records (the damage and zeros a report names); close it.
   */
  openBytes(): WalStore;
}

/** How {@link openLogForReading} reads the log. */
export interface ReadingOptions {
  /** `"skip"` steps over damaged regions when iterating, calling `onCorrupt` for each. */
  readonly recovery?: "stop" | "skip";
  readonly onCorrupt?: (error: CorruptionError) => void;
  /**
   * Called for each record the open keeps, during its own scan, with the progress bar named
   * `label`: a command that needs every record reads the log once instead of twice.
   */
  readonly visit?: { label: string; record: (data: Uint8Array, lsn: number) => void };
}

/**
 * Opens the log at `path` read-only. `values` are the parsed {@link LOG_FLAGS}.
 * @throws CliError as {@link locateLog} does.
 */
export function openLogForReading(
  path: string,
  values: LogFlagValues,
  { recovery = "stop", onCorrupt, visit }: ReadingOptions = {},
): OpenedLog {
  return whileLayoutSettles(path, values, (location, segmentSize) => {
    const scan =
      visit === undefined
        ? undefined
        : replayWithProgress(visit.label, location.diskSize, visit.record);
    const options = {
      maxRecordSize: location.maxRecordSize,
      recovery,
      ...(onCorrupt === undefined ? {} : { onCorrupt }),
      ...(scan === undefined ? {} : { replay: scan.replay }),
    };
    try {
      const wal =
        segmentSize === undefined
          ? Wal.openReadOnly(path, options)
          : Wal.openReadOnly(path, { ...options, segmentSize });
      const openBytes = () => openStore(path, { segmentSize, readOnly: true });
      return { ...location, wal, openBytes };
    } finally {
      scan?.finish();
    }
  });
}

/**
 * Opens the bytes of the log at `path` read-only, without the recovery scan a `Wal` runs at
 * open: for a reader that already knows where records start, such as `tail --follow` looking
 * past the last record it printed. Its size and segments are the files' as they are now.
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
    const store = openStore(path, { segmentSize: knownSegmentSize, readOnly: true });
    return { store, maxRecordSize: maxRecordSizeOf(values), segmentSize: knownSegmentSize };
  }
  return whileLayoutSettles(path, values, (location, segmentSize) => {
    const { segmentSizeSource, maxRecordSize } = location;
    const certain = segmentSizeSource === "flag" || segmentSizeSource === "files";
    const store = openStore(path, { segmentSize, readOnly: true });
    return { store, maxRecordSize, segmentSize: certain ? location.segmentSize : undefined };
  });
}

/**
 * Locates the log and calls `open` with the segment size to open it with, on a log a writer
 * may be changing: `--segment-size`, or undefined for the open to read the size from the files
 * as `locateLog` did (the same rules: a lone first segment is read under the largest size,
 * which its growth cannot contradict). A writer may still add or cut a segment between the
 * listing that read the size and the open that checks it, and one listing can see a segment
 * before a cut and the next one after it, so a size mismatch and segments that disagree are
 * looked at again, a few times, before they count.
 */
function whileLayoutSettles<T>(
  path: string,
  values: LogFlagValues,
  open: (location: LogLocation, segmentSize: number | undefined) => T,
): T {
  for (let attempt = 1; ; attempt++) {
    try {
      const location = locateLog(path, values);
      const { segmentSize, segmentSizeSource } = location;
      return open(location, segmentSizeSource === "flag" ? segmentSize : undefined);
    } catch (error) {
      const mismatch = error instanceof WalError && error.code === "SEGMENT_SIZE_MISMATCH";
      const changing = mismatch || segmentsDisagree(error);
      if (!changing || attempt === LAYOUT_ATTEMPTS) throw error;
    }
  }
}

/** `--max-record-size`, or the library's default of 64 MiB. */
function maxRecordSizeOf(values: LogFlagValues): number {
  return parseInteger("--max-record-size", values["max-record-size"], DEFAULT_MAX_RECORD_SIZE, {
    min: 0,
    max: PAYLOAD_SIZE_LIMIT,
    units: true,
  });
}

/**
 * Finds what kind of log `path` holds and the sizes to read it with, from its files and the
 * flags. A segment size read from a single growing segment is that segment's length now, so
 * a reader that looks again later calls this again.
 * @throws CliError (exit 3) when `path` does not exist or cannot be looked at; (exit 2) on a
 * bad flag, or when a segmented log's segment size cannot be read from its files and
 * `--segment-size` is absent. WalError `NOT_A_LOG` (exit 3) when `path`, or a segmented log's
 * `head`, is not a regular file or directory, or is a directory that holds no log.
 */
export function locateLog(path: string, values: LogFlagValues): LogLocation {
  // The flags first: a bad value is a usage error whatever the path holds.
  const maxRecordSize = maxRecordSizeOf(values);
  const given = values["segment-size"];
  const givenSize =
    given === undefined
      ? undefined
      : parseInteger("--segment-size", given, 0, {
          min: SEGMENT_SIZE_MIN,
          max: LSN_LIMIT,
          units: true,
        });
  const stat = statOf(path);
  if (stat === null) throw new CliError(describeOsError(path, "ENOENT"), EXIT.failed);
  // Opening a FIFO for reading blocks until a writer comes, and a device or socket is no log:
  // refused here, before the library opens anything.
  if (!stat.isFile() && !stat.isDirectory()) throw notARegularFile(path, fileKind(stat));
  if (stat.isFile()) {
    if (givenSize !== undefined) {
      throw usageError(`${path} is a file; --segment-size is for a segmented log's directory`);
    }
    return {
      kind: "file",
      diskSize: stat.size,
      segments: [],
      segmentSize: undefined,
      segmentSizeSource: undefined,
      maxRecordSize,
    };
  }
  const segments = listSegments(nodeFileSystem, path);
  checkSegmentedLog(path, segments);
  let segmentSize: number;
  let source: LogLocation["segmentSizeSource"];
  if (givenSize !== undefined) {
    segmentSize = givenSize;
    source = "flag";
  } else {
    // As Wal.open and Wal.openReadOnly read it; segments that disagree throw CORRUPTION.
    const evidence = segmentSizeEvidence(path, segments);
    source = evidence.source;
    if (evidence.source === "files") segmentSize = evidence.size;
    else if (evidence.source === "empty") segmentSize = 1;
    else if (evidence.segment.index === 0) segmentSize = Math.max(1, evidence.segment.length);
    else {
      throw usageError(
        `${path}: cannot tell the segment size from one segment that does not start the log; pass --segment-size`,
      );
    }
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

/** `stat` of `path`, or null when there is nothing there. */
function statOf(path: string): Stats | null {
  try {
    return statSync(path);
  } catch (error) {
    const code = (error as { code?: string }).code ?? String(error);
    if (code === "ENOENT") return null;
    throw new CliError(describeOsError(path, code), EXIT.failed);
  }
}

/**
 * Refuses a directory that is not a segmented log (see `holdsSegmentedLog`): reading an empty
 * directory, or an `/etc`, as an empty log would answer "OK, 0 records" about the wrong path.
 * @throws WalError `NOT_A_LOG`, naming the path and why.
 */
function checkSegmentedLog(path: string, segments: readonly SegmentFile[]): void {
  if (segments.length > 0 || holdsSegmentedLog(nodeFileSystem, path)) return;
  throw notALog(
    path,
    readdirSync(path).length === 0
      ? "it is an empty directory"
      : `it is a directory with no segment file (${"0".repeat(20)}.wal on), no head file and no LOCK file`,
    "pass a log file, or the directory of a segmented log",
  );
}
