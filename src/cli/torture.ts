/**
 * @module
 * `wal-db torture <dir>`: a crash harness to run on your own disk. It starts a writer process
 * (torture-writer.ts) that appends records with `appendAndSync` and acknowledges each one on
 * stdout once the call returned, SIGKILLs it at a random moment, reopens the log with
 * `Wal.open` (recovery, as an application would after a crash), and checks what survived.
 * Lost and phantom records are defined in torture-judge.ts (and docs/CLI.md).
 *
 * A kill lands anywhere: inside a write, between a record's header and payload, before or
 * inside the barrier, or between the barrier and the ACK line.
 */

import { rmSync } from "node:fs";
import { join } from "node:path";
import { type Subprocess, spawn } from "bun";
import { Wal, type WalRecord } from "../index.ts";
import { SEGMENT_SIZE_MIN } from "../options.ts";
import { parseCommandArgs, parseInteger } from "./args.ts";
import { CliError, type Command, EXIT, existingDirectory } from "./command.ts";
import { Output } from "./output.ts";
import { judge } from "./torture-judge.ts";
import { type Ack, mulberry32, parseAck, READY_LINE } from "./torture-records.ts";

const DEFAULT_KILLS = 20;
/** The longest a writer runs after it is ready before the kill: long enough for many records. */
const DEFAULT_MAX_RUN_MS = 100;
/** The log the harness writes in `<dir>`; a segmented log is a directory of that name. */
const LOG_NAME = "torture.wal";
const WRITER = join(import.meta.dir, "torture-writer.ts");

const HELP = `Usage: wal-db torture <dir> [options]

A crash test for this machine's disk. Repeatedly starts a writer process that appends random
records to <dir>/${LOG_NAME} with appendAndSync and acknowledges each once the call returned,
kills it with SIGKILL at a random moment, reopens the log with Wal.open (recovery), and checks
that every acknowledged record is there byte for byte. Prints per kill, then:

  acknowledged N, recovered N, lost N, phantom N

lost: a record durable before the kill (acknowledged, or recovered by an earlier check) that
  is missing or changed.
phantom: a recovered record that is not prefix-consistent with what the writers attempted:
  the killed writer's records must follow the earlier ones in the order submitted, with no
  gap, byte for byte, and at most one of them unacknowledged (the appendAndSync in flight at
  the kill, which may survive). recovered counts the killed writers' records recovered, so it
  may exceed acknowledged by up to one per kill.

<dir> must exist; an old <dir>/${LOG_NAME} is replaced. The log is removed when the run is
clean and kept for inspection when it is not. A process kill does not test power loss: the
OS page cache survives it.

Options:
      --kills N           writer processes to kill (default ${DEFAULT_KILLS})
      --seed N            seed of the records and kill moments (default random; printed)
      --max-run-ms N      the longest a writer runs before its kill (default ${DEFAULT_MAX_RUN_MS})
      --segment-size SIZE torture a segmented log with this segment size (k, M, G suffixes)
  -h, --help              show this help

Exit codes: 0 nothing lost, no phantom; 1 lost or phantom records; 2 bad arguments;
3 the harness could not run (a writer failed on its own, <dir> missing).`;

/** `wal-db torture`. */
export const tortureCommand: Command = {
  name: "torture",
  summary: "kill a writer at random moments and check no acknowledged record is lost",
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(
      argv,
      {
        kills: { type: "string" },
        seed: { type: "string" },
        "max-run-ms": { type: "string" },
        "segment-size": { type: "string" },
      },
      ["dir"],
    );
    const out = new Output();
    const kills = parseInteger("--kills", values.kills, DEFAULT_KILLS, {
      min: 1,
      max: 1_000_000,
      noun: "a count of kills",
    });
    const seed = parseInteger("--seed", values.seed, Math.floor(Math.random() * 2 ** 32), {
      min: 0,
      max: 2 ** 32 - 1,
    });
    const maxRunMs = parseInteger("--max-run-ms", values["max-run-ms"], DEFAULT_MAX_RUN_MS, {
      min: 0,
      max: 60_000,
      noun: "milliseconds",
    });
    const segmentSize = parseInteger("--segment-size", values["segment-size"], 0, {
      min: SEGMENT_SIZE_MIN,
      max: Number.MAX_SAFE_INTEGER,
      units: true,
    });
    // The options first: a bad one is a usage error whatever the directory.
    const dir = existingDirectory(positionals[0]!);
    const plan: TorturePlan = { path: join(dir, LOG_NAME), kills, seed, maxRunMs, segmentSize };
    rmSync(plan.path, { recursive: true, force: true });
    const tally = await torture(plan, out);
    out.line(
      `acknowledged ${tally.acknowledged}, recovered ${tally.recovered}, lost ${tally.lost}, phantom ${tally.phantom}`,
    );
    const clean = tally.lost === 0 && tally.phantom === 0;
    if (clean) rmSync(plan.path, { recursive: true, force: true });
    else out.line(`the log is kept for inspection: ${plan.path}`);
    out.flush();
    return clean ? EXIT.ok : EXIT.damaged;
  },
};

