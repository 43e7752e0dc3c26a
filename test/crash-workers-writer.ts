/**
 * A Worker for crash-workers-fixture.ts: attaches to the shared log and writes records until
 * the process is killed, one durable call at a time ("appendAndSync" or "commit"). After each
 * call returns it posts { lsn, seq }: only then is the record acknowledged. A thrown error is
 * posted as { kind: "failed" }.
 */

import { Wal } from "../src/index.ts";
import { recordPayload, type SizeRange } from "./support/workers.ts";

declare var self: Worker;

/** What the fixture sends each Worker. */
export interface CrashWriterTask {
  readonly handle: ReturnType<Wal["share"]>;
  readonly worker: number;
  readonly seed: number;
  readonly sizes: SizeRange;
  readonly call: "appendAndSync" | "commit";
  /** A bound, so a Worker whose process was never killed stops by itself. */
  readonly countMax: number;
}

/** Posted after each durable call returned. */
export interface CrashWriterAck {
  readonly kind: "ack";
  readonly worker: number;
  readonly seq: number;
  readonly lsn: number;
}

self.onmessage = async (event: MessageEvent) => {
  const task = event.data as CrashWriterTask;
  try {
    const wal = Wal.attach(task.handle);
    for (let seq = 0; seq < task.countMax; seq++) {
      const payload = recordPayload(task.seed, task.worker, seq, task.sizes);
      const lsn =
        task.call === "appendAndSync" ? wal.appendAndSync(payload) : await wal.commit(payload);
      postMessage({ kind: "ack", worker: task.worker, seq, lsn } satisfies CrashWriterAck);
    }
    wal.close();
    postMessage({ kind: "finished", worker: task.worker });
  } catch (error) {
    postMessage({ kind: "failed", error: (error as Error)?.stack ?? String(error) });
  }
};
