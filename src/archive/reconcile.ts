/**
 * @module
 * What an archiver finds when it starts: the archive's `log.json` (written when there is none),
 * how far the archive holds the log contiguously, and whether that history is this log's. A
 * restarted archiver continues from there, neither uploading a second copy of what is there nor
 * skipping what is not; an archive of another log, or of records this log no longer has, is
 * `ARCHIVE_MISMATCH` with nothing in the bucket or the log changed.
 */

import { crc32c } from "../crc32c.ts";
import { WalError } from "../errors.ts";
import type { SegmentedStore } from "../store/segmented.ts";
import type { ArchiveBucket } from "./bucket.ts";
import { archiveKeys, dataEnd, type ListedObject, parseArchiveKey, planRestore } from "./layout.ts";
import { archiveMetaBytes, readArchiveMeta } from "./meta.ts";

/** Where an archiver starts. */
export interface ArchiveStart {
  /** The first LSN to upload: the archive holds every byte of the log before it (from its head). */
  readonly next: number;
  /**
   * Whether `next` is a record's end: the archive is empty or ends in a partial (which ends
   * where the log was durable). A sealed segment's end seldom is one: records span segments.
   */
  readonly endsAtRecord: boolean;
  /** One past the newest byte any object holds (what a cut below would have to delete). */
  readonly claimed: number;
  /** The newest `head/<lsn>` in the archive (0 when none). */
  readonly remoteHead: number;
  /**
   * Whether the log dropped (with `truncateBefore`, while no archiver ran) segments the archive
   * never got: the archive then restarts at the log's head, `head/<lsn>` uploaded first.
   */
  readonly gap: boolean;
  /** Partials that a sealed segment superseded, to delete. */
  readonly superseded: readonly string[];
  /** The other partials: the active segment's, superseded once it is uploaded sealed. */
  readonly partials: readonly ArchivedPartial[];
}

/**
 * Reads the archive at `bucket` for the log in `store`, whose durable prefix ends at `durable`
 * and whose lowest segment file is `lowestSegment`, and writes `log.json` if the prefix is new.
 * @throws WalError `ARCHIVE_MISMATCH` when the archive is not this log's; `CORRUPTION` when its
 * objects do not form one history; `ARCHIVE` when the store fails.
 */
export async function reconcileArchive(
  bucket: ArchiveBucket,
  store: SegmentedStore,
  durable: number,
  lowestSegment: number,
): Promise<ArchiveStart> {
  const { segmentSize } = store;
  const listing = await bucket.list();
  const archived = await readArchiveMeta(bucket, listing);
  if (archived === null) {
    if (listing.length > 0)
      throw mismatch(bucket, `holds ${listing.length} objects but no ${archiveKeys.meta}`);
    await bucket.put(archiveKeys.meta, archiveMetaBytes(segmentSize));
  } else if (archived !== segmentSize) {
    throw mismatch(bucket, `archives ${archived}-byte segments, this log has ${segmentSize}`);
  }
  const plan = planRestore(listing, segmentSize);
  if (plan.end > durable)
    throw mismatch(bucket, `goes on to LSN ${plan.end}, past this log's durable end ${durable}`);
  const last = plan.pieces.at(-1);
  if (last !== undefined && Math.floor(last.start / segmentSize) >= lowestSegment) {
    const local = new Uint8Array(last.size);
    if (store.read(local, last.start) !== last.size || crc32c(local) !== last.crc >>> 0)
      throw mismatch(bucket, `holds ${last.key}, whose bytes are not this log's`);
  }
  const gap = Math.floor(plan.end / segmentSize) < lowestSegment;
  return {
    next: plan.end,
    endsAtRecord: last === undefined || parseArchiveKey(last.key)?.kind === "partial",
    claimed: newestByte(listing, segmentSize),
    remoteHead: plan.head,
    gap,
    ...partialsOf(listing, segmentSize),
  };
}

function newestByte(listing: readonly ListedObject[], segmentSize: number): number {
  let newest = 0;
  for (const { key } of listing) {
    newest = Math.max(newest, dataEnd(parseArchiveKey(key), segmentSize) ?? 0);
  }
  return newest;
}

/** A partial in the archive: its key, and the LSN its bytes start at. */
export interface ArchivedPartial {
  readonly key: string;
  readonly start: number;
}

/** The partials of the listing: those inside a segment it holds sealed, and the others. */
function partialsOf(
  listing: readonly ListedObject[],
  segmentSize: number,
): { superseded: string[]; partials: ArchivedPartial[] } {
  const sealed = new Set<number>();
  const all: ArchivedPartial[] = [];
  for (const { key } of listing) {
    const parsed = parseArchiveKey(key);
    if (parsed?.kind === "segment") sealed.add(parsed.index);
    if (parsed?.kind === "partial") all.push({ key, start: parsed.start });
  }
  const inSealed = (partial: ArchivedPartial) =>
    sealed.has(Math.floor(partial.start / segmentSize));
  return {
    superseded: all.filter(inSealed).map(({ key }) => key),
    partials: all.filter((partial) => !inSealed(partial)),
  };
}

function mismatch(bucket: ArchiveBucket, what: string): WalError {
  return new WalError(
    "ARCHIVE_MISMATCH",
    `the archive at ${bucket.url} ${what}: it is not this log's archive; archive to an empty ` +
      "prefix, or restore from this one",
  );
}
