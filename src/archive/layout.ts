/**
 * @module
 * The object layout of a log's archive in an S3-compatible store, and what a listing of it says:
 * which objects a restore to a given point needs, in order, or which one is missing. It names
 * and reads keys only; uploading and downloading are the archiver's and the restore's.
 *
 * Under the archive's prefix (`s3://bucket/prefix/`):
 *
 *   log.json                               {"format":"wal-db-archive/1","segmentSize":S}
 *   segments/<index>-<crc>.wal             a sealed segment: exactly S bytes, [index·S, (index+1)·S)
 *   partial/<end>-<start>-<crc>.wal        durable bytes [start, end) of the active segment, past
 *                                          the previous partial's end; never across a segment's end
 *   head/<lsn>                             the log's head moved to `lsn` (empty; every one is kept)
 *
 * `<index>`, `<end>`, `<start>` and `<lsn>` are 20 zero-padded decimal digits, as segment file
 * names are, so the store lists them in LSN order and the newest partial last; `<crc>` is the
 * object's CRC-32C as 8 lowercase hex digits, checked by every download. The key carries
 * everything a restore must know of an object but its length, which the listing gives: no
 * manifest has to agree with the objects.
 *
 * A partial holds only the bytes that became durable since the one before, so a busy log
 * uploads each byte about once; once its segment is sealed and uploaded whole, its partials are
 * superseded (and deleted). Two partials that start at one LSN are prefixes of one history (an
 * upload retried after its answer was lost, with more bytes): the longer one counts.
 */

import { CorruptionError, invalidArgument } from "../errors.ts";

/** What `log.json` says the archive's objects are. */
export const ARCHIVE_FORMAT = "wal-db-archive/1";

const DIGITS = 20;
const SEGMENT_KEY = /^segments\/(\d{20})-([0-9a-f]{8})\.wal$/;
const PARTIAL_KEY = /^partial\/(\d{20})-(\d{20})-([0-9a-f]{8})\.wal$/;
const HEAD_KEY = /^head\/(\d{20})$/;

/** One object of an archive, as its key (after the prefix) names it. */
export type ArchiveObject =
  | { readonly kind: "segment"; readonly index: number; readonly crc: number }
  | { readonly kind: "partial"; readonly start: number; readonly end: number; readonly crc: number }
  | { readonly kind: "head"; readonly head: number }
  | { readonly kind: "meta" };

/** An object as a listing gives it: its key under the prefix and its length. */
export interface ListedObject {
  readonly key: string;
  readonly size: number;
}

const padded = (value: number) => String(value).padStart(DIGITS, "0");
const hex = (crc: number) => (crc >>> 0).toString(16).padStart(8, "0");

/** The key (under the prefix) of each kind of object. */
export const archiveKeys = {
  meta: "log.json",
  segment: (index: number, crc: number) => `segments/${padded(index)}-${hex(crc)}.wal`,
  partial: (start: number, end: number, crc: number) =>
    `partial/${padded(end)}-${padded(start)}-${hex(crc)}.wal`,
  head: (head: number) => `head/${padded(head)}`,
} as const;

/** What `key` (under the prefix) names, or null for a key that is not the archive's. */
export function parseArchiveKey(key: string): ArchiveObject | null {
  if (key === archiveKeys.meta) return { kind: "meta" };
  const segment = SEGMENT_KEY.exec(key);
  if (segment !== null) {
    const index = safeNumber(segment[1]!);
    return index === null
      ? null
      : { kind: "segment", index, crc: Number.parseInt(segment[2]!, 16) };
  }
  const partial = PARTIAL_KEY.exec(key);
  if (partial !== null) {
    const end = safeNumber(partial[1]!);
    const start = safeNumber(partial[2]!);
    if (end === null || start === null || start >= end) return null;
    return { kind: "partial", start, end, crc: Number.parseInt(partial[3]!, 16) };
  }
  const head = HEAD_KEY.exec(key);
  if (head !== null) {
    const lsn = safeNumber(head[1]!);
    return lsn === null ? null : { kind: "head", head: lsn };
  }
  return null;
}

/**
 * One past the newest log byte a data object holds (a sealed segment's end, a partial's end);
 * null for a head, `log.json` or a key that is not the archive's.
 */
export function dataEnd(object: ArchiveObject | null, segmentSize: number): number | null {
  if (object?.kind === "segment") return (object.index + 1) * segmentSize;
  if (object?.kind === "partial") return object.end;
  return null;
}

/** One object a restore downloads: where its bytes go in the log, and how to check them. */
export interface RestorePiece {
  readonly key: string;
  /** The LSN of its first byte. */
  readonly start: number;
  /** Its length, from the listing, which the download must match. */
  readonly size: number;
  readonly crc: number;
}

/** What a restore to a point writes, from a listing. */
export interface RestorePlan {
  /** The first LSN the restored log holds (its `head` file). */
  readonly head: number;
  /** The objects, in LSN order, each starting where the one before ended. */
  readonly pieces: readonly RestorePiece[];
  /** Where the pieces end; the restore cuts at the last whole record at or below `until`. */
  readonly end: number;
}