interface TorturePlan {
  readonly path: string;
  readonly kills: number;
  readonly seed: number;
  readonly maxRunMs: number;
  /** 0 for a single-file log. */
  readonly segmentSize: number;
}

/** Counts over the whole run. */
interface Tally {
  acknowledged: number;
  recovered: number;
  lost: number;
  phantom: number;
}

async function torture(plan: TorturePlan, out: Output): Promise<Tally> {
  const options = plan.segmentSize > 0 ? { segmentSize: plan.segmentSize } : {};
  const kind = plan.segmentSize > 0 ? `segmented, segment size ${plan.segmentSize}` : "single file";
  out.line(`torture ${plan.path} (${kind}): ${plan.kills} kills, seed ${plan.seed}`);
  out.flush();
  const random = mulberry32(plan.seed ^ 0x5eed);
  const tally: Tally = { acknowledged: 0, recovered: 0, lost: 0, phantom: 0 };
  /** What the last check recovered: every record in it is durable (the open synced it). */
  let baseline: WalRecord[] = [];
  for (let cycle = 0; cycle < plan.kills; cycle++) {
    const acks = await runAndKill(plan, cycle, random() % (plan.maxRunMs + 1));
    let recovered: WalRecord[];
    {
      using wal = Wal.open(plan.path, options);
      recovered = [...wal.iter()];
    }
    const verdict = judge(plan.seed, cycle, baseline, acks, recovered);
    tally.acknowledged += acks.length;
    tally.recovered += verdict.recovered;
    tally.lost += verdict.lost;
    tally.phantom += verdict.phantom;
    out.line(
      `kill ${cycle + 1}/${plan.kills}: acknowledged ${acks.length}, recovered ${verdict.recovered}, ` +
        `lost ${verdict.lost}, phantom ${verdict.phantom}`,
    );
    for (const problem of verdict.problems) out.line(`  ${problem}`);
    out.flush();
    baseline = recovered;
  }
  return tally;
}

/**
 * Starts the writer of `cycle`, lets it run `runMs` after it reported ready, SIGKILLs it and
 * returns the records it acknowledged.
 */
async function runAndKill(plan: TorturePlan, cycle: number, runMs: number): Promise<Ack[]> {
  const writer = spawn(
    [
      process.execPath,
      WRITER,
      plan.path,
      String(plan.seed),
      String(cycle),
      String(plan.segmentSize),
    ],
    { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
  );
  const lines = readLines(writer);
  const stderr = new Response(writer.stderr).text();
  const ready = await lines.first(READY_LINE);
  if (ready) {
    await Bun.sleep(runMs);
    writer.kill("SIGKILL");
  }
  await writer.exited;
  const all = await lines.all;
  if (!ready || writer.signalCode !== "SIGKILL") {
    const why = (await stderr).trim().split("\n").at(-1) || `exit code ${writer.exitCode}`;
    throw new CliError(`the writer of kill ${cycle + 1} stopped on its own: ${why}`, EXIT.failed);
  }
  const acks: Ack[] = [];
  for (const line of all) {
    const ack = parseAck(line);
    if (ack !== null) acks.push(ack);
  }
  return acks;
}

/** The lines a child prints: a wait for one of them, and all of them once it exits. */
function readLines(child: Subprocess<"ignore", "pipe", "pipe">): {
  first(line: string): Promise<boolean>;
  all: Promise<string[]>;
} {
  const seen: string[] = [];
  const waiters: { line: string; resolve: (found: boolean) => void }[] = [];
  const all = (async () => {
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of child.stdout) {
      pending += decoder.decode(chunk, { stream: true });
      const parts = pending.split("\n");
      pending = parts.pop()!;
      for (const line of parts) {
        seen.push(line);
        for (const waiter of waiters.filter((w) => w.line === line)) waiter.resolve(true);
      }
    }
    // A child that ends without printing the line fails the wait rather than hanging it.
    for (const waiter of waiters) waiter.resolve(false);
    return seen;
  })();
  return {
    first(line) {
      if (seen.includes(line)) return Promise.resolve(true);
      return new Promise((resolve) => waiters.push({ line, resolve }));
    },
    all,
  };
}
