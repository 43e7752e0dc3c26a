/**
 * Recovery: a writer is killed in the middle of its appends; reopening finds every record it
 * synced, and the report says what open found and cut.
 *
 *   bun examples/recovery.ts
 *
 * It starts itself again as a child process that appends numbered records as fast as it can,
 * syncing every 100 and printing how many are synced. After a few syncs the parent kills it with
 * SIGKILL, wherever it is. Then the parent reopens the log: every synced record must be there,
 * in order, byte for byte; records appended after the last sync may be there too (a process
 * crash leaves them in the OS page cache), each whole. Last, the parent cuts the file in the
 * middle of the last record, as a power loss during a write can, and shows open cutting the
 * torn tail.
 */

import { mkdtempSync, rmSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wal } from "wal-db";

const SYNC_EVERY = 100;
const KILL_AFTER = 300; // synced records the parent waits to see before it kills the child

/** The payload of record `index`: its number, then a size that varies (up to 64 KiB). */
function payload(index: number): string {
  const size = index % 37 === 0 ? 65_536 : index % 200;
  return `record ${index} `.padEnd(size, "x");
}

const [role, childPath] = process.argv.slice(2);

if (role === "child") {
  const wal = Wal.open(childPath!);
  // Bounded, in case the parent never kills it.
  for (let index = 0; index < 1_000_000; index++) {
    wal.append(payload(index));
    if ((index + 1) % SYNC_EVERY === 0) {
      wal.sync();
      console.log(`synced ${index + 1}`);
    }
  }
  process.exit(1);
}

/** Reads `stream` line by line until `done` says a line is the one it waits for. */
async function waitForLine(
  stream: ReadableStream<Uint8Array>,
  done: (line: string) => boolean,
): Promise<string> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop()!;
    const line = lines.findLast(done);
    if (line !== undefined) return line;
  }
  throw new Error("the child exited before it synced enough records");
}

const dir = mkdtempSync(join(tmpdir(), "wal-db-recovery-"));
try {
  const path = join(dir, "app.wal");

  const child = Bun.spawn([process.execPath, import.meta.path, "child", path], {
    stdout: "pipe",
    stderr: "inherit",
  });
  const line = await waitForLine(child.stdout, (l) => Number(l.split(" ")[1]) >= KILL_AFTER);
  child.kill("SIGKILL"); // mid-append: the child never stops appending on its own
  await child.exited;
  const synced = Number(line.split(" ")[1]);
  console.log(
    `the child synced ${synced} records, kept appending, and died by ${child.signalCode}`,
  );
  if (child.signalCode !== "SIGKILL") throw new Error("the child should have died by SIGKILL");

  let last: { lsn: number; size: number };
  {
    using wal = Wal.open(path);
    const report = wal.recovery;
    console.log(
      `reopened: ${report.records} records, the log ends at LSN ${report.end}, ` +
        `${report.bytesDropped} bytes dropped${report.reason ? ` (${report.reason})` : ""}`,
    );
    let index = 0;
    let previous = { lsn: 0, size: 0 };
    for (const record of wal.iter()) {
      if (new TextDecoder().decode(record.data) !== payload(index)) {
        throw new Error(`record ${index} at LSN ${record.lsn} is not what the child appended`);
      }
      previous = { lsn: record.lsn, size: record.data.length };
      index++;
    }
    if (index < synced) throw new Error(`only ${index} of the ${synced} synced records are there`);
    if (index !== report.records) throw new Error("iteration and the report disagree");
    console.log(
      `every synced record is there, in order; ${index - synced} appended after the last ` +
        "sync survived too (a process crash leaves the page cache alone)",
    );
    last = previous;
  }

  // A power loss can leave a record half written. Simulate one: cut the file mid-record.
  const cut = last.lsn + 8 + Math.floor(last.size / 2);
  truncateSync(path, cut);
  using wal = Wal.open(path);
  const report = wal.recovery;
  console.log(
    `after cutting the file at byte ${cut}, inside the last record: ${report.records} records, ` +
      `${report.bytesDropped} bytes dropped (${report.reason})`,
  );
  if (report.end !== last.lsn || report.bytesDropped !== cut - last.lsn || !report.reason) {
    throw new Error("open should cut the torn record and nothing else");
  }
  if (wal.append("the next record") !== last.lsn) {
    throw new Error("the next append should land where the torn record started");
  }
  console.log(`the next append lands at LSN ${last.lsn}, where the torn record started`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
