/**
 * The S3-compatible server of bench/archive.ts, in a process of its own: test/support/s3.ts's
 * `startLocalS3` (s3rver on 127.0.0.1, objects in a temp dir). s3rver runs on the event loop of
 * whatever process starts it, so in the benchmark's own process every PUT it received would be
 * handled on the committers' thread and counted as the archiver's cost. Prints
 * `{"endpoint":…,"bucket":…}` once it listens, then serves until its stdin ends (the parent
 * closed it, or died), and then stops the server and deletes what it stored.
 */

import { startLocalS3 } from "../test/support/s3.ts";

const s3 = await startLocalS3();
console.log(JSON.stringify({ endpoint: s3.endpoint, bucket: s3.bucket }));
for await (const _ of Bun.stdin.stream()) {
  // Nothing is said on stdin: its end is the signal to stop.
}
await s3.close();
process.exit(0);
