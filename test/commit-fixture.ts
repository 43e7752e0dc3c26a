/**
 * A process that commits, for the syscall audit (syscalls.test.ts):
 *   bun commit-fixture.ts <log path> [segment size]
 * Three commits (one alone, two together), then it prints their LSNs and exits. With a
 * segment size, the log is a segmented one in that directory.
 */

import { Wal } from "../src/index.ts";

const [path, segmentSize] = process.argv.slice(2);
if (path === undefined) {
  console.error("usage: commit-fixture.ts <log path> [segment size]");
  process.exit(2);
}

const wal = Wal.open(path, segmentSize === undefined ? {} : { segmentSize: Number(segmentSize) });
const first = await wal.commit("alone");
const [second, third] = await Promise.all([wal.commit("together"), wal.commit("too")]);
console.log(`COMMITTED ${first} ${second} ${third}`);
wal.close();
