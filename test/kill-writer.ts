/**
 * A writer Worker of kill-fixture.ts: attaches to the shared log (one file, or segments) and writes its
 * records (test/support/kill-records.ts) until the process is SIGKILLed, printing each ACK line
 * itself, straight to stdout, once the durable call covering the record returned. An error is
 * posted to the fixture as { kind: "failed", code, message }; `code` is the WalError code, or
 * "untyped" for anything else.
 */

import { Wal, WalError, type WalHandle } from "../src/index.ts";
import { type WriterPlan, writeRecords } from "./support/kill-records.ts";

declare var self: Worker;

/** What the fixture sends each writer Worker. */
export interface KillWriterTask {
  readonly handle: WalHandle;
  readonly plan: WriterPlan;
}

/** What a writer Worker posts when its loop threw. */
export interface KillWriterFailure {
  readonly kind: "failed";
  readonly code: string;
  readonly message: string;
}

self.onmessage = async (event: MessageEvent) => {
  const task = event.data as KillWriterTask;
  try {
    await writeRecords(Wal.attach(task.handle), task.plan);
    throw new Error("wrote countMax records: the parent never killed the process");
  } catch (error) {
    postMessage({
      kind: "failed",
      code: error instanceof WalError ? error.code : "untyped",
      message: (error as Error)?.stack ?? String(error),
    } satisfies KillWriterFailure);
  }
};
