/**
 * A process that commits, for the syscall audit (syscalls.test.ts):
 *   bun commit-fixture.ts <log path>
 * Three commits (one alone, two together), then it prints their LSNs and exits.
 */

import { Wal } from "../src/index.ts";

const [path] = process.argv.slice(2);
if (path === undefined) {
  console.error("usage: commit-fixture.ts <log path>");
  process.exit(2);
}

const wal = Wal.open(path);
const first = await wal.commit("alone");
const [second, third] = await Promise.all([wal.commit("together"), wal.commit("too")]);
console.log(`COMMITTED ${first} ${second} ${third}`);
wal.close();
