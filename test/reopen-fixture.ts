/**
 * A process that reopens a log another process left, and writes durably to it:
 *   bun reopen-fixture.ts <log path> <label> <count> <payload size> [segment size]
 * Opens the log (single-file with `preallocate: 0`, or segmented with the segment size),
 * prints `RECOVERED <records> <end>` from its recovery report, then appends `count` records
 * `payloadOf(label, i, size)` (test/support/payloads.ts) with `appendAndSync`, printing
 * `ACK <i> <lsn>` once each is acknowledged, and closes. Used by kernel-faults.test.ts for the
 * reopen after a failed barrier done by another process than the one that saw the failure.
 */

import { Wal } from "../src/index.ts";
import { payloadOf } from "./support/payloads.ts";

const [path, label, count, size, segmentSize] = process.argv.slice(2);
if (path === undefined || label === undefined || count === undefined || size === undefined) {
  console.error(
    "usage: reopen-fixture.ts <log path> <label> <count> <payload size> [segment size]",
  );
  process.exit(2);
}

const wal = Wal.open(
  path,
  segmentSize === undefined ? { preallocate: 0 } : { segmentSize: Number(segmentSize) },
);
console.log(`RECOVERED ${wal.recovery.records} ${wal.recovery.end}`);
for (let index = 0; index < Number(count); index++) {
  const lsn = wal.appendAndSync(payloadOf(label, index, Number(size)));
  console.log(`ACK ${index} ${lsn}`);
}
wal.close();
