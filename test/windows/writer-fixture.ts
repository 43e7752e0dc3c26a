/**
 * A writer the Windows suite kills hard (TerminateProcess under Wine):
 *   bun writer-fixture.ts <log path> [segmentSize]
 * Opens the log, then appends and syncs records "record <i>" one at a time, printing
 * `ACK <i> <lsn>` once each `appendAndSync` has returned, until it is killed.
 */

import { Wal } from "../../src/index.ts";

const [path, segmentText] = process.argv.slice(2);
if (path === undefined) {
  console.error("usage: writer-fixture.ts <log path> [segmentSize]");
  process.exit(2);
}
const wal = Wal.open(path, segmentText === undefined ? {} : { segmentSize: Number(segmentText) });
console.log("OPEN");
for (let i = 0; ; i++) {
  const lsn = wal.appendAndSync(`record ${i}`);
  console.log(`ACK ${i} ${lsn}`);
  if (i % 16 === 15) await Bun.sleep(0); // let stdout drain, so the parent sees ACKs as they come
}
