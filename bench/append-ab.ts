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
import { BENCH_PAYLOAD, consume, median, workDigest } from "./harness.ts";

const APPENDS = Number(process.env.WAL_BENCH_APPENDS ?? 200_000);
const ROUNDS = 9;
const dir = mkdtempSync(join(tmpdir(), "wal-db-bench-"));
const frame = new Uint8Array(HEADER_SIZE + BENCH_PAYLOAD.length);

function raw(framed: boolean): number {
  const path = join(dir, "raw");
  const fd = openSync(path, "w+");
  const start = performance.now();
  for (let i = 0; i < APPENDS; i++) {
    if (framed) {
      frame.set(BENCH_PAYLOAD, HEADER_SIZE);
      sealFrame(frame, BENCH_PAYLOAD.length);
    }
    writeSync(fd, frame, 0, frame.length, i * frame.length);
  }
  const elapsed = performance.now() - start;
  closeSync(fd);
  rmSync(path);
  return elapsed;
}

function wal(preallocate: number | undefined): number {
  const path = join(dir, "wal");
  const log = Wal.open(path, preallocate === undefined ? {} : { preallocate });
  const start = performance.now();
  let sum = 0;
  for (let i = 0; i < APPENDS; i++) sum += log.append(BENCH_PAYLOAD);
  consume(sum);
  const elapsed = performance.now() - start;
  log.close();
  rmSync(path);
  return elapsed;
}

const sides: [string, () => number][] = [
  ["raw writeSync", () => raw(false)],
  ["framed by hand (copy + CRC-32C)", () => raw(true)],
  ["Wal.append, default zero fill", () => wal(undefined)],
  ["Wal.append, preallocate: 0", () => wal(0)],
];
const times = sides.map((): number[] => []);
for (let round = 0; round < ROUNDS; round++) {
  for (let k = 0; k < sides.length; k++) {
    const index = (round + k) % sides.length;
    times[index]!.push(sides[index]![1]());
  }
}
const base = median(times[0]!);
console.log(`append of 256-byte records, ${APPENDS} per round, median of ${ROUNDS} rounds`);
sides.forEach(([name], index) => {
  const ns = (median(times[index]!) * 1e6) / APPENDS;
  console.log(
    `${name.padEnd(34)} ${ns.toFixed(0).padStart(6)} ns  ${(median(times[index]!) / base).toFixed(2)}×`,
  );
});
console.log(`work hash ${workDigest()}`);
rmSync(dir, { recursive: true, force: true });
