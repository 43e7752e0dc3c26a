/**
 * A Worker for terminate-fixture.ts, in one of two roles:
 * - `stuck`: replaces `FileStore.prototype.write` in this Worker's own module instance (other
 *   threads keep the real one) with a write that posts { kind: "in-window", lsn } and blocks
 *   forever, then appends. The append reserves its bytes and never writes them: the Worker
 *   sits in the window between reserving and writing until the fixture terminates it.
 * - `writer`: attaches to the log and runs the calls it is sent one at a time, replying
 *   with its `CallOutcome` (test/support/outcomes.ts).
 */

import { type AttachedWal, Wal, type WalHandle } from "../src/index.ts";
import { FileStore } from "../src/store/file.ts";
import { outcomeOf } from "./support/outcomes.ts";

declare var self: Worker;

/** What the fixture sends: a role first, then (to a writer) calls. */
export type TerminateTask =
  | { readonly kind: "stuck"; readonly handle: WalHandle }
  | { readonly kind: "writer"; readonly handle: WalHandle }
  | {
      readonly kind: "call";
      readonly call: "append" | "appendAndSync" | "sync" | "commit";
      readonly data: string;
    };

let wal: AttachedWal | undefined;

/** Never returns: reserves bytes for one record and blocks before writing them. */
function getStuck(handle: WalHandle): void {
  const forever = new Int32Array(new SharedArrayBuffer(4));
  FileStore.prototype.write = (_source: Uint8Array, _length: number, position: number) => {
    postMessage({ kind: "in-window", lsn: position });
    Atomics.wait(forever, 0, 0);
  };
  Wal.attach(handle).append("the record that is never written");
  postMessage({ kind: "failed", error: "the blocked write returned" });
}

self.onmessage = async (event: MessageEvent) => {
  const task = event.data as TerminateTask;
  try {
    switch (task.kind) {
      case "stuck":
        return getStuck(task.handle);
      case "writer":
        wal = Wal.attach(task.handle);
        return postMessage({ kind: "ready" });
      case "call": {
        const target = wal;
        if (target === undefined) throw new Error("a call before the writer task");
        const run = {
          append: () => target.append(task.data),
          appendAndSync: () => target.appendAndSync(task.data),
          sync: () => target.sync(),
          commit: () => target.commit(task.data),
        }[task.call];
        return postMessage(await outcomeOf(run));
      }
    }
  } catch (error) {
    postMessage({ kind: "failed", error: (error as Error)?.stack ?? String(error) });
  }
};
