/**
 * A child that opens one path the way a test says and prints what happened as one JSON line:
 * `{ "code": ..., "message": ..., "rssGrowth": ... }` (code null when the open succeeded).
 * Opens that could hang (a FIFO) or read without end (a device) run here, so that a hang
 * fails the parent's test at its timeout instead of stalling the suite.
 *
 * Usage: bun test/open-fixture.ts <open|openReadOnly> <path> [segmentSize]
 */

import { Wal, WalError } from "../src/index.ts";

const [call, path, segmentSize] = process.argv.slice(2);
const options = segmentSize === undefined ? {} : { segmentSize: Number(segmentSize) };
const rssBefore = process.memoryUsage().rss;
let code: string | null = null;
let message = "";
try {
  const wal = call === "openReadOnly" ? Wal.openReadOnly(path!, options) : Wal.open(path!, options);
  message = `opened with ${wal.recovery.records} records`;
  wal.close();
} catch (error) {
  code = error instanceof WalError ? error.code : "UNTYPED";
  message = error instanceof Error ? error.message : String(error);
}
const rssGrowth = process.memoryUsage().rss - rssBefore;
console.log(JSON.stringify({ code, message, rssGrowth }));
