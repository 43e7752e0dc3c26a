/**
 * @module
 * The body of a sync thread (see `sync-thread.ts`): receives the log's shared state once, then
 * for each target LSN it is sent runs the blocking group-commit sync on its own thread and
 * answers `null` (durable) or the cloned error; "stop" ends it.
 */

import { type Barrier, SharedLog } from "./commit.ts";
import { currentPlatform } from "./platform/index.ts";
import { syncSegments } from "./store/segmented.ts";
import { cloneError, type SyncThreadInit } from "./sync-thread.ts";

declare const self: Worker;

let sync = (_target: number): void => {
  throw new Error("the sync thread got a target before its log");
};

self.onmessage = (event: MessageEvent<SyncThreadInit | number | "stop">) => {
  const message = event.data;
  // Messages run in order: a stop waits for the sync before it, which releases the token.
  if (message === "stop") process.exit(0);
  if (typeof message !== "number") {
    const log = SharedLog.attach(message.buffer, message.stallTimeout);
    if (log === null) throw new Error("the sync thread got no valid shared log state");
    const id = log.newId();
    const platform = currentPlatform();
    const target = message.target;
    const barrier: Barrier =
      target.kind === "file"
        ? () => platform.barrier(target.fd, target.path)
        : (from, to) => syncSegments(platform, target.directory, target.segmentSize, from, to);
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
