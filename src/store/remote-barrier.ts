/**
 * @module
 * A store's barrier run from another thread of this process (the sync thread of `commit` and
 * `syncAsync`). The store describes it as plain data ({@link RemoteBarrier}, which survives
 * `postMessage`), and the other thread runs it through {@link attachRemoteBarrier}: so the
 * descriptors it needs travel, are used and are closed inside the store layer, never by the log.
 */

import { closeSync } from "node:fs";
import { join } from "node:path";
import { type BarrierStrength, currentPlatform } from "../platform/index.ts";
import { BarrierHandoff, type SegmentDescriptor } from "./barrier-handoff.ts";
import { segmentName } from "./segment-layout.ts";

/**
 * How another thread of this process runs a store's barrier: structured-cloneable data, made
 * by the store's `remoteBarrier()`. Treat it as opaque but for `description`.
 * - `"file"`: a single-file log's descriptor (valid in every thread of the process).
 * - `"segments"`: a segmented log's mailbox through which the store hands over a descriptor of
 *   the newest segment, opened before the writes it covers (see barrier-handoff.ts).
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
      readonly handoff: SharedArrayBuffer;
    };

/** A {@link RemoteBarrier} as the thread that runs it holds it. */
export interface AttachedBarrier {
  /** The store's barrier, on this thread's platform; returns what it was. */
  barrier(): BarrierStrength;
  /** Releases what this thread owns for the barrier (a handed-over descriptor). */
  close(): void;
}

/**
 * The barrier `remote` describes, for the thread that runs it: the platform's barrier on the
 * log file's descriptor, or on the newest segment's descriptor handed over by the store.
 *
 * It remembers what its last barrier returned and passes it to the next one: `"fsync"` once
 * the log's file system refused the full barrier, so that this thread does not ask for it
 * again on every barrier (the store in the owner's thread keeps its own). One for every file
 * it syncs: the log file, or the segments of one directory, which share one file system.
 */
export function attachRemoteBarrier(remote: RemoteBarrier): AttachedBarrier {
  const platform = currentPlatform();
  let strength: BarrierStrength = "full";
  if (remote.kind === "file") {
    return {
      barrier() {
        strength = platform.barrier(remote.fd, remote.description, strength);
        return strength;
      },
      close() {
        // The descriptor is the owner's store's: it closes it.
      },
    };
  }
  const directory = remote.description;
  const handoff = BarrierHandoff.attach(remote.handoff);
  /** The newest segment's descriptor this thread owns; closed by `close`. */
  let segment: SegmentDescriptor | null = null;
  return {
    // A segmented log's barrier: on the newest segment, through a descriptor the store opened
    // before writing to it and handed over (barrier-handoff.ts). Every older segment was
    // synced full when the next one was created, so the newest is the only one that needs it.
    barrier() {
      const posted = handoff.take();
      if (posted !== null) {
        if (segment !== null) closeSync(segment.fd);
        segment = posted;
      }
      if (segment === null) throw new Error(`no segment of ${directory} was handed over`);
      const path = join(directory, segmentName(segment.index));
      strength = platform.barrier(segment.fd, path, strength);
      return strength;
    },
    close() {
      if (segment !== null) closeSync(segment.fd);
      segment = null;
    },
  };
}