/** The objects of a listing, by kind, each checked against the segment size. */
interface Catalog {
  readonly segments: Map<number, RestorePiece>;
  /** For each start, the longest partial that starts there. */
  readonly partials: Map<number, RestorePiece>;
  readonly heads: number[];
  /** One past the newest archived byte. */
  readonly newest: number;
}

/**
 * Which objects restore the log up to `until` (default: as far as the archive goes), from a
 * listing of the archive of a log of `segmentSize`-byte segments. It starts at the newest head
 * at or below `until`, at the start of the head's segment, and walks on: a sealed segment where
 * there is one, else the longest partial that starts where the last piece ended.
 * @throws WalError `CORRUPTION` naming the object when one is missing between the head and the
 * newest archived byte (a gap), a sealed segment's length is not the segment size, a partial's
 * does not match its key or crosses a segment's end, or a segment has two copies;
 * `INVALID_ARGUMENT` when `until` lies below the oldest head.
 */
export function planRestore(
  listing: readonly ListedObject[],
  segmentSize: number,
  until = Number.MAX_SAFE_INTEGER,
): RestorePlan {
  const { segments, partials, heads, newest } = catalog(listing, segmentSize);
  const head = Math.max(...heads.filter((lsn) => lsn <= until));
  if (!Number.isFinite(head))
    throw invalidArgument(
      `the archive holds no record at or below ${until}: its oldest point is LSN ` +
        `${Math.min(...heads)} (older ones were pruned, or never archived)`,
    );
  const pieces: RestorePiece[] = [];
  let position = Math.floor(head / segmentSize) * segmentSize;
  while (position < until) {
    const sealed = position % segmentSize === 0 ? segments.get(position / segmentSize) : undefined;
    const piece = sealed ?? partials.get(position);
    if (piece === undefined) break;
    pieces.push(piece);
    position = piece.start + piece.size;
  }
  if (position < Math.min(newest, until)) {
    const missing =
      position % segmentSize === 0
        ? `segments/${padded(position / segmentSize)}-*.wal`
        : `partial/*-${padded(position)}-*.wal`;
    throw damaged(
      missing,
      `is missing: the archive goes on to LSN ${newest}, but nothing holds the bytes from ${position}`,
    );
  }
  const end = Math.max(position, head);
  if (pieces.length > 0 && position < head)
    throw damaged(
      archiveKeys.head(head),
      `names LSN ${head}, past every archived byte (${position})`,
    );
  return { head, pieces, end };
}

function catalog(listing: readonly ListedObject[], segmentSize: number): Catalog {
  const segments = new Map<number, RestorePiece>();
  const partials = new Map<number, RestorePiece>();
  const heads: number[] = [];
  let newest = 0;
  let fromZero = false;
  for (const { key, size } of listing) {
    const parsed = parseArchiveKey(key);
    if (parsed?.kind === "segment") {
      if (size !== segmentSize)
        throw damaged(key, `holds ${size} bytes, not the segment size ${segmentSize}`);
      if (segments.has(parsed.index))
        throw damaged(key, `is a second copy of segment ${parsed.index}`);
      const start = parsed.index * segmentSize;
      segments.set(parsed.index, { key, start, size, crc: parsed.crc });
      fromZero ||= start === 0;
      newest = Math.max(newest, start + size);
    } else if (parsed?.kind === "partial") {
      const { start, end, crc } = parsed;
      if (size !== end - start)
        throw damaged(key, `holds ${size} bytes, not the ${end - start} its key names`);
      if (Math.floor(start / segmentSize) !== Math.floor((end - 1) / segmentSize))
        throw damaged(key, `crosses the end of a ${segmentSize}-byte segment`);
      const known = partials.get(start);
      if (known === undefined || known.size < size) partials.set(start, { key, start, size, crc });
      fromZero ||= start === 0;
      newest = Math.max(newest, end);
    } else if (parsed?.kind === "head") {
      heads.push(parsed.head);
    }
  }
  return { segments, partials, heads: withLsnZero(heads, fromZero), newest };
}

/**
 * The points a restore can start at: the `head/<lsn>` objects, and LSN 0, a head of its own
 * (no object names it) while the archive holds the bytes from 0 or has no head at all, that is
 * until a prune deleted them. `verify s3://…` (cli/verify-archive.ts) walks the same points.
 */
export function withLsnZero(heads: readonly number[], holdsLsnZero: boolean): number[] {
  return holdsLsnZero || heads.length === 0 ? [0, ...heads] : [...heads];
}

function damaged(key: string, what: string): CorruptionError {
  return new CorruptionError(0, what, `the archived object ${key} ${what}`);
}

function safeNumber(digits: string): number | null {
  const value = Number(digits);
  return Number.isSafeInteger(value) ? value : null;
}
