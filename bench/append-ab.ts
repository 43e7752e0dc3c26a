/**
 * Where `append`'s time goes, against a raw positioned `writeSync` of the same 264 framed bytes:
 * the raw write, the raw write after framing it by hand (copy + CRC-32C, what any checksummed
 * log pays), and `Wal.append` with the default zero fill and with `preallocate: 0`. The four
 * sides run in rotating order, `ROUNDS` rounds of `APPENDS` appends to a fresh file each;
 * medians are printed as ratios to the raw write. Run: `bun bench/append-ab.ts`.
 */

import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wal } from "../src/index.ts";
import { HEADER_SIZE, sealFrame } from "../src/record.ts";
import {
  appendSide,
  BENCH_PAYLOAD,
  median,
  type Side,
  timeRotating,
  workDigest,
  writeSide,
} from "./harness.ts";

const APPENDS = Number(process.env.WAL_BENCH_APPENDS ?? 200_000);
const ROUNDS = 9;
const dir = mkdtempSync(join(tmpdir(), "wal-db-bench-"));
let fileCounter = 0;
const freshPath = () => join(dir, `f${++fileCounter}`);
const pool = [BENCH_PAYLOAD];
const frameSize = HEADER_SIZE + BENCH_PAYLOAD.length;
const frame = new Uint8Array(frameSize);
frame.set(BENCH_PAYLOAD, HEADER_SIZE);
sealFrame(frame, BENCH_PAYLOAD.length);

/** The raw write, each record copied into the frame and its CRC-32C computed first. */
function framedByHand(name: string): Side {
  let fd = -1;
  let path = "";
  return {
    name,
    prepare() {
      path = freshPath();
      const opened = openSync(path, "w+");
      fd = opened;
      return () => {
        for (let i = 0; i < APPENDS; i++) {
          frame.set(BENCH_PAYLOAD, HEADER_SIZE);
          sealFrame(frame, BENCH_PAYLOAD.length);
          writeSync(opened, frame, 0, frameSize, i * frameSize);
        }
        return APPENDS;
      };
    },
    cleanup() {
      closeSync(fd);
      rmSync(path, { force: true });
    },
  };
}

const wal = (name: string, preallocate?: number) =>
  appendSide({
    name,
    count: APPENDS,
    durable: false,
    pool,
    freshPath,
    open: (path) => Wal.open(path, preallocate === undefined ? {} : { preallocate }),
  });

const sides: Side[] = [
  writeSide({
    name: "raw writeSync",
    count: APPENDS,
    durable: false,
    frames: frame,
    frameSize,
    freshPath,
  }),
  framedByHand("framed by hand (copy + CRC-32C)"),
  wal("Wal.append, default zero fill"),
  wal("Wal.append, preallocate: 0", 0),
];
const times = await timeRotating(sides, APPENDS, ROUNDS);
const base = median(times[0]!);
console.log(`append of 256-byte records, ${APPENDS} per round, median of ${ROUNDS} rounds`);
sides.forEach(({ name }, index) => {
  const ns = median(times[index]!);
  console.log(`${name.padEnd(34)} ${ns.toFixed(0).padStart(6)} ns  ${(ns / base).toFixed(2)}×`);
});
console.log(`work hash ${workDigest()}`);
rmSync(dir, { recursive: true, force: true });
