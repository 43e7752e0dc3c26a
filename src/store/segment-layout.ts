/**
 * @module
 * The files of a segmented log and what they say (docs/ON_DISK_FORMAT.md, "Segmented logs"):
 * their names, the `head` file's bytes, the listing of a directory's segments, the segment size
 * they show, and the check that they form one log of `segmentSize`-byte segments. It reads and
 * never writes, but for the directory an open creates; `SegmentedStore` does the I/O of a live
 * log, and segment-open.ts the steps of its open that come before the lock.
 */

import { constants } from "node:fs";
import { basename, dirname, join } from "node:path";
import { crc32c } from "../crc32c.ts";
import {
  damagedLayout,
  headPastSegments,
  invalidArgument,
  ioErrorFrom,
  missingLog,
  notALog,
  segmentSizeMismatch,
  type WalError,
} from "../errors.ts";
import { SEGMENT_SIZE_MIN } from "../options.ts";
import type { BarrierStrength, Platform } from "../platform/index.ts";
import { type FileSystem, openRegularFile } from "./file-system.ts";
import { readAt } from "./positioned-io.ts";

/** Segment file names: the index as 20 zero-padded decimal digits, then `.wal`. */
const SEGMENT_NAME = /^(\d{20})\.wal$/;
/** The file that names the log's first LSN after a prefix was dropped; absent means 0. */
export const HEAD_FILE = "head";
/** Where a new head is written before it is renamed over `head`. */
export const HEAD_TEMP_FILE = "head.tmp";
/** The head file: the LSN (u64 LE), then CRC-32C of those 8 bytes (u32 LE). */
const HEAD_FILE_SIZE = 12;
/** The file whose descriptor holds the log's exclusive lock; its contents mean nothing. */
export const LOCK_FILE = "LOCK";
/** The names a segmented log keeps besides its segments. */
const LOG_FILES = new Set([HEAD_FILE, HEAD_TEMP_FILE, LOCK_FILE]);

/** The file name of segment `index`. */
export function segmentName(index: number): string {
  return `${String(index).padStart(20, "0")}.wal`;
}

/** The 12 bytes of a `head` file that names `head`. */
export function encodeHead(head: number): Uint8Array {
  const bytes = new Uint8Array(HEAD_FILE_SIZE);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(head), true);
  view.setUint32(8, crc32c(bytes, 0, 8), true);
  return bytes;
}

/**
 * Refuses `path` as a single-file log when it is a file of a segmented log: a segment (by its
 * name), or the `head`, `head.tmp` or `LOCK` of a directory that holds a segmented log. A
 * single-file open would read a segment as a log of its own and cut the record that spans
 * into the next segment as a torn tail, whether or not the directory is locked.
 * @throws WalError `NOT_A_LOG`, saying to open the directory.
 */
export function refuseFileOfSegmentedLog(fs: FileSystem, path: string): void {
  const name = basename(path);
  const directory = dirname(path);
  if (SEGMENT_NAME.test(name)) {
    throw notALog(
      path,
      "its name is a segment's name, so it is (or would become) a segment of the segmented log in " +
        directory,
      `open that directory with Wal.open("${directory}", { segmentSize }) instead`,
    );
  }
  if (!LOG_FILES.has(name)) return;
  let names: string[];
  try {
    names = fs.readdirSync(directory);
  } catch {
    return; // The open that follows reports a missing directory.
  }
  // A segment proves the directory is a segmented log; so does the lock beside a head (a log
  // dropped to its head), or a head beside the lock.
  const partner = name === LOCK_FILE ? HEAD_FILE : LOCK_FILE;
  if (names.some((other) => SEGMENT_NAME.test(other) || other === partner)) {
    throw notALog(
      path,
      `it is the ${name} file of the segmented log in ${directory}`,
      `open that directory with Wal.open("${directory}", { segmentSize }) instead`,
    );
  }
}

/** What the files of a segmented log say, checked. */
export interface Layout {
  readonly head: number;
  readonly end: number;
  /** The lowest segment of the log (see `SegmentedStore.firstLive`). */
  readonly first: number;
  readonly highest: number;
}

/** One segment file of a segmented log, as listed. */
export interface SegmentFile {
  readonly index: number;
  /** Its length in bytes. */
  readonly length: number;
}

/**
 * Creates the log's directory `path` when it is missing, and makes its name durable.
 * @returns what the sync of its parent directory was (see `BarrierStrength`).
 */
