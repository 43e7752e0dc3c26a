/**
 * @module
 * `wal-db bench`: this machine's durable-commit rate and append rate, each next to a
 * hand-rolled baseline measured in the same run (`writeSync` + `fdatasyncSync` from node:fs,
 * and `writeSync` alone), interleaved round by round so that drift in a noisy machine hits
 * both sides alike. Absolute numbers say what this disk does; the ratios say what wal-db costs.
 */

import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { Wal } from "../index.ts";
import { HEADER_SIZE } from "../record.ts";
import { parseCommandArgs, parseInteger } from "./args.ts";
import { type Command, EXIT, existingDirectory } from "./command.ts";
import { Output } from "./output.ts";

/** Frame header bytes before a payload (docs/ON_DISK_FORMAT.md). */
const DEFAULT_RECORD_SIZE = 128;

/** Rounds and time per case per round: the full run, and `--quick` (a few seconds in all). */
const FULL = { rounds: 5, caseMs: 1000 };
const QUICK = { rounds: 3, caseMs: 150 };

const HELP = `Usage: wal-db bench [options]

Measures this machine's durable-commit rate (wal-db appendAndSync against a hand-rolled
writeSync + fdatasyncSync loop on the same disk) and append rate (wal-db append against
writeSync alone), interleaved in one run, and prints each rate and the ratio wal-db /
hand-rolled. The logs live in a temporary directory under --dir, removed at the end: put it
on the disk you care about (a tmpfs /tmp measures memory, not a disk).

wal-db keeps a zero-filled tail after its records (the preallocate option), so its barriers
do not grow the file; the hand-rolled loop appends to a growing file, as most do.

Options:
      --quick             ${QUICK.rounds} rounds of ${QUICK.caseMs} ms per case (a few seconds) instead of ${FULL.rounds} of ${FULL.caseMs} ms
      --dir DIR           where to write (default the current directory)
      --record-size SIZE  payload bytes per record (default ${DEFAULT_RECORD_SIZE}; k, M suffixes)
      --json              print one JSON object (rates per second, ratios) instead of text
  -h, --help              show this help

Exit codes: 0 measured, 2 bad arguments, 3 the files could not be written.`;

