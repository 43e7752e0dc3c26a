/**
 * @module
 * `log.json`, the one object that says a prefix holds a wal-db archive and of what segment size:
 * written by the archiver before anything else, read by the restore, the prune and the
 * archiver's restart.
 */

import { describeValue, invalidArgument, WalError } from "../errors.ts";
import type { ArchiveBucket } from "./bucket.ts";
import { ARCHIVE_FORMAT, archiveKeys, type ListedObject } from "./layout.ts";

/** More than `log.json` ever holds: a larger object there is not ours, and is not downloaded. */
const META_SIZE_LIMIT = 4096;

/** The bytes of `log.json` for a log of `segmentSize`-byte segments. */
export function archiveMetaBytes(segmentSize: number): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ format: ARCHIVE_FORMAT, segmentSize }));
}

/**
 * The segment size `log.json` names, or null when the listing has no `log.json`.
 * @throws WalError `INVALID_ARGUMENT` when it is not a wal-db archive's; `ARCHIVE`.
 */
export async function readArchiveMeta(
  bucket: ArchiveBucket,
  listing: readonly ListedObject[],
): Promise<number | null> {
  const meta = listing.find((object) => object.key === archiveKeys.meta);
  if (meta === undefined) return null;
  if (meta.size > META_SIZE_LIMIT)
    throw metaError(bucket, `holds ${meta.size} bytes, far more than it writes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(await bucket.get(meta.key, meta.size)));
  } catch (error) {
    if (error instanceof WalError) throw error;
    throw metaError(bucket, "is not JSON");
  }
  const { format, segmentSize } = (parsed ?? {}) as { format?: unknown; segmentSize?: unknown };
  if (format !== ARCHIVE_FORMAT)
    throw metaError(bucket, `names the format ${describeValue(format)}, not ${ARCHIVE_FORMAT}`);
  if (!Number.isSafeInteger(segmentSize) || (segmentSize as number) < 1)
    throw metaError(bucket, `names no segment size (${describeValue(segmentSize)})`);
  return segmentSize as number;
}

/**
 * The segment size of the archive the listing shows: what a restore, a verify or a prune reads
 * first.
 * @throws WalError `NOT_FOUND` when there is no `log.json` (no archive at the URL); as
 * {@link readArchiveMeta}.
 */
export async function archivedSegmentSize(
  bucket: ArchiveBucket,
  listing: readonly ListedObject[],
): Promise<number> {
  const segmentSize = await readArchiveMeta(bucket, listing);
  if (segmentSize === null) {
    throw new WalError(
      "NOT_FOUND",
      `${bucket.url} holds no wal-db archive (no ${archiveKeys.meta}): check the URL`,
    );
  }
  return segmentSize;
}

function metaError(bucket: ArchiveBucket, what: string): WalError {
  return invalidArgument(`${bucket.url}/${archiveKeys.meta} ${what}: it is not a wal-db archive`);
}
