/**
 * @module
 * Where a log's store is chosen, once, at open: one file, or a directory of segments when the
 * options give a segment size or the path is a directory. `Wal.open`, `Wal.openReadOnly` and
 * the CLI's readers all open their store here, so they cannot disagree about what a path holds.
 */

import { describeValue, invalidArgument } from "../errors.ts";
import type { BarrierStrength } from "../platform/index.ts";
import { FileStore, type FileStoreOptions } from "./file.ts";
import { type FileSystem, nodeFileSystem } from "./file-system.ts";
import { SegmentTable } from "./segment-table.ts";
import { SegmentedStore, type SegmentedStoreOptions } from "./segmented.ts";
import type { StoreShare } from "./share.ts";
import type { WalStore } from "./store.ts";

/** Options for {@link openStore}: which store, and the options of the one it opens. */
export interface StoreOptions extends FileStoreOptions, SegmentedStoreOptions {
  /**
   * Bytes per segment. With it, `path` is a segmented log's directory (a `SegmentedStore`);
   * without it, a directory is an existing segmented log whose files give the size, and
   * anything else one file (a `FileStore`).
   */
  readonly segmentSize?: number | undefined;
}

/**
 * Opens the store of the log at `path`: a {@link SegmentedStore} with `segmentSize` or for a
 * directory, a {@link FileStore} otherwise; writable and locked, or with `readOnly` neither.
 * @throws WalError as `FileStore.open` or `SegmentedStore.open` does.
 */
export function openStore(path: string, options: StoreOptions = {}): FileStore | SegmentedStore {
  return opensSegments(path, options)
    ? SegmentedStore.open(path, options.segmentSize, options)
    : FileStore.open(path, options);
}

/**
 * Whether {@link openStore} opens `path` as a segmented log: with a segment size, or for a
 * directory. For checks that must refuse an option before the store creates anything.
 */
export function opensSegments(path: string, options: StoreOptions = {}): boolean {
  return (
    options.segmentSize !== undefined || isDirectory(options.fileSystem ?? nodeFileSystem, path)
  );
}

/** Whether `path` is a directory now; false when it is anything else, or cannot be looked at. */
function isDirectory(fs: FileSystem, path: string): boolean {
  if (typeof path !== "string" || path.length === 0) return false;
  try {
    return fs.statSync(path).isDirectory();
  } catch {
    return false; // FileStore.open reports a missing path, or one it cannot look at.
  }
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

export type { StoreShare } from "./share.ts";

/** What another thread needs to attach to `store`; null when no other thread can reach it. */
export function shareOf(store: WalStore): StoreShare | null {
  return store instanceof SegmentedStore || store instanceof FileStore ? store.shareable() : null;
}

/**
 * The {@link StoreShare} `value` (a handle's, received from another thread), checked for its
 * shape; `what` names it in messages.
 * @throws WalError `INVALID_ARGUMENT` when it is not what {@link shareOf} makes.
 */
export function checkStoreShare(value: unknown, what: string): StoreShare {
  const fields = (typeof value === "object" && value !== null ? value : {}) as Record<
    string,
    unknown
  >;
  if (fields.layout === "file") return FileStore.checkShare(fields, what);
  if (fields.layout === "segments") return SegmentTable.checkShare(fields, what);
  throw invalidArgument(`${what} is not a wal-db store's token, got ${describeValue(value)}`);
}

/**
 * A store over the log `share` names, for `Wal.attach` in another thread of the owner's
 * process; `stallTimeout` bounds its waits for other threads' writes.
 * @throws WalError `INVALID_ARGUMENT` when a file's descriptor is not open on its path.
 */
export function attachStore(share: StoreShare, stallTimeout: number): WalStore {
  return share.layout === "file"
    ? FileStore.attach(share)
    : SegmentedStore.attach(share, stallTimeout);
}

/** A store's barrier as the sync thread holds it (see {@link attachRemoteBarrier}). */
export interface AttachedBarrier {
  /** The barrier over the bytes `[from, to)` not yet known durable; returns what it was. */
  barrier(from: number, to: number): BarrierStrength;
  /** Releases what this thread holds for it. */
  close(): void;
}

/**
 * How the sync thread runs the barrier of the store `share` names (`WalStore.remoteBarrier`):
 * through a store of its own attached to the same descriptors, so the barrier is the store's,
 * strength memory and all, and the sync thread never sees a descriptor.
 */
export function attachRemoteBarrier(share: StoreShare): AttachedBarrier {
  // It never waits for a segment (it does not write), so it needs no stall timeout.
  const store = attachStore(share, Number.POSITIVE_INFINITY);
  return { barrier: (from, to) => store.sync(from, to) ?? "full", close: () => store.close() };
}
