/**
 * Another process reading a log a writer holds open and locked:
 *   bun reader-fixture.ts <log path> [segmentSize]
 * Opens it with `Wal.openReadOnly`, prints `READ <records> <last payload as JSON>`, or
 * `ERROR <code> <message>` when the open or a read fails.
 */

import { Wal, WalError } from "../../src/index.ts";

const [path, segmentText] = process.argv.slice(2);
if (path === undefined) {
  console.error("usage: reader-fixture.ts <log path> [segmentSize]");
  process.exit(2);
}
try {
  const options = segmentText === undefined ? {} : { segmentSize: Number(segmentText) };
  const reader = Wal.openReadOnly(path, options);
  let records = 0;
  let last = "";
  for (const record of reader.iter()) {
    records++;
    last = new TextDecoder().decode(record.data);
  }
  reader.close();
  console.log(`READ ${records} ${JSON.stringify(last)}`);
} catch (error) {
  if (!(error instanceof WalError)) throw error;
  console.log(`ERROR ${error.code} ${error.message}`);
}
