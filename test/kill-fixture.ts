/**
 * A process the kill harness (kill.test.ts) SIGKILLs at a random moment:
 *   bun kill-fixture.ts <file|segmented> <log path> <seed> <cycle> [unsafe-ack-before-write]
 * Opens the log (recovering what the previous cycle's kill left), prints
 * `RECOVERED <records> <end> <bytes dropped>`, then writes until killed:
 * - `file`: a single-file log; `segmented`: a segmented log of KILL_SEGMENT_SIZE-byte segments.
 * Either way it shares the log with WRITERS Workers (kill-writer.ts), which roll a segmented
 * log into new segments every few records, racing each other.
 * Writer w uses style STYLES[w] (test/support/kill-records.ts) and prints `ACK <lsn> <hash>`
 * for each record once the durable call covering it returned.
 *
 * `unsafe-ack-before-write` is the harness's negative control: one writer prints the ACK of
 * each record BEFORE appending it (at the LSN it will get: it is the only writer), then waits
 * 200 ms, then appends and syncs. A kill in that window loses an ACKed record, which the
 * parent's oracle must report. (An ACK printed after `append` but before `sync` would not do:
 * a SIGKILL keeps what reached the page cache; only a power loss drops it.)
 *
 * Any error prints `FAILED <WalError code, or "untyped"> <message as JSON>` and exits 1.
 */

import { Wal, WalError } from "../src/index.ts";
import type { KillWriterFailure, KillWriterTask } from "./kill-writer.ts";
import {
  acknowledge,
  KILL_SEGMENT_SIZE,
  killPayload,
  type LogKind,
  say,
  WRITERS,
  type WriterPlan,
} from "./support/kill-records.ts";

const COUNT_MAX = 1_000_000;
const UNSAFE_WINDOW_MS = 200;

const [kindText, path, seedText, cycleText, flag] = process.argv.slice(2);
const seed = Number(seedText);
const cycle = Number(cycleText);
if (
  (kindText !== "file" && kindText !== "segmented") ||
  path === undefined ||
  !Number.isInteger(seed) ||
  !Number.isInteger(cycle) ||
  (flag !== undefined && flag !== "unsafe-ack-before-write")
) {
  console.error(
    "usage: kill-fixture.ts <file|segmented> <log path> <seed> <cycle> [unsafe-ack-before-write]",
  );
  process.exit(2);
}
const kind: LogKind = kindText;

function fail(code: string, message: string): never {
  say(`FAILED ${code} ${JSON.stringify(message)}`);
  process.exit(1);
}

function failWith(error: unknown): never {
  fail(
    error instanceof WalError ? error.code : "untyped",
    (error as Error)?.stack ?? String(error),
  );
}

const plan = (writer: number): WriterPlan => ({ seed, kind, cycle, writer, countMax: COUNT_MAX });

/** The negative control: ACK first, append later (see the header). */
function ackBeforeWrite(wal: Wal): never {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let seq = 0; seq < COUNT_MAX; seq++) {
    const record = killPayload(seed, kind, cycle, 0, seq);
    const lsn = wal.len;
    acknowledge(lsn, record);
    Atomics.wait(pause, 0, 0, UNSAFE_WINDOW_MS);
    const written = wal.appendAndSync(record);
    if (written !== lsn) fail("untyped", `predicted LSN ${lsn}, got ${written}`);
  }
  fail("untyped", "wrote countMax records: the parent never killed the process");
}

try {
  const wal = Wal.open(path, kind === "segmented" ? { segmentSize: KILL_SEGMENT_SIZE } : {});
  const { records, end, bytesDropped } = wal.recovery;
  say(`RECOVERED ${records} ${end} ${bytesDropped}`);
  if (flag !== undefined) ackBeforeWrite(wal);
  const handle = wal.share();
  for (let writer = 0; writer < WRITERS; writer++) {
    const worker = new Worker(new URL("./kill-writer.ts", import.meta.url).href);
    worker.addEventListener("message", (event) => {
      const failure = (event as MessageEvent).data as KillWriterFailure;
      fail(failure.code, `writer ${writer}: ${failure.message}`);
    });
    worker.addEventListener("error", (event) => {
      fail("untyped", `writer ${writer} threw: ${(event as ErrorEvent).message}`);
    });
    worker.postMessage({ handle, plan: plan(writer) } satisfies KillWriterTask);
  }
} catch (error) {
  failWith(error);
}
