/**
 * A Worker for workers.test.ts. It receives one task, attaches to the log the test's main
 * thread shares with it (`Wal.attach`), does the task and posts its replies:
 *   append          waits at the start gate, appends `count` records, closes its Wal, posts the LSNs
 *   durable         the same, one call at a time, each `appendAndSync` or `await commit` (seeded)
 *   until-failure   like durable with appendAndSync only, posting each LSN as its call returns,
 *                   until a call throws: then it posts the code and stops (kernel-faults.test.ts)
 *   closed          appends one record, then, on "probe" (sent after the owner closed), posts
 *                   the code every call throws
 *   reserve-and-die reserves a frame in the log's shared state and exits without writing it
 *   watchdog        no log: kills the whole test process if the main thread, blocked in a sync
 *                   call, does not release it in time (a hang must fail, not freeze the run)
 * A task that throws posts { kind: "failed" } with the error, which fails the test.
 */

import { writeSync } from "node:fs";
import { SharedLog } from "../src/commit.ts";
import { type AttachedWal, Wal, WalError, type WalHandle } from "../src/index.ts";
import { mulberry32 } from "./support/random.ts";
import { recordPayload, type SizeRange } from "./support/workers.ts";

declare var self: Worker;

/** What the main thread asks a writer to do. */
export type WriterTask =
  | {
      readonly kind: "append" | "durable";
      readonly handle: WalHandle;
      /** Int32Array over a SharedArrayBuffer: cell 0 turns 1 when every Worker may start. */
      readonly gate: Int32Array;
      readonly worker: number;
      readonly count: number;
      readonly seed: number;
      readonly sizes: SizeRange;
    }
  | {
      readonly kind: "until-failure";
      readonly handle: WalHandle;
      readonly worker: number;
      readonly seed: number;
      readonly sizes: SizeRange;
    }
  | { readonly kind: "closed"; readonly handle: WalHandle }
  | { readonly kind: "probe" }
  | { readonly kind: "reserve-and-die"; readonly handle: WalHandle; readonly size: number }
  | {
      readonly kind: "watchdog";
      /** Int32Array over a SharedArrayBuffer: the main thread stores 1 in cell 0 to release. */
      readonly flag: Int32Array;
      readonly timeoutMs: number;
      readonly what: string;
    };

/** Replies, in the order each task posts them. */
export type WriterReply =
  | { readonly kind: "ready" }
  | {
      readonly kind: "done";
      readonly lsns: number[];
      /** For "durable": how many of the calls were `appendAndSync` and `commit`. */
      readonly appendAndSyncCalls: number;
      readonly commitCalls: number;
    }
  | { readonly kind: "appended"; readonly lsn: number }
  /** For "until-failure": call `seq` returned, its record durable at `lsn`. */
  | { readonly kind: "acked"; readonly seq: number; readonly lsn: number }
  /** For "until-failure": call `seq` threw `code`, and the Worker stopped. */
  | { readonly kind: "stopped"; readonly seq: number; readonly code: string }
  | { readonly kind: "codes"; readonly codes: Record<string, string> }
  | { readonly kind: "reserved"; readonly lsn: number }
  | { readonly kind: "armed" }
  | { readonly kind: "released" };

let attached: AttachedWal | undefined;

const post = (reply: WriterReply) => postMessage(reply);

/** What `run` threw, as `WalError` code "CLOSED" etc., or a description of anything else. */
async function codeOf(run: () => unknown): Promise<string> {
  try {
    await run();
  } catch (error) {
    return error instanceof WalError ? error.code : `not a WalError: ${String(error)}`;
  }
  return "no error";
}

async function write(task: Extract<WriterTask, { kind: "append" | "durable" }>): Promise<void> {
  const wal = Wal.attach(task.handle);
  post({ kind: "ready" });
  // Every Worker starts together, so their appends interleave as much as the machine allows.
  Atomics.wait(task.gate, 0, 0);
  const choose = mulberry32(task.seed ^ (task.worker + 1));
  const lsns: number[] = [];
  let appendAndSyncCalls = 0;
  let commitCalls = 0;
  for (let seq = 0; seq < task.count; seq++) {
    const payload = recordPayload(task.seed, task.worker, seq, task.sizes);
    if (task.kind === "append") {
      lsns.push(wal.append(payload));
    } else if (choose() % 2 === 0) {
      appendAndSyncCalls++;
      lsns.push(wal.appendAndSync(payload));
    } else {
      // One call at a time: this thread never has two durable calls in flight, so any barrier
      // shared between calls is shared with another thread.
      commitCalls++;
      lsns.push(await wal.commit(payload));
    }
  }
  wal.close();
  post({ kind: "done", lsns, appendAndSyncCalls, commitCalls });
}

function untilFailure(task: Extract<WriterTask, { kind: "until-failure" }>): void {
  const wal = Wal.attach(task.handle);
  for (let seq = 0; ; seq++) {
    const payload = recordPayload(task.seed, task.worker, seq, task.sizes);
    let lsn: number;
    try {
      lsn = wal.appendAndSync(payload);
    } catch (error) {
      post({ kind: "stopped", seq, code: error instanceof WalError ? error.code : String(error) });
      return;
    }
    post({ kind: "acked", seq, lsn });
  }
}

async function probeClosed(wal: AttachedWal): Promise<void> {
  const codes: Record<string, string> = {
    append: await codeOf(() => wal.append("after the owner closed")),
    appendAndSync: await codeOf(() => wal.appendAndSync("after the owner closed")),
    sync: await codeOf(() => wal.sync()),
    commit: await codeOf(() => wal.commit("after the owner closed")),
  };
  post({ kind: "codes", codes });
}

/**
 * Does what a Worker that dies mid-append leaves behind: takes a write slot and reserves a
 * frame of 8 + `size` bytes in the log's shared state (src/commit.ts, white-box), then exits
 * without writing it, freeing the slot or closing anything, as a terminated Worker would.
 */
function reserveAndDie(handle: WalHandle, size: number): void {
  const shared = SharedLog.attach(handle.buffer, handle.stallTimeout);
  if (shared === null) throw new Error("the handle carries no shared log state");
  const lsn = shared.reserve(shared.takeWriteSlot(0), 8 + size);
  post({ kind: "reserved", lsn });
  process.exit(0);
}

function watch(task: Extract<WriterTask, { kind: "watchdog" }>): void {
  post({ kind: "armed" });
  if (Atomics.wait(task.flag, 0, 0, task.timeoutMs) === "timed-out") {
    // The main thread is blocked and cannot fail the test itself; the run must not freeze.
    writeSync(2, `\nwatchdog: ${task.what} still blocked after ${task.timeoutMs} ms; killing\n`);
    process.kill(process.pid, "SIGKILL");
  }
  post({ kind: "released" });
  process.exit(0);
}

self.onmessage = async (event: MessageEvent) => {
  const task = event.data as WriterTask;
  try {
    switch (task.kind) {
      case "append":
      case "durable":
        return await write(task);
      case "until-failure":
        return untilFailure(task);
      case "closed":
        attached = Wal.attach(task.handle);
        return post({ kind: "appended", lsn: attached.append("before the owner closed") });
      case "probe":
        if (attached === undefined) throw new Error("probe before the closed task");
        return await probeClosed(attached);
      case "reserve-and-die":
        return reserveAndDie(task.handle, task.size);
      case "watchdog":
        return watch(task);
    }
  } catch (error) {
    const code = error instanceof WalError ? ` (${error.code})` : "";
    postMessage({ kind: "failed", error: `${(error as Error)?.stack ?? String(error)}${code}` });
  }
};
