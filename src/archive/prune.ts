/**
 * @module
 * Remote retention, only when the user asks: `Wal.pruneArchive` deletes the objects that only
 * restores to points below a retention LSN need. The archiver never deletes a data object by
 * itself (but superseded partials, and its own `truncateAfter`), so an archive grows until this
 * is called.
 *
 * The cut is at a head: the newest `head/<lsn>` at or below the retention LSN, since a restore
 * starts at a head's segment (layout.ts). What goes is every older head, then every segment and
 * partial below that head's segment, newest first. At every moment of the deletes, and after a
 * prune cut off halfway, the archive is an archive of the log from some head on: a restore to
 * the newest point, or to any point at or above the cut, reads the same objects as before, and
 * `wal-db verify` calls what is gone below it unarchived, not missing.
 */

import { invalidArgument } from "../errors.ts";
import { checkInteger } from "../options.ts";
import { openBucket, type S3Settings } from "./bucket.ts";
import { dataEnd, parseArchiveKey } from "./layout.ts";
import { archivedSegmentSize } from "./meta.ts";

/** What {@link pruneArchive} prunes. */
export interface PruneOptions extends S3Settings {
  /** The archive: `s3://bucket/prefix`. */
  readonly from: string;
  /**
   * Keep what restores to this LSN and every later point need; delete the rest. The archive is
   * cut at the newest head at or below it, so restores between that head and this LSN still work.
   */
  readonly beforeLsn: number;
}

/** What a prune deleted. */
export interface PruneReport {
  /** The oldest point a restore can still reach: the head the archive was cut at. */
  readonly head: number;
  /** Objects deleted, and their bytes. */
  readonly objects: number;
  readonly bytes: number;
}

/**
 * Prunes the archive at `options.from` (see {@link PruneOptions}). Safe beside a running
 * archiver, in this process or another: it deletes only objects below a head, and an archiver
 * only adds objects at the archive's end.
 * @throws WalError `INVALID_ARGUMENT` for bad options; `NOT_FOUND` when no archive is there;
 * `ARCHIVE` when the store fails (what was deleted stays deleted; call again).
 */
export async function pruneArchive(options: PruneOptions): Promise<PruneReport> {
  if (options === null || typeof options !== "object")
    throw invalidArgument("pruneArchive takes options: { from: 's3://bucket/prefix', beforeLsn }");
  const before = checkInteger("beforeLsn", options.beforeLsn, 0, Number.MAX_SAFE_INTEGER);
  const bucket = openBucket(options.from, options);
  const listing = await bucket.list();
  const segmentSize = await archivedSegmentSize(bucket, listing);
  const objects = listing.map((object) => ({ ...object, parsed: parseArchiveKey(object.key) }));
  let head = 0;
  for (const { parsed } of objects) {
    if (parsed?.kind === "head" && parsed.head <= before) head = Math.max(head, parsed.head);
  }
  const keepFrom = Math.floor(head / segmentSize) * segmentSize;
  const endOf = (parsed: ReturnType<typeof parseArchiveKey>) =>
    dataEnd(parsed, segmentSize) ?? Number.POSITIVE_INFINITY;
  // Heads first: with them gone, what is left below the cut is a prefix no restore starts in.
  const heads = objects.filter(({ parsed }) => parsed?.kind === "head" && parsed.head < head);
  const data = objects
    .filter(({ parsed }) => endOf(parsed) <= keepFrom)
    .sort((a, b) => endOf(b.parsed) - endOf(a.parsed));
  let bytes = 0;
  for (const object of [...heads, ...data]) {
    await bucket.delete(object.key);
    bytes += object.size;
  }
  return { head, objects: heads.length + data.length, bytes };
}
