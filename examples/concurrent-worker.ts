/**
 * The Worker that examples/concurrent.ts starts (not run on its own): it joins the owner's log
 * with `Wal.attach`, commits its records concurrently, and reports their LSNs.
 */

import { Wal, type WalHandle } from "wal-db";

declare const self: Worker;

/** What the owner sends: the log's handle, this Worker's name, how many records to commit. */
export interface WriterTask {
  readonly handle: WalHandle;
  readonly name: string;
  readonly count: number;
}

self.onmessage = async ({ data }: MessageEvent<WriterTask>) => {
  const wal = Wal.attach(data.handle); // same file, same LSN space, barriers shared
  const lsns = await Promise.all(
    Array.from({ length: data.count }, (_, i) => wal.commit(`${data.name} ${i}`)),
  );
  wal.close(); // detaches this thread; the owner's log stays open
  self.postMessage(lsns);
};
