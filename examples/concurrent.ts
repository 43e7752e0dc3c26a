/**
 * Concurrency: Workers and async callers write to one log at once, and share barriers.
 *
 *   bun examples/concurrent.ts
 *
 * The owner opens the log and hands `wal.share()` to three Workers (examples/concurrent-worker.ts);
 * each joins with `Wal.attach(handle)` and commits 500 records. At the same time the owner's
 * thread makes 500 concurrent `await wal.commit(...)` calls, as a server handling requests
 * would. Every commit resolves once its record is on stable storage, but they do not pay one
 * barrier each: concurrent commits from every thread elect one leader per barrier (group
 * commit). The owner then reads the log back and checks every record is where its commit said.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wal } from "wal-db";
import type { WriterTask } from "./concurrent-worker.ts";

const WORKERS = 3;
const COUNT = 500; // commits per thread

/** Starts a Worker on the log; resolves with the LSNs its commits returned. */
function startWriter(wal: Wal, name: string): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./concurrent-worker.ts", import.meta.url).href);
    worker.onmessage = (event: MessageEvent<number[]>) => {
      resolve(event.data);
      worker.terminate();
    };
    worker.onerror = (event) => reject(new Error(`${name}: ${event.message}`));
    const task: WriterTask = { handle: wal.share(), name, count: COUNT };
    worker.postMessage(task);
  });
}

const dir = mkdtempSync(join(tmpdir(), "wal-db-concurrent-"));
try {
  using wal = Wal.open(join(dir, "app.wal"));

  const started = performance.now();
  const names = Array.from({ length: WORKERS }, (_, i) => `worker${i}`);
  const [own, ...theirs] = await Promise.all([
    Promise.all(Array.from({ length: COUNT }, (_, i) => wal.commit(`main ${i}`))),
    ...names.map((name) => startWriter(wal, name)),
  ]);
  const elapsed = performance.now() - started;

  const commits = COUNT * (WORKERS + 1);
  const { barriers } = wal.stats();
  console.log(
    `${commits} durable commits from ${WORKERS + 1} threads in ${elapsed.toFixed(0)} ms ` +
      `shared ${barriers} barriers`,
  );

  // Read it back: every LSN a commit returned holds that commit's record.
  const written = new Map([...wal.iter()].map((r) => [r.lsn, new TextDecoder().decode(r.data)]));
  const threads = [["main", own!], ...names.map((name, i) => [name, theirs[i]!] as const)] as const;
  for (const [name, lsns] of threads) {
    lsns.forEach((lsn, i) => {
      if (written.get(lsn) !== `${name} ${i}`) throw new Error(`${name} ${i} is not at LSN ${lsn}`);
      // One thread's records get increasing LSNs in call order.
      if (i > 0 && lsn <= lsns[i - 1]!) throw new Error(`${name}: LSNs out of call order`);
    });
  }
  if (written.size !== commits)
    throw new Error(`expected ${commits} records, found ${written.size}`);
  if (barriers >= commits) throw new Error("the commits should have shared barriers");
  console.log(`read back: all ${written.size} records, each at the LSN its commit returned`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
