/**
 * A second process for lock tests. Started by lock.test.ts:
 *   bun lock-fixture.ts hold <log path> [segmentSize]   opens the log, prints "HOLDING", waits
 *                                                      to be killed
 *   bun lock-fixture.ts hold-close <log path> [segmentSize]
 *                                                      as hold, but first opens other
 *                                                      descriptors of the log's files (the log
 *                                                      file; a segmented log's LOCK file and
 *                                                      segment) and closes them
 *   bun lock-fixture.ts try <log path> [segmentSize]    tries to open the log, prints "OPENED"
 *                                                      or "ERROR <code> <message>"
 * With segmentSize, <log path> is the directory of a segmented log.
 */

import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Wal, WalError } from "../src/index.ts";

const [mode, path, segmentText] = process.argv.slice(2);
const segmentSize = segmentText === undefined ? undefined : Number(segmentText);
if (
  path === undefined ||
  (mode !== "hold" && mode !== "hold-close" && mode !== "try") ||
  (segmentSize !== undefined && !Number.isInteger(segmentSize))
) {
  console.error("usage: lock-fixture.ts hold|hold-close|try <log path> [segmentSize]");
  process.exit(2);
}

/** Opens `file` twice (read-only, read-write), reads it, closes both descriptors. */
function openAndClose(file: string): void {
  const reader = openSync(file, "r");
  const writer = openSync(file, "r+");
  readFileSync(reader);
  closeSync(reader);
  closeSync(writer);
}

try {
  const wal = Wal.open(path, segmentSize === undefined ? {} : { segmentSize });
  if (mode === "try") {
    console.log("OPENED");
    wal.close();
  } else {
    wal.appendAndSync("held by the fixture");
    if (mode === "hold-close") {
      // A lock tied to the process and file (POSIX fcntl locks) would be dropped here, by
      // closing any descriptor of the file; flock belongs to the Wal's own descriptor.
      if (segmentSize === undefined) openAndClose(path);
      else for (const name of ["LOCK", "00000000000000000000.wal"]) openAndClose(join(path, name));
    }
    console.log("HOLDING");
    setInterval(() => {}, 1 << 30); // keep the process, and so the lock, alive until killed
  }
} catch (error) {
  if (!(error instanceof WalError)) throw error;
  console.log(`ERROR ${error.code} ${error.message}`);
}
