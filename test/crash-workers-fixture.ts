/**
 * A process whose writer Workers die mid-flight. Started by crash-workers.test.ts:
 *   bun crash-workers-fixture.ts <log path> <seed> <acks>
 * Opens the log and shares it with four Workers (crash-workers-writer.ts): Workers 0 and 1 loop
 * on `appendAndSync`, Workers 2 and 3 on `await commit`, each record encoding (worker, seq).
 * Workers cannot share stdout line by line, so each posts here after its call returned and this
 * thread prints `ACK <lsn> <worker> <seq>`. After the <acks>-th ACK line it prints
 * `REACHED <acks>`; the Workers keep writing until the parent SIGKILLs the process. Any error
 * goes to stderr with exit code 1.
 */

import { Wal } from "../src/index.ts";
import type { CrashWriterAck, CrashWriterTask } from "./crash-workers-writer.ts";
import { NAMED_RECORD_SIZES } from "./support/workers.ts";

const CALLS = ["appendAndSync", "appendAndSync", "commit", "commit"] as const;

const [path, seedText, acksText] = process.argv.slice(2);
const seed = Number(seedText);
const acks = Number(acksText);
if (path === undefined || !Number.isInteger(seed) || !Number.isInteger(acks) || acks < 1) {
  console.error("usage: crash-workers-fixture.ts <log path> <seed> <acks>");
  process.exit(2);
}

function fail(message: string): never {
  console.error(message);
  process.exit(1);
}

const wal = Wal.open(path);
const handle = wal.share();
let printed = 0;
let finished = 0;
CALLS.forEach((call, worker) => {
  const writer = new Worker(new URL("./crash-workers-writer.ts", import.meta.url).href);
  writer.addEventListener("message", (event) => {
    const reply = (event as MessageEvent).data as
      | CrashWriterAck
      | { kind: "finished" }
      | { kind: "failed"; error: string };
    if (reply.kind === "failed") fail(`worker ${worker} (${call}) failed: ${reply.error}`);
    if (reply.kind === "finished") {
      // Only a parent that never kills this process gets here.
      if (++finished === CALLS.length) fail("every worker finished: the parent never killed me");
      return;
    }
    console.log(`ACK ${reply.lsn} ${reply.worker} ${reply.seq}`);
    if (++printed === acks) console.log(`REACHED ${acks}`);
  });
  writer.addEventListener("error", (event) => {
    fail(`worker ${worker} (${call}) threw: ${(event as ErrorEvent).message}`);
  });
  const task: CrashWriterTask = {
    handle,
    worker,
    seed,
    sizes: NAMED_RECORD_SIZES,
    call,
    countMax: 20_000,
  };
  writer.postMessage(task);
});
