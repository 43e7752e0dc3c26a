/**
 * A Worker terminated between reserving its bytes and writing them, while others write. Started
 * by terminate.test.ts:
 *   bun terminate-fixture.ts <log path> <stallTimeout ms>
 * 1. Opens the log with that `stallTimeout`; this thread and a writer Worker make records
 *    durable (appendAndSync, commit), printing `ACK <lsn> <text>` for each once its call returned.
 * 2. A `stuck` Worker (terminate-writer.ts) reserves a record and blocks inside its write; this
 *    thread prints `HOLE <lsn>` and terminates it, so the reservation is never written.
 * 3. This thread and the writer Worker append above the hole (printing `ABOVE <lsn> <text>`),
 *    then sync at the same time: the writer with `sync()`, this thread with `await commit()`.
 * 4. Then, one at a time: this thread's sync, append, appendAndSync; the Worker's commit.
 * 5. Closes the log, tries to open it again, and prints `RESULT <json>` with every outcome of
 *    steps 3–5, then exits 0 (exiting closes the descriptor the stuck write kept open).
 * A durable call that succeeds prints its ACK line; any unexpected failure prints `FAILED`.
 * Every wait on another thread has a deadline, so a hang ends in `FAILED`, not a frozen child;
 * a blocking call that never returns is the parent's to catch.
 */

import { Wal } from "../src/index.ts";
import { type CallOutcome, outcomeOf } from "./support/outcomes.ts";
import { WorkerThread } from "./support/workers.ts";
import type { TerminateTask } from "./terminate-writer.ts";

const WAIT_MS = 20_000;

const [path, stallText] = process.argv.slice(2);
const stallTimeout = Number(stallText);
if (path === undefined || !Number.isInteger(stallTimeout)) {
  console.error("usage: terminate-fixture.ts <log path> <stallTimeout ms>");
  process.exit(2);
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** `promise`, or a FAILED line and exit when it takes longer than WAIT_MS. */
async function within<T>(what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${WAIT_MS} ms`)), WAIT_MS);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Prints the ACK of a durable call that returned `outcome` for `text`. */
function ackIfDurable(outcome: CallOutcome, text: string): CallOutcome {
  if (outcome.kind === "ok" && outcome.lsn !== null) say(`ACK ${outcome.lsn} ${text}`);
  return outcome;
}

try {
  const wal = Wal.open(path, { stallTimeout });
  const handle = wal.share();
  const writer = new WorkerThread("terminate-writer.ts");
  writer.post({ kind: "writer", handle } satisfies TerminateTask);
  await within("the writer Worker", writer.reply());
  const call = async (
    name: "append" | "appendAndSync" | "sync" | "commit",
    data = "",
  ): Promise<CallOutcome> => {
    writer.post({ kind: "call", call: name, data } satisfies TerminateTask);
    return within(`the writer Worker's ${name}`, writer.reply<CallOutcome>());
  };
  const expectOk = (what: string, outcome: CallOutcome): number => {
    if (outcome.kind !== "ok" || outcome.lsn === null) {
      throw new Error(`${what} failed before the hole: ${JSON.stringify(outcome)}`);
    }
    return outcome.lsn;
  };

  // 1. Durable records below the hole, from both threads.
  for (const text of ["main 0", "main 1"]) {
    ackIfDurable(await outcomeOf(() => wal.appendAndSync(text)), text);
  }
  for (const [name, text] of [
    ["appendAndSync", "worker 0"],
    ["commit", "worker 1"],
  ] as const) {
    expectOk(text, ackIfDurable(await call(name, text), text));
  }
  expectOk("main 2", ackIfDurable(await outcomeOf(() => wal.commit("main 2")), "main 2"));

  // 2. The hole: a Worker reserves a record and is terminated before writing it.
  const stuck = new WorkerThread("terminate-writer.ts");
  stuck.post({ kind: "stuck", handle } satisfies TerminateTask);
  const { lsn: hole } = await within("the stuck Worker", stuck.reply<{ lsn: number }>());
  say(`HOLE ${hole}`);
  await within("terminate()", stuck.terminate());

  // 3. Records above the hole, then two durable calls at once, in two threads.
  for (const [text, outcome] of [
    ["worker above", await call("append", "worker above")],
    ["main above", await outcomeOf(() => wal.append("main above"))],
  ] as const) {
    say(`ABOVE ${expectOk(text, outcome)} ${text}`);
  }
  const [workerSync, mainCommit] = await within(
    "the durable calls behind the hole",
    Promise.all([
      call("sync"),
      outcomeOf(() => wal.commit("main commit")).then((o) => ackIfDurable(o, "main commit")),
    ]),
  );

  // 4. Later calls, one at a time.
  const later = {
    mainSync: await outcomeOf(() => wal.sync()),
    mainAppend: await outcomeOf(() => wal.append("main later")),
    mainAppendAndSync: ackIfDurable(
      await outcomeOf(() => wal.appendAndSync("main later")),
      "main later",
    ),
    workerCommit: ackIfDurable(await call("commit", "worker later"), "worker later"),
  };

  // 5. Close, then try to open again in this process.
  await writer.terminate();
  const close = await outcomeOf(() => wal.close());
  const reopen = await outcomeOf(() => Wal.open(path).close());
  say(`RESULT ${JSON.stringify({ hole, workerSync, mainCommit, later, close, reopen })}`);
  process.exit(0);
} catch (error) {
  say(`FAILED ${JSON.stringify((error as Error)?.stack ?? String(error))}`);
  process.exit(1);
}
