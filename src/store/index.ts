/**
 * @module
 * Where a log's store is chosen, once, at open: one file, or a directory of segments when the
 * options give a segment size. `Wal.open`, `Wal.openReadOnly` and the CLI's readers all open
 * their store here, so they cannot disagree about what a path holds.
 */

import { FileStore, type FileStoreOptions } from "./file.ts";
import { SegmentedStore, type SegmentedStoreOptions } from "./segmented.ts";

/** Options for {@link openStore}: which store, and the options of the one it opens. */
export interface StoreOptions extends FileStoreOptions, SegmentedStoreOptions {
  /**
   * Bytes per segment. With it, `path` is a segmented log's directory (a `SegmentedStore`);
   * without it, `path` is one file (a `FileStore`).
   */
  readonly segmentSize?: number | undefined;
}

/**
 * Opens the store of the log at `path`: a {@link SegmentedStore} with `segmentSize`, a
 * {@link FileStore} without; writable and locked, or with `readOnly` neither.
 * @throws WalError as `FileStore.open` or `SegmentedStore.open` does.
 */
export function openStore(path: string, options: StoreOptions = {}): FileStore | SegmentedStore {
  return options.segmentSize === undefined
    ? FileStore.open(path, options)
    : SegmentedStore.open(path, options.segmentSize, options);
}
