/**
 * Another process that syncs a file of the log, as a backup tool or `sync(1)` would:
 *   bun fsync-fixture.ts <file>
 * Opens the file read-only, calls fsync once and prints `FSYNC OK` (exit 0) or
 * `FSYNC <errno name>` (exit 1). Used by kernel-faults.test.ts: when the disk failed the file's
 * writeback, this process is the one Linux tells, and a descriptor opened later is told nothing.
 */

import { closeSync, constants, fsyncSync, openSync } from "node:fs";

const [path] = process.argv.slice(2);
if (path === undefined) {
  console.error("usage: fsync-fixture.ts <file>");
  process.exit(2);
}

const fd = openSync(path, constants.O_RDONLY);
try {
  fsyncSync(fd);
  console.log("FSYNC OK");
} catch (error) {
  console.log(`FSYNC ${(error as { code?: string }).code ?? String(error)}`);
  process.exitCode = 1;
} finally {
  closeSync(fd);
}