export function createDirectory(fs: FileSystem, path: string, platform: Platform): BarrierStrength {
  if (!requireDirectory(fs, path, "create")) {
    try {
      fs.mkdirSync(path);
    } catch (error) {
      if ((error as { code?: string }).code === "ENOENT")
        throw missingLog(path, dirname(path), "create", error);
      throw ioErrorFrom("mkdir", path, error);
    }
  }
  // The directory's name must survive a power loss, or every segment in it is lost. Synced on
  // every open, as a single file's name is: a writer that crashed right after creating the
  // directory may have left a name that is not yet durable.
  return platform.syncDirectory(dirname(path));
}

/**
 * Whether `path` exists as a directory; false when it is missing and the open may create it.
 * @throws WalError `INVALID_ARGUMENT` when it is a file; `NOT_FOUND` when it is missing and
 * the open may not create it.
 */
export function requireDirectory(
  fs: FileSystem,
  path: string,
  open: "create" | "existing" | "read",
): boolean {
  try {
    if (fs.statSync(path).isDirectory()) return true;
  } catch (error) {
    if ((error as { code?: string }).code !== "ENOENT") throw ioErrorFrom("stat", path, error);
    if (open === "create") return false;
    throw missingLog(path, dirname(path), open, error);
  }
  throw invalidArgument(
    `${path} is a file, not a segmented log's directory; open a single-file log without segmentSize`,
  );
}

/** For `create: false`: `path` must be a directory that {@link holdsSegmentedLog}. */
export function requireLog(fs: FileSystem, path: string): void {
  requireDirectory(fs, path, "existing");
  if (!holdsSegmentedLog(fs, path)) throw missingLog(path, dirname(path), "existing");
}

/**
 * Whether the directory `path` holds a segmented log: a segment, a `head` or a `LOCK` file (a
 * log created but never written holds only `LOCK`). An empty directory, or an `/etc`, does not.
 * @throws WalError `IO` when the directory cannot be listed.
 */
export function holdsSegmentedLog(fs: FileSystem, path: string): boolean {
  let names: string[];
  try {
    names = fs.readdirSync(path);
  } catch (error) {
    throw ioErrorFrom("readdir", path, error);
  }
  return names.some((name) => SEGMENT_NAME.test(name) || LOG_FILES.has(name));
}

/**
 * The segment files in `directory`, by increasing index, with their lengths. Other names are
 * not the log's. A file gone between the listing and its stat is not listed: a read-only
 * reader lists while the writer deletes segments (the layout check then judges what is left).
 */
export function listSegments(fs: FileSystem, directory: string): SegmentFile[] {
  let names: string[];
  try {
    names = fs.readdirSync(directory);
  } catch (error) {
    throw ioErrorFrom("readdir", directory, error);
  }
  const segments: SegmentFile[] = [];
  for (const name of names) {
    const match = SEGMENT_NAME.exec(name);
    if (match === null) continue;
    const index = Number(match[1]);
    const path = join(directory, name);
    let length: number;
    try {
      const stat = fs.statSync(path);
      if (!stat.isFile()) continue;
      length = stat.size;
    } catch (error) {
      if ((error as { code?: string }).code === "ENOENT") continue;
      throw ioErrorFrom("stat", path, error);
    }
    segments.push({ index, length });
  }
  return segments.sort((a, b) => a.index - b.index);
}

/**
 * What the segment files of a log say of its segment size, which no file stores: every
 * segment but the newest holds exactly that many bytes, leftovers below the head included.
 * - `"files"`: two or more segments, every one but the newest `size` bytes: the size, certain.
 * - `"single segment"`: one segment. Its length is a lower bound, nothing more: the next
 *   segment starts where the size says. At index 0 every size of at least its length reads its
 *   bytes at the same LSNs; above 0 its first LSN is its index times the size, unknown.
 * - `"empty"`: no segment (a log created but never written, or one dropped to its head).
 *
 * `Wal.open`, `Wal.openReadOnly` and the CLI all read the size here, so they cannot disagree.
 * @throws CorruptionError when the segments contradict each other: two segments before the
 * newest of different lengths, empty ones, or a newest one longer than them. That is damage
 * (a file cut, grown or copied in from another log), not a size to choose: nothing is opened.
 */
