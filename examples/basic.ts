/**
 * The demo: append and sync, let a writer process die hard, then recover what it synced.
 *
 *   bun examples/basic.ts
 *
 * It starts itself again as a child process that appends three records, syncs, appends a
 * fourth without syncing, and kills itself with SIGKILL (no cleanup, no flush). The parent
 * then reopens the log and prints what recovery found.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "bun";
import { Wal } from "wal-db";

const [role, childPath] = process.argv.slice(2);

if (role === "child") {
  const wal = Wal.open(childPath!);
  const lsns = [wal.append("deposit 100 into alice"), wal.append("withdraw 30 from alice")];
  lsns.push(wal.appendAndSync("deposit 5 into bob")); // a barrier covers all three
  console.log(`child: appended and synced 3 records at LSNs ${lsns.join(", ")}`);
  const unsynced = wal.append("this one was never synced");
  console.log(`child: appended one more at LSN ${unsynced} without sync, and now dies by SIGKILL`);
  process.kill(process.pid, "SIGKILL");
}

const dir = mkdtempSync(join(tmpdir(), "wal-db-demo-"));
try {
  const path = join(dir, "bank.wal");

  {
    using wal = Wal.open(path);
    const lsn = wal.append("open account alice");
    wal.sync();
    console.log(`parent: wrote "open account alice" at LSN ${lsn} and synced; closing`);
  }

  const child = spawnSync([process.execPath, import.meta.path, "child", path], {
    stdout: "inherit",
    stderr: "inherit",
  });
  console.log(`parent: the child died by ${child.signalCode}`);

  using wal = Wal.open(path);
  const { records, bytesDropped, reason } = wal.recovery;
  console.log(
    `parent: reopened; recovery found ${records} records, dropped ${bytesDropped} bytes${reason ? ` (${reason})` : ""}`,
  );
  for (const record of wal.iter()) {
    console.log(
      `  LSN ${String(record.lsn).padStart(3)}: ${new TextDecoder().decode(record.data)}`,
    );
  }
  console.log(
    "parent: every synced record is there. The unsynced one survived too: a process crash\n" +
      "        leaves appended bytes in the OS page cache; only a power loss could drop it.",
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
