/**
 * @module
 * A store's barrier run from another thread of this process (the sync thread of `commit` and
 * `syncAsync`). The store describes it as plain data ({@link RemoteBarrier}, which survives
 * `postMessage`), and the other thread runs it through `attachRemoteBarrier` (store/index.ts): so the
 * descriptors it needs travel, are used and are closed inside the store layer, never by the log.
 */

import type { BarrierStrength } from "../platform/index.ts";
import type { SegmentShare } from "./segment-table.ts";

/**
 * How another thread of this process runs a store's barrier: structured-cloneable data, made
 * by the store's `remoteBarrier()`. Treat it as opaque but for `description`.
 * - `"file"`: a single-file log's descriptor (valid in every thread of the process).
 * - `"segments"`: a segmented log's token, through which the thread joins the segment table
 *   and syncs through its descriptors, opened before the writes they cover (segment-table.ts).
 */
export type RemoteBarrier =
  | {
      readonly kind: "file";
      /** The store's `description`: the log file's path. */
      readonly description: string;
      readonly fd: number;
    }
  | {
      readonly kind: "segments";
      /** The store's `description`: the log's directory. */
      readonly description: string;
      readonly share: SegmentShare;
    };

/** A {@link RemoteBarrier} as the thread that runs it holds it. */
export interface AttachedBarrier {
  /**
   * The store's barrier over the bytes `[from, to)` not yet known durable, on this thread's
   * platform; returns what it was.
   */
  barrier(from: number, to: number): BarrierStrength;
  /** Releases what this thread holds for the barrier. */
  close(): void;
}
