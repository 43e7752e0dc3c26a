/**
 * @module
 * A store's token for another thread of this process: what `Wal.share` puts in its handle for
 * `Wal.attach`, and what a `Wal` hands its sync thread to run the store's barrier. Plain data
 * and `SharedArrayBuffer`s, so it survives `postMessage`; store/index.ts checks and opens it, so
 * the descriptors it names travel, are used and are closed inside the store layer only.
 */

/**
 * A single-file log's token: made by `FileStore.shareable`, checked by `FileStore.checkShare`,
 * opened by `FileStore.attach`. The descriptor is valid in every thread of this process and
 * nowhere else.
 */
export interface FileShare {
  readonly layout: "file";
  /** The log file's descriptor in this process. */
  readonly fd: number;
  /** The log file's absolute path, which `attach` checks the descriptor is open on. */
  readonly path: string;
}

/**
 * A segmented log's token: made by `SegmentedStore.shareable`, checked by
 * `SegmentTable.checkShare`, opened by `SegmentedStore.attach`. Its descriptors are in the table
 * (segment-table.ts), valid in every thread of this process and nowhere else.
 */
export interface SegmentShare {
  readonly layout: "segments";
  /** The log's directory, absolute. */
  readonly path: string;
  readonly segmentSize: number;
  /** The segment table's buffer. */
  readonly table: SharedArrayBuffer;
}

/** Either store's token. */
export type StoreShare = FileShare | SegmentShare;
