/**
 * A process that commits, for the syscall audit (syscalls.test.ts):
 *   bun commit-fixture.ts <log path> [segment size] [cut]
 * Three commits (one alone, two together), then it prints their LSNs and exits. With a
 * segment size, the log is a segmented one in that directory. With `cut` (4096-byte segments):
 * two commits of 3,008 bytes roll into segment 1, `truncateAfter` cuts back into segment 0
 * and deletes segment 1, and a third commit lands in segment 0; it prints `CUT <lsns>`.
 */

import { Wal } from "../src/index.ts";

const [path, segmentSize] = process.argv.slice(2);
if (path === undefined) {
  console.error("usage: commit-fixture.ts <log path> [segment size]");
  process.exit(2);
}

const wal = Wal.open(path, segmentSize === undefined ? {} : { segmentSize: Number(segmentSize) });
if (process.argv[4] === "cut") {
  const kept = await wal.commit("k".repeat(3000));
  const cut = await wal.commit("c".repeat(3000));
  wal.truncateAfter(kept);
  const after = await wal.commit("after"); // 13 bytes at 3008: in segment 0
  console.log(`CUT ${kept} ${cut} ${after}`);
  wal.close();
  process.exit(0);
}
const first = await wal.commit("alone");
const [second, third] = await Promise.all([wal.commit("together"), wal.commit("too")]);
console.log(`COMMITTED ${first} ${second} ${third}`);
wal.close();
