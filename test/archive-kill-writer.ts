/**
 * The writer child of archive-kill.test.ts: opens a segmented log, archives it to the S3 server
 * the parent started, and commits records from 8 concurrent committers until it is SIGKILLed,
 * printing `archived <lsn>` straight to stdout each time the archiver reports an advance, so
 * every line the parent reads was said after the archive held it.
 *
 * Arguments: <log dir> <s3://bucket/prefix> <endpoint> [lie]. With `lie`, the negative control,
 * it prints each commit's end as soon as the commit is durable, before the archive holds it.
 */

import { writeSync } from "node:fs";
import { Wal } from "../src/index.ts";
import { archivedPayload } from "./support/archive-records.ts";
import { CREDENTIALS } from "./support/s3.ts";

const [path, url, endpoint, lie] = process.argv.slice(2) as [string, string, string, string?];
const wal = Wal.open(path, { segmentSize: 4096 });
const archiver = await wal.archive({
  to: url,
  interval: 15,
  maxBackoff: 100,
  endpoint,
  ...CREDENTIALS,
  onArchived: (lsn) => {
    if (lie === undefined) writeSync(1, `archived ${lsn}\n`);
  },
});
writeSync(1, "started\n");
let next = 0;
await Promise.all(
  Array.from({ length: 8 }, async () => {
    for (;;) {
      const payload = archivedPayload(next++);
      const lsn = await wal.commit(payload);
      if (lie !== undefined) writeSync(1, `archived ${lsn + 8 + payload.length}\n`);
    }
  }),
);
await archiver.close();
