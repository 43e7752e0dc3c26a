/**
 * A Worker for commit.win.ts: attaches to the log it is sent (`Wal.attach`), appends `count`
 * records "worker <i>" (padded with dots to 100 bytes, so a segmented log rolls), makes them
 * durable with one `commit` each, and posts their LSNs.
 */

import { Wal, type WalHandle } from "../../src/index.ts";

declare var self: Worker;

self.onmessage = async (event: MessageEvent<{ handle: WalHandle; count: number }>) => {
  const { handle, count } = event.data;
  const wal = Wal.attach(handle);
  const lsns: number[] = [];
  for (let i = 0; i < count; i++) lsns.push(await wal.commit(`worker ${i}`.padEnd(100, ".")));
  wal.close();
  self.postMessage(lsns);
};
