/**
 * @module
 * Where a log's store is chosen, once, at open: one file, or a directory of segments when the
 * options give a segment size. `Wal.open`, `Wal.openReadOnly` and the CLI's readers all open
 * their store here, so they cannot disagree about what a path holds.
 */

import { invalidArgument } from "../errors.ts";
import { FileStore, type FileStoreOptions } from "./file.ts";
import { SegmentedStore, type SegmentedStoreOptions } from "./segmented.ts";
import type { WalStore } from "./store.ts";

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

/**
 * Checks that `store`, from a caller of `Wal.withStore`, has the methods every `WalStore` has.
 * @throws WalError `INVALID_ARGUMENT` naming the first one missing.
 */
export function checkStore(store: unknown): asserts store is WalStore {
  for (const method of ["read", "write", "truncate", "sync", "close"] as const) {
    if (typeof (store as Partial<WalStore> | null)?.[method] !== "function") {
      throw invalidArgument(`store must implement WalStore; ${method}() is missing`);
    }
  }
}
