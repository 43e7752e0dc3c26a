/**
 * @module
 * The body of a sync thread (see `sync-thread.ts`): receives the log's shared state once, then
 * for each target LSN it is sent runs the blocking group-commit sync on its own thread and
 * answers `null` (durable) or the cloned error; "stop" ends it. The barrier itself is the
 * store's, run through a store attached to the owner's (store/index.ts, `attachRemoteBarrier`):
 * this thread never sees a file descriptor.
 */

import { SharedLog } from "./commit.ts";
import { type AttachedBarrier, attachRemoteBarrier } from "./store/index.ts";
import { cloneError, type SyncThreadInit } from "./sync-thread.ts";

declare const self: Worker;

let sync = (_target: number): void => {
  throw new Error("the sync thread got a target before its log");
};

/** The store's barrier as this thread runs it; released on stop. */
let remote: AttachedBarrier | null = null;

self.onmessage = (event: MessageEvent<SyncThreadInit | number | "stop">) => {
  const message = event.data;
  // Messages run in order: a stop waits for the sync before it, which releases the token.
  if (message === "stop") {
    remote?.close();
    process.exit(0);
  }
  if (typeof message !== "number") {
    const log = SharedLog.attach(message.buffer, message.stallTimeout);
    if (log === null) throw new Error("the sync thread got no valid shared log state");
    const id = log.newId();
    const barrier = attachRemoteBarrier(message.target);
    remote = barrier;
    // Everything reserved before the request: a cut since then only shortens the wait.
    sync = (lsn) => log.syncTo(lsn, null, id, (from, to) => barrier.barrier(from, to));
    return;
  }
  try {
    sync(message);
    self.postMessage(null);
  } catch (error) {
    self.postMessage(cloneError(error));
  }
};