export function segmentSizeEvidence(
  directory: string,
  segments: readonly SegmentFile[],
): SegmentSizeEvidence {
  const newest = segments.at(-1);
  if (newest === undefined) return { source: "empty" };
  if (segments.length === 1) return { source: "single segment", segment: newest };
  const full = segments.slice(0, -1);
  // The length most segments before the newest hold (the lowest's on a tie) is the likely size,
  // so that the error names the one segment that differs.
  const counts = new Map<number, number>();
  for (const { length } of full) counts.set(length, (counts.get(length) ?? 0) + 1);
  let size = full[0]!.length;
  for (const [length, count] of counts) if (count > counts.get(size)!) size = length;
  const model = full.find((segment) => segment.length === size)!;
  const odd = full.find((segment) => segment.length !== size);
  const named = (segment: SegmentFile) => `${segmentName(segment.index)} holds ${segment.length}`;
  if (odd !== undefined) {
    throw disagreement(
      odd.index * size,
      `every segment but the newest holds the segment size, but in ${directory} ${named(model)} ` +
        `bytes and ${named(odd)} bytes (an open given the segment size names the one that ` +
        "contradicts it)",
    );
  }
  if (size === 0) {
    throw disagreement(0, `in ${directory} ${named(model)} bytes, but a later segment follows it`);
  }
  if (newest.length > size) {
    throw disagreement(
      newest.index * size,
      `in ${directory} the newest segment ${named(newest)} bytes, more than the ${size} ` +
        "every segment before it holds",
    );
  }
  return { source: "files", size };
}

/** The errors {@link segmentSizeEvidence} threw, for {@link segmentsDisagree}. */
const disagreements = new WeakSet<Error>();

/** A `damagedLayout` error for segments that disagree on the size, marked as such. */
function disagreement(offset: number, reason: string): Error {
  const error = damagedLayout(offset, reason);
  disagreements.add(error);
  return error;
}

/**
 * Whether `error` is {@link segmentSizeEvidence}'s: segments that disagree on the size. A
 * reader that lists while a writer cuts can see that for a moment (one segment's length before
 * the cut, the next one's after), so the CLI looks again before it reports it.
 */
export function segmentsDisagree(error: unknown): boolean {
  return error instanceof Error && disagreements.has(error);
}

/** What {@link segmentSizeEvidence} found. */
export type SegmentSizeEvidence =
  | { readonly source: "files"; readonly size: number }
  | { readonly source: "single segment"; readonly segment: SegmentFile }
  | { readonly source: "empty" };

/**
 * The segment size to open the log in `directory` with when the open was given none, from its
 * files (see {@link segmentSizeEvidence}).
 * @param open - `"write"` needs the size itself, since new segments get it; `"read"` needs only
 * a size that reads the bytes on disk at their LSNs: any, for no segment (1, which every head
 * divides), and for a lone segment 0 the largest, which no growth of it can contradict.
 * @throws WalError `INVALID_ARGUMENT` when the files cannot tell, saying why and what to pass;
 * `CORRUPTION` as {@link segmentSizeEvidence}.
 */
export function segmentSizeOfFiles(
  fs: FileSystem,
  directory: string,
  segments: readonly SegmentFile[],
  open: "write" | "read",
): number {
  const evidence = segmentSizeEvidence(directory, segments);
  if (evidence.source === "files") return evidence.size;
  const lone = evidence.source === "single segment" ? evidence.segment : undefined;
  // An empty directory, or an /etc, is no empty log: refused, as a writable open refuses it.
  if (lone === undefined && !holdsSegmentedLog(fs, directory)) throw noLogHere(directory);
  if (open === "read" && (lone === undefined || lone.index === 0)) {
    return lone === undefined ? 1 : Number.MAX_SAFE_INTEGER;
  }
  const holds =
    lone === undefined
      ? "no segment yet"
      : `one segment, ${segmentName(lone.index)} (${lone.length} bytes)`;
  const any =
    lone?.index === 0
      ? ` (any size of at least ${Math.max(lone.length, SEGMENT_SIZE_MIN)} reads this one ` +
        "segment; new segments get the size given)"
      : "";
  const call = open === "read" ? "Wal.openReadOnly" : "Wal.open";
  throw invalidArgument(
    `cannot tell the segment size of the segmented log in ${directory}: it holds ${holds}, ` +
      "and the size is not stored; only the full segments before the newest show it. Pass " +
      `the segmentSize it was written with: ${call}("${directory}", { segmentSize })${any}`,
  );
}

/** `directory` holds no segmented log (no segment, `head` or `LOCK`) and no size was given. */
export function noLogHere(directory: string): WalError {
  return invalidArgument(
    `${directory} holds no segmented log (no segment, head or LOCK file), and creating one ` +
      `needs its segment size: pass segmentSize (at least ${SEGMENT_SIZE_MIN}), as in ` +
      `Wal.open("${directory}", { segmentSize: 64 * 1024 * 1024 })`,
  );
}

/**
 * Reads and checks the layout: the head, the segments from the head's on (no gap), every
 * segment but the last exactly `segmentSize` bytes. Throws rather than guess.
 */
