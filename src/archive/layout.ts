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
 *   partial/<end>-<crc>.wal                the durable prefix of the active segment k, [k·S, end),
 *                                          k = ceil(end / S) - 1
 *   head/<lsn>                             the log's head moved to `lsn` (empty; every one is kept)
 *
 * `<index>`, `<end>` and `<lsn>` are 20 zero-padded decimal digits, as segment file names are, so
 * the store lists them in LSN order; `<crc>` is the object's CRC-32C as 8 lowercase hex digits,
 * checked by every download. The key carries everything a restore must know of an object but
 * its length, which the listing gives: no manifest has to agree with the objects.
 */

import { CorruptionError, invalidArgument } from "../errors.ts";

/** What `log.json` says the archive's objects are. */
export const ARCHIVE_FORMAT = "wal-db-archive/1";

const DIGITS = 20;
const SEGMENT_KEY = /^segments\/(\d{20})-([0-9a-f]{8})\.wal$/;
const PARTIAL_KEY = /^partial\/(\d{20})-([0-9a-f]{8})\.wal$/;
const HEAD_KEY = /^head\/(\d{20})$/;

/** One object of an archive, as its key (after the prefix) names it. */
export type ArchiveObject =
  | { readonly kind: "segment"; readonly index: number; readonly crc: number }
  | { readonly kind: "partial"; readonly end: number; readonly crc: number }
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
  partial: (end: number, crc: number) => `partial/${padded(end)}-${hex(crc)}.wal`,
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
    if (end === null || end === 0) return null;
    return { kind: "partial", end, crc: Number.parseInt(partial[2]!, 16) };
  }
  const head = HEAD_KEY.exec(key);
  if (head !== null) {
    const lsn = safeNumber(head[1]!);
    return lsn === null ? null : { kind: "head", head: lsn };
  }
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

/**
 * Which objects restore the log up to `until` (default: as far as the archive goes), from a
 * listing of the archive of a log of `segmentSize`-byte segments. It starts at the newest head
 * at or below `until`, takes the sealed segments from the head's on without a gap, then the
 * newest partial of the segment after the last of them, if the archive has one.
 * @throws WalError `CORRUPTION` naming the object when one is missing between the head and the
 * newest object (a gap), or a sealed segment's length is not the segment size, or a partial's
 * does not match its end; `INVALID_ARGUMENT` when `until` lies below the oldest head.
 */
export function planRestore(
  listing: readonly ListedObject[],
  segmentSize: number,
  until = Number.MAX_SAFE_INTEGER,
): RestorePlan {
  const segments = new Map<number, ListedObject & { crc: number }>();
  const partials: (ListedObject & { end: number; crc: number })[] = [];
  const heads: number[] = [0];
  for (const object of listing) {
    const parsed = parseArchiveKey(object.key);
    if (parsed?.kind === "segment") {
      if (object.size !== segmentSize)
        throw damaged(
          object.key,
          `holds ${object.size} bytes, not the segment size ${segmentSize}`,
        );
      if (segments.has(parsed.index))
        throw damaged(object.key, `is a second copy of segment ${parsed.index}`);
      segments.set(parsed.index, { ...object, crc: parsed.crc });
    } else if (parsed?.kind === "partial") {
      partials.push({ ...object, end: parsed.end, crc: parsed.crc });
    } else if (parsed?.kind === "head") {
      heads.push(parsed.head);
    }
  }
  const head = Math.max(...heads.filter((lsn) => lsn <= until));
  if (!Number.isFinite(head))
    throw invalidArgument(`the archive holds no record at or below ${until}`);
  const pieces: RestorePiece[] = [];
  let index = Math.floor(head / segmentSize);
  for (let segment = segments.get(index); segment !== undefined; segment = segments.get(++index)) {
    if (index * segmentSize > until) break;
    pieces.push({
      key: segment.key,
      start: index * segmentSize,
      size: segmentSize,
      crc: segment.crc,
    });
  }
  // The newest partial of the segment after the last sealed one; older ones are superseded.
  const active = partials
    .filter((partial) => Math.ceil(partial.end / segmentSize) - 1 === index)
    .sort((a, b) => b.end - a.end)[0];
  if (active !== undefined && index * segmentSize <= until) {
    const size = active.end - index * segmentSize;
    if (active.size !== size)
      throw damaged(active.key, `holds ${active.size} bytes, not the ${size} its key names`);
    pieces.push({ key: active.key, start: index * segmentSize, size, crc: active.crc });
  }
  const end = pieces.length === 0 ? head : pieces.at(-1)!.start + pieces.at(-1)!.size;
  const newest = Math.max(
    ...[...segments.keys()].map((segment) => (segment + 1) * segmentSize),
    ...partials.map((partial) => partial.end),
    0,
  );
  if (end < Math.min(newest, until)) {
    const missing = Math.floor(end / segmentSize);
    throw damaged(
      `segments/${padded(missing)}-*.wal`,
      `is missing: the archive goes on to LSN ${newest}, but nothing holds the bytes from ${end}`,
    );
  }
  if (end < head)
    throw damaged(archiveKeys.head(head), `names LSN ${head}, past every archived byte (${end})`);
  return { head, pieces, end };
}

function damaged(key: string, what: string): CorruptionError {
  return new CorruptionError(0, what, `the archived object ${key} ${what}`);
}

function safeNumber(digits: string): number | null {
  const value = Number(digits);
  return Number.isSafeInteger(value) ? value : null;
}
