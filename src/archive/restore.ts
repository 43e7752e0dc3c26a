/**
 * @module
 * Restoring a segmented log from its archive: the objects a point needs (layout.ts,
 * `planRestore`), each downloaded and checked against the length the listing gives and the
 * CRC-32C its key carries, written beside the target (store/segment-import.ts), every record's
 * CRC checked from the head on, cut at the last whole record at or below the point, and only
 * then moved into place. A missing or damaged object is a `CORRUPTION` naming it, never a
 * silently shorter log, and a restore that fails leaves the target as it was.
 */

import { crc32c } from "../crc32c.ts";
import { CorruptionError } from "../errors.ts";
import { checkInteger } from "../options.ts";
import { HEADER_SIZE, LENGTH_OFFSET, PAYLOAD_SIZE_LIMIT, readU32 } from "../record.ts";
import { RecordScanner, Scan } from "../scan.ts";
import { SegmentImport } from "../store/segment-import.ts";
import { SegmentedStore } from "../store/segmented.ts";
import { type ArchiveBucket, openBucket, type S3Settings } from "./bucket.ts";
import { planRestore, type RestorePiece } from "./layout.ts";
import { archivedSegmentSize } from "./meta.ts";

/** What {@link restoreArchive} restores, from where, to where. */
export interface RestoreOptions extends S3Settings {
  /** The archive: `s3://bucket/prefix`. */
  readonly from: string;
  /** The directory to restore into: it must not exist, or be empty. */
  readonly to: string;
  /**
   * Restore only the records that end at or below this LSN, from the newest head at or below
   * it: the log as it was when its end passed this point. Default: everything archived.
   */
  readonly untilLsn?: number;
  /** Told of each object downloaded: bytes done and bytes in all. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** What a restore wrote. */
export interface RestoreReport {
  /** The restored log's directory (absolute). */
  readonly path: string;
  readonly segmentSize: number;
  /** Its first LSN. */
  readonly head: number;
  /** Its end: one past its last record. */
  readonly end: number;
  /** Objects downloaded, and their bytes. */
  readonly objects: number;
  readonly bytes: number;
}

/**
 * Restores the archive at `options.from` into `options.to` (see {@link RestoreOptions}).
 * @throws WalError `INVALID_ARGUMENT` for a target that holds anything, or bad options;
 * `NOT_FOUND` when no archive is there; `CORRUPTION` naming the object that is missing, damaged
 * or of the wrong length; `ARCHIVE` when the store fails; `IO`.
 */
export async function restoreArchive(
  options: RestoreOptions,
  bucket: ArchiveBucket = openBucket(options.from, options),
): Promise<RestoreReport> {
  const until =
    options.untilLsn === undefined
      ? Number.MAX_SAFE_INTEGER
      : checkInteger("untilLsn", options.untilLsn, 0, Number.MAX_SAFE_INTEGER);
  const listing = await bucket.list();
  const segmentSize = await archivedSegmentSize(bucket, listing);
  const plan = planRestore(listing, segmentSize, until);
  const total = plan.pieces.reduce((sum, piece) => sum + piece.size, 0);
  const target = SegmentImport.begin(options.to);
  try {
    if (plan.head > 0) target.writeHead(plan.head);
    let done = 0;
    for await (const { piece, bytes } of downloadsInOrder(bucket, plan.pieces)) {
      if (crc32c(bytes) !== piece.crc >>> 0)
        throw damagedObject(bucket, piece, "does not match the CRC-32C its key names");
      const index = Math.floor(piece.start / segmentSize);
      target.write(index, piece.start - index * segmentSize, bytes);
      done += bytes.length;
      options.onProgress?.(done, total);
    }
    target.syncFiles();
    const end = cutAtLastRecord(target.directory, segmentSize, plan, until, bucket);
    const path = target.finish();
    return { path, segmentSize, head: plan.head, end, objects: plan.pieces.length, bytes: total };
  } catch (error) {
    target.abandon();
    throw error;
  }
}

/** How many downloads run at once, and how many bytes they may hold beyond the one written. */
const DOWNLOADS_IN_FLIGHT = 4;
const DOWNLOAD_AHEAD_BYTES = 64 * 1024 * 1024;

/**
 * Each piece's bytes, in the plan's order, with the next few downloading meanwhile: the store's
 * latency overlaps the checks and writes of the piece before. At least one piece is in flight
 * however large, and never more than {@link DOWNLOAD_AHEAD_BYTES} beyond it.
 */
async function* downloadsInOrder(bucket: ArchiveBucket, pieces: readonly RestorePiece[]) {
  const downloads: (Promise<Uint8Array> | undefined)[] = [];
  let started = 0;
  let bytesAhead = 0;
  for (let i = 0; i < pieces.length; i++) {
    while (
      started < pieces.length &&
      (started === i ||
        (started - i < DOWNLOADS_IN_FLIGHT &&
          bytesAhead + pieces[started]!.size <= DOWNLOAD_AHEAD_BYTES))
    ) {
      const piece = pieces[started++]!;
      const download = bucket.get(piece.key, piece.size);
      // Awaited in order below; one that fails after an earlier failure stopped the restore is
      // not an unhandled rejection.
      download.catch(() => undefined);
      downloads.push(download);
      bytesAhead += piece.size;
    }
    const bytes = await downloads[i]!;
    downloads[i] = undefined;
    bytesAhead -= pieces[i]!.size;
    yield { piece: pieces[i]!, bytes };
  }
}

/**
 * Checks every record of the log written in `directory` from the plan's head, and cuts it at
 * the last one that ends at or below `until`.
 * @returns where the log now ends.
 */
function cutAtLastRecord(
  directory: string,
  segmentSize: number,
  plan: ReturnType<typeof planRestore>,
  until: number,
  bucket: ArchiveBucket,
): number {
  const store = SegmentedStore.open(directory, segmentSize);
  try {
    const scanner = new RecordScanner(store, plan.head, plan.end, PAYLOAD_SIZE_LIMIT);
    let cut = plan.head;
    for (;;) {
      const found = scanner.next();
      if (found === Scan.End) break;
      if (found === Scan.Invalid) {
        if (endsInsideRecord(store, scanner.lsn, plan, until)) break;
        const piece = plan.pieces.find(
          (p) => p.start <= scanner.lsn && scanner.lsn < p.start + p.size,
        );
        throw damagedObject(
          bucket,
          piece,
          `holds no valid record at LSN ${scanner.lsn}: ${scanner.reason}`,
        );
      }
      if (scanner.offset > until) break;
      cut = scanner.offset;
    }
    if (cut < store.size) store.truncate(cut);
    return cut;
  } finally {
    store.close();
  }
}

/**
 * Whether the record at `lsn` runs past the bytes the plan downloaded where that is no damage:
 * past `until` (it is not restored anyway), or past a sealed segment whose next one is not
 * archived yet. A partial ends where the log was durable, always at a record's end.
 */
function endsInsideRecord(
  store: SegmentedStore,
  lsn: number,
  plan: ReturnType<typeof planRestore>,
  until: number,
): boolean {
  const header = new Uint8Array(HEADER_SIZE);
  const got = store.read(header, lsn);
  const runsPast =
    got < HEADER_SIZE || lsn + HEADER_SIZE + readU32(header, LENGTH_OFFSET) > plan.end;
  if (!runsPast) return false;
  const sealed = plan.pieces.at(-1)?.key.startsWith("segments/") === true;
  return sealed || plan.end >= until;
}

function damagedObject(bucket: ArchiveBucket, piece: RestorePiece | undefined, what: string) {
  const key = piece === undefined ? "(none)" : `${bucket.url}/${piece.key}`;
  return new CorruptionError(piece?.start ?? 0, what, `the archived object ${key} ${what}`);
}
