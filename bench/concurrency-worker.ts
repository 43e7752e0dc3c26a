/**
 * A Worker of bench/concurrency.ts's shared-log rows. It says "loaded" once it can hear; given
 * `{ handle, payload, operations }` it attaches to the log, makes one warm-up appendAndSync and
 * says "ready"; on "go" it makes `operations` appendAndSync calls, detaches and answers with
 * the sum of their LSNs.
 */

import { type AttachedWal, Wal, type WalHandle } from "../src/index.ts";

declare const self: Worker;

interface Start {
  readonly handle: WalHandle;
  readonly payload: Uint8Array;
  readonly operations: number;
}

let wal: AttachedWal | undefined;
let start: Start | undefined;

self.onmessage = (event: MessageEvent<Start | "go">) => {
  if (event.data !== "go") {
    start = event.data;
    wal = Wal.attach(start.handle);
    wal.appendAndSync(start.payload);
    postMessage("ready");
    return;
  }
  const { payload, operations } = start!;
  let sum = 0;
  for (let i = 0; i < operations; i++) sum += wal!.appendAndSync(payload);
  wal!.close();
  postMessage(sum);
};

postMessage("loaded");
