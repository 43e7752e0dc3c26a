/**
 * A writer that dies hard. Started by durability.test.ts as a separate process:
 *   bun durability-fixture.ts <log path> <mode>
 * mode "synced": appends four records, syncs, prints their LSNs, then SIGKILLs itself.
 * mode "unsynced": the same, then appends one more record without sync before the SIGKILL.
 * SIGKILL runs no destructor, no exit handler and no flush: whatever survives was already
 * handed to the OS by append or made durable by sync.
 */

import { Wal } from "../src/index.ts";

const [path, mode] = process.argv.slice(2);
if (path === undefined || (mode !== "synced" && mode !== "unsynced")) {
  console.error("usage: durability-fixture.ts <log path> synced|unsynced");
  process.exit(2);
}

const wal = Wal.open(path);
const lsns = [
  wal.append("alpha"),
  wal.append(""),
  wal.append("gamma record"),
  wal.append(new Uint8Array(200)),
];
wal.sync();
console.log(`SYNCED ${lsns.join(" ")}`);
if (mode === "unsynced") console.log(`APPENDED ${wal.append("delta, appended and never synced")}`);
process.kill(process.pid, "SIGKILL");
