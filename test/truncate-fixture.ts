/**
 * A writer that cuts its log and dies hard. Started by segments.test.ts:
 *   bun truncate-fixture.ts <log path> <segment size, 0 for a single file>
 * Appends "record 0" .. "record 9" and syncs, cuts after "record 4" (printing KEPT 4), appends
 * "after the cut" without a sync (printing APPENDED <lsn>), then SIGKILLs itself. Nothing of
 * records 5 to 9 may come back on reopen. In a segmented log each record is padded with dots
 * to half a segment, so that the ten span five segments and the cut deletes some.
 */

import { Wal } from "../src/index.ts";

const [path, size] = process.argv.slice(2);
const segmentSize = Number(size);
const wal = Wal.open(path!, segmentSize > 0 ? { segmentSize } : {});
const pad = ".".repeat(Math.max(0, segmentSize / 2 - 16));
const lsns = Array.from({ length: 10 }, (_, i) => wal.append(`record ${i}${pad}`));
wal.sync();
wal.truncateAfter(lsns[4]!);
console.log("KEPT 4");
console.log(`APPENDED ${wal.append("after the cut")}`);
process.kill(process.pid, "SIGKILL");