export function readLayout(
  fs: FileSystem,
  directory: string,
  segments: readonly SegmentFile[],
  segmentSize: number,
): Layout {
  const head = readHead(fs, directory);
  const start = head ?? 0;
  const highest = segments.at(-1);
  // The head's segment, or the newest one when the head lies past its end (the invariants).
  const headSegment = Math.floor(start / segmentSize);
  const first = highest !== undefined && highest.index < headSegment ? highest.index : headSegment;
  // Leftovers below the first live segment were full, non-last segments when they were written.
  for (const segment of segments) {
    const last = segment === highest && segment.index >= first;
    if (last ? segment.length > segmentSize : segment.length !== segmentSize) {
      throw segmentSizeMismatch(
        join(directory, segmentName(segment.index)),
        segment.length,
        segmentSize,
        writtenSize(directory, segments, segmentSize),
      );
    }
  }
  if (head === null) {
    const lowest = segments[0];
    if (lowest !== undefined && lowest.index > 0) {
      throw damagedLayout(
        0,
        `${segmentName(0)} is missing and there is no head file to say the log starts later ` +
          `(the lowest segment is ${segmentName(lowest.index)})`,
      );
    }
  }
  // Segments below the first live one are leftovers of a compaction a crash interrupted: ignored.
  const live = segments.filter((segment) => segment.index >= first);
  live.forEach((segment, k) => {
    if (segment.index !== first + k) {
      throw damagedLayout(
        (first + k) * segmentSize,
        `segment ${segmentName(first + k)} is missing, but ${segmentName(segment.index)} follows it`,
      );
    }
  });
  const last = live.at(-1);
  if (last === undefined && start % segmentSize !== 0) {
    throw damagedLayout(start, `segment ${segmentName(first)}, which holds the head, is missing`);
  }
  const end = last === undefined ? start : last.index * segmentSize + last.length;
  if (last !== undefined && last.index < headSegment && end !== start) {
    // The head lies past the newest segment only when that segment is full and the head is at
    // its end (a head moved to the end of the log on a boundary): anything else is a misread.
    throw headPastSegments(join(directory, segmentName(last.index)), start, end, segmentSize);
  }
  if (end < start) {
    throw damagedLayout(end, `the head file says the log starts at ${start}, past its end ${end}`);
  }
  return { head: start, end, first, highest: last?.index ?? first - 1 };
}

/** The size `segments` show (see {@link segmentSizeEvidence}) when it is not `segmentSize`. */
function writtenSize(
  directory: string,
  segments: readonly SegmentFile[],
  segmentSize: number,
): number | undefined {
  try {
    const evidence = segmentSizeEvidence(directory, segments);
    if (evidence.source === "files" && evidence.size !== segmentSize) return evidence.size;
  } catch {
    // Segments that contradict each other show no size; the mismatch is reported as it is.
  }
  return undefined;
}

/**
 * The head the `head` file names, or null when there is none. The file is opened as a regular
 * file and read only when it holds exactly 12 bytes, so a FIFO, a device or a huge file named
 * `head` costs one `fstat`, never a read without end.
 */
function readHead(fs: FileSystem, directory: string): number | null {
  const path = join(directory, HEAD_FILE);
  let fd: number;
  try {
    fd = openRegularFile(fs, path, constants.O_RDONLY);
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return null;
    throw ioErrorFrom("open", path, error);
  }
  // One byte more than the file should hold, to see it has grown since the fstat.
  const bytes = new Uint8Array(HEAD_FILE_SIZE + 1);
  let length: number;
  try {
    const size = fs.fstatSync(fd).size;
    if (size !== HEAD_FILE_SIZE) {
      throw damagedLayout(0, `the head file ${path} holds ${size} bytes, not 12`);
    }
    length = readAt(fs, fd, bytes, 0);
  } catch (error) {
    throw ioErrorFrom("read", path, error);
  } finally {
    fs.closeSync(fd);
  }
  if (length !== HEAD_FILE_SIZE) {
    throw damagedLayout(0, `the head file ${path} holds ${length} bytes, not 12`);
  }
  const view = new DataView(bytes.buffer, 0, HEAD_FILE_SIZE);
  if (view.getUint32(8, true) !== crc32c(bytes, 0, 8)) {
    throw damagedLayout(0, `the head file ${path} fails its checksum`);
  }
  const head = view.getBigUint64(0, true);
  if (head > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw damagedLayout(0, `the head file ${path} names LSN ${head}, beyond 2^53 - 1`);
  }
  return Number(head);
}