/** `wal-db bench`. */
export const benchCommand: Command = {
  name: "bench",
  summary: "durable commits/s and appends/s on this disk, against hand-rolled fs calls",
  help: HELP,
  async run(argv) {
    const { values } = parseCommandArgs(
      argv,
      {
        quick: { type: "boolean" },
        dir: { type: "string" },
        "record-size": { type: "string" },
        json: { type: "boolean" },
      },
      [],
    );
    const out = new Output();
    const shape = values.quick === true ? QUICK : FULL;
    const recordSize = parseInteger("--record-size", values["record-size"], DEFAULT_RECORD_SIZE, {
      min: 0,
      max: 16 * 1024 * 1024,
      units: true,
    });
    const dir = mkdtempSync(join(existingDirectory(values.dir ?? process.cwd()), ".wal-db-bench-"));
    try {
      const json = values.json === true;
      if (!json) {
        out.line(
          `bench in ${dir}: ${recordSize}-byte records, ${shape.rounds} rounds × ${shape.caseMs} ms per case, interleaved`,
        );
        out.flush();
      }
      const { durable, append, bytesWritten } = measure(dir, recordSize, shape);
      if (json) {
        const side = ({ walName, rawName, wal, raw }: Pair) => ({
          wal: { name: walName, perSecond: wal },
          handRolled: { name: rawName, perSecond: raw },
          ratio: wal / raw,
        });
        const report = { dir, recordSize, ...shape, bytesWritten };
        out.line(JSON.stringify({ ...report, durableCommit: side(durable), append: side(append) }));
        return EXIT.ok;
      }
      const frame = recordSize + HEADER_SIZE;
      const rows = (
        [
          ["durable commit", durable],
          ["append", append],
        ] as const
      ).flatMap(([label, pair]): [string, string][] => [
        [`${label}: wal-db ${pair.walName}`, rate(pair.wal, frame)],
        [`${label}: ${pair.rawName}`, rate(pair.raw, frame)],
        [
          `${label}: ratio wal-db / hand-rolled`,
          `${(pair.wal / pair.raw).toFixed(2).padStart(11)}×`,
        ],
      ]);
      const width = Math.max(...rows.map(([name]) => name.length)) + 2;
      for (const [name, value] of rows) out.line(`${name.padEnd(width)}${value}`);
      // The bytes both sides wrote together: a side that skipped its work would lower it.
      out.line(`work ${bytesWritten} bytes`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      out.flush();
    }
    return EXIT.ok;
  },
};

/** One comparison: operations per second of wal-db and of the hand-rolled loop. */
interface Pair {
  readonly walName: string;
  readonly rawName: string;
  readonly wal: number;
  readonly raw: number;
}

function rate(perSecond: number, frameSize: number): string {
  const mib = (perSecond * frameSize) / (1024 * 1024);
  return `${Math.round(perSecond).toLocaleString("en-US").padStart(11)} /s  (${mib.toFixed(1)} MiB/s)`;
}

/** Counts operations of `step` for `ms` milliseconds; returns operations and elapsed seconds. */
function timed(ms: number, step: () => void): { ops: number; seconds: number } {
  const start = performance.now();
  const stop = start + ms;
  let ops = 0;
  let now = start;
  // The clock is read every 16 operations: often enough at ~1 ms per barrier, cheap for appends.
  while (now < stop) {
    for (let i = 0; i < 16; i++) step();
    ops += 16;
    now = performance.now();
  }
  return { ops, seconds: (now - start) / 1000 };
}

function measure(
  dir: string,
  recordSize: number,
  shape: { rounds: number; caseMs: number },
): { durable: Pair; append: Pair; bytesWritten: number } {
  const payload = new Uint8Array(recordSize).fill(0x61);
  // The hand-rolled frame: any 8 bytes stand in for the header; the loop pays for the write
  // and the barrier, which is what is compared.
  const frame = new Uint8Array(recordSize + HEADER_SIZE).fill(0x61);
  const wal = Wal.open(join(dir, "bench.wal"));
  const rawPath = join(dir, "raw.log");
  const fd = openSync(rawPath, "w");
  let rawPosition = 0;
  const totals = {
    durable: { wal: { ops: 0, seconds: 0 }, raw: { ops: 0, seconds: 0 } },
    append: { wal: { ops: 0, seconds: 0 }, raw: { ops: 0, seconds: 0 } },
  };
  const add = (into: { ops: number; seconds: number }, run: { ops: number; seconds: number }) => {
    into.ops += run.ops;
    into.seconds += run.seconds;
  };
  const cases = {
    durable: {
      wal: () => timed(shape.caseMs, () => wal.appendAndSync(payload)),
      raw: () =>
        timed(shape.caseMs, () => {
          rawPosition += writeSync(fd, frame, 0, frame.length, rawPosition);
          fdatasyncSync(fd);
        }),
    },
    append: {
      wal: () => timed(shape.caseMs, () => wal.append(payload)),
      raw: () =>
        timed(shape.caseMs, () => {
          rawPosition += writeSync(fd, frame, 0, frame.length, rawPosition);
        }),
    },
  };
  try {
    for (let round = 0; round < shape.rounds; round++) {
      // Alternate which side goes first, so neither always runs on a warmer (or busier) disk.
      const order = round % 2 === 0 ? (["wal", "raw"] as const) : (["raw", "wal"] as const);
      for (const kind of ["durable", "append"] as const) {
        for (const side of order) add(totals[kind][side], cases[kind][side]());
      }
    }
    const perSecond = (run: { ops: number; seconds: number }) => run.ops / run.seconds;
    return {
      durable: {
        walName: "appendAndSync",
        rawName: "writeSync + fdatasyncSync",
        wal: perSecond(totals.durable.wal),
        raw: perSecond(totals.durable.raw),
      },
      append: {
        walName: "append",
        rawName: "writeSync",
        wal: perSecond(totals.append.wal),
        raw: perSecond(totals.append.raw),
      },
      bytesWritten: wal.len + rawPosition,
    };
  } finally {
    wal.close();
    closeSync(fd);
  }
}
