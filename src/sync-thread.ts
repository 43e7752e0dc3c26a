/**
 * @module
 * Runs group-commit barriers off the event loop. `commit` and `syncAsync` must not block the
 * thread that awaits them, but a barrier is a blocking syscall; so each `Wal` whose store can
 * run its barrier from another thread (`WalStore.remoteBarrier`: the file and segmented stores)
 * starts one small Worker (`sync-worker.ts`, on first use) that runs the same blocking
 * `SharedLog.syncTo` every other syncer runs, elected through the same token, and answers with
 * a message. The barrier inside it is the store's (`attachRemoteBarrier`, store/index.ts): neither this file
 * nor the Worker touches a file descriptor. Messages, not `Atomics.waitAsync`: in Bun 1.4 a
 * wake-up sent from another thread to `waitAsync` is sometimes lost, which would strand a
 * commit.
 */

import { IoError, WalError, type WalErrorCode } from "./errors.ts";
import type { StoreShare } from "./store/share.ts";

/** What the sync Worker needs to reach the log: its shared state and its store's barrier. */
export interface SyncThreadInit {
  readonly buffer: SharedArrayBuffer;
  readonly stallTimeout: number;
  readonly target: StoreShare;
}

/** A failure as it crosses back from the sync Worker: enough to rebuild the `WalError`. */
export interface ClonedError {
  readonly code: WalErrorCode;
  readonly message: string;
  readonly errno?: string;
  readonly syscall?: string;
}

/** One sync Worker; runs one `syncTo` at a time (the `Wal` never asks for two at once). */
export class SyncThread {
  private readonly worker: Worker;
  private pending: { resolve: () => void; reject: (error: unknown) => void } | undefined;
  /** Why the thread stopped, once it did: what every later `run` rejects with. */
  private failure: unknown;

  constructor(init: SyncThreadInit) {
    this.worker = new Worker(new URL("./sync-worker.ts", import.meta.url).href);
    // An idle sync thread must not keep the process alive; a pending `run` refs it again.
    this.worker.unref();
    const where = init.target.path;
    this.worker.onmessage = (event: MessageEvent<ClonedError | null>) => {
      const error = event.data === null ? undefined : rebuildError(event.data, where);
      this.settle(error);
    };
    this.worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.failure = new WalError("IO", `the sync thread of ${where} failed: ${event.message}`);
      this.settle(this.failure);
    };
    this.worker.postMessage(init);
  }

  /** Resolves once every byte below `target` is durable; rejects with the sync's `WalError`. */
  run(target: number): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    this.worker.ref();
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage(target);
    });
  }

  /**
   * Ends the Worker once it finishes the sync it is running; a `run` still pending rejects
   * with `reason` at once. Never `terminate()`: killed between its barrier and releasing the
   * token, the Worker would leave every other syncer of the log waiting for a dead leader.
   */
  stop(reason: unknown): void {
    this.failure = reason;
    this.worker.postMessage("stop");
    this.settle(reason);
  }

  private settle(error: unknown): void {
    const pending = this.pending;
    this.pending = undefined;
    this.worker.unref();
    if (error === undefined) pending?.resolve();
    else pending?.reject(error);
  }
}

/** The clonable form of an error thrown in the sync Worker. */
export function cloneError(error: unknown): ClonedError {
  if (error instanceof IoError) {
    return { code: error.code, message: error.message, errno: error.errno, syscall: error.syscall };
  }
  if (error instanceof WalError) return { code: error.code, message: error.message };
  return { code: "IO", message: `the sync thread failed: ${String(error)}` };
}

function rebuildError(cloned: ClonedError, path: string): WalError {
  if (cloned.code === "IO" && cloned.errno !== undefined && cloned.syscall !== undefined) {
    const cause = Object.assign(new Error(cloned.message), { code: cloned.errno });
    return new IoError(cloned.syscall, path, cloned.errno, cause);
  }
  return new WalError(cloned.code, cloned.message);
}
