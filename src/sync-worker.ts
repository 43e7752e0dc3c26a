/**
 * @module
 * The body of a sync thread (see `sync-thread.ts`): receives the log's shared state once, then
 * for each target LSN it is sent runs the blocking group-commit sync on its own thread and
 * answers `null` (durable) or the cloned error; "stop" ends it.
 */

import { closeSync } from "node:fs";
import { join } from "node:path";
import { type Barrier, SharedLog } from "./commit.ts";
import { type BarrierStrength, currentPlatform, type Platform } from "./platform/index.ts";
import { BarrierHandoff, type SegmentDescriptor } from "./store/barrier-handoff.ts";
import { segmentName } from "./store/segment-layout.ts";
import { cloneError, type SyncThreadInit } from "./sync-thread.ts";

declare const self: Worker;

let sync = (_target: number): void => {
  throw new Error("the sync thread got a target before its log");
};

/** The newest segment's descriptor this thread owns (segmented logs only); closed on stop. */
let segment: SegmentDescriptor | null = null;

/**
 * What this thread's last barrier returned, passed back to the next one: `"fsync"` once the
 * log's file system refused the full barrier, so that this thread does not ask for it again on
 * every barrier (the store in the owner's thread keeps its own). One for every file this thread
 * syncs: the log file, or the segments of one directory, which share one file system.
 */
let strength: BarrierStrength = "full";

/** The platform's barrier on `fd`, told what the last one was; returns what this one was. */
function barrierOn(platform: Platform, fd: number, path: string): BarrierStrength {
  strength = platform.barrier(fd, path, strength);
  return strength;
}

/**
 * A segmented log's barrier: on the newest segment, through a descriptor the store opened
 * before writing to it and handed over (store/barrier-handoff.ts). Every older segment was
 * synced full when the next one was created, so the newest is the only one that needs it.
 */
function segmentBarrier(platform: Platform, directory: string, handoff: BarrierHandoff): Barrier {
  return () => {
    const posted = handoff.take();
    if (posted !== null) {
      if (segment !== null) closeSync(segment.fd);
      segment = posted;
    }
    if (segment === null) throw new Error(`no segment of ${directory} was handed over`);
    return barrierOn(platform, segment.fd, join(directory, segmentName(segment.index)));
  };
}

self.onmessage = (event: MessageEvent<SyncThreadInit | number | "stop">) => {
  const message = event.data;
  // Messages run in order: a stop waits for the sync before it, which releases the token.
  if (message === "stop") {
    if (segment !== null) closeSync(segment.fd);
    process.exit(0);
  }
  if (typeof message !== "number") {
    const log = SharedLog.attach(message.buffer, message.stallTimeout);
    if (log === null) throw new Error("the sync thread got no valid shared log state");
    const id = log.newId();
    const platform = currentPlatform();
    const target = message.target;
    const barrier: Barrier =
      target.kind === "file"
        ? () => barrierOn(platform, target.fd, target.path)
        : segmentBarrier(platform, target.directory, BarrierHandoff.attach(target.handoff));
    // Everything reserved before the request: a cut since then only shortens the wait.
    sync = (lsn) => log.syncTo(lsn, null, id, barrier);
    return;
  }
  try {
    sync(message);
    self.postMessage(null);
  } catch (error) {
    self.postMessage(cloneError(error));
  }
};
