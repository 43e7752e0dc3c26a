/**
 * The benchmarks run at a tiny size inside the suite, so they cannot rot: the run must finish,
 * print every row with a ratio, and print the hash of its work. No timing is asserted here;
 * speed is judged from `bun run bench` (see docs/BENCHMARKS.md).
 */

import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { runScript } from "./support/child.ts";
import { tempDir } from "./support/temp.ts";

test("bench/run.ts runs end to end at WAL_BENCH_SIZE=tiny", async () => {
  const results = tempDir("wal-db-bench-results-");
  const { stdout, stderr, code } = await runScript(join(import.meta.dir, "..", "bench", "run.ts"), {
    WAL_BENCH_SIZE: "tiny",
    WAL_BENCH_RESULTS: results,
  });
  expect(stderr).toBe("");
  expect(code).toBe(0);
  for (const row of [
    "append 256 B",
    "appendAndSync 256 B",
    "recovery: open (scan + CRC)",
    "recovery: open + iter replay",
    "crc32c over 1 MiB blocks",
    "segmented recovery: open",
    "segmented append: rolls",
    "segmented append: steady",
    "segmented append: steady, then one barrier",
    "commit 100 B ×256, archived",
    "restore, 1 MiB segments",
  ]) {
    expect(stdout).toMatch(
      new RegExp(`^${row.replace(/[()+]/g, "\\$&")} .* time ratio \\d+\\.\\d\\d×$`, "m"),
    );
  }
  expect(stdout).toMatch(/^segmented recovery: .* peak RSS [\d.]+ MiB vs [\d.]+ MiB/m);
  // The lag line is printed with its parts; what the figures are is for docs/BENCHMARKS.md.
  expect(stdout).toMatch(/^archive lag: +p50 .*, p99 .*, max .* samples/m);
  expect(stdout).toMatch(/^work hash [0-9a-f]{8}$/m);
  // Results go where WAL_BENCH_RESULTS says, never into the checkout.
  expect(readdirSync(results).length).toBeGreaterThan(0);
});

test("bench/append-ab.ts runs end to end at WAL_BENCH_APPENDS=500", async () => {
  const script = join(import.meta.dir, "..", "bench", "append-ab.ts");
  const { stdout, stderr, code } = await runScript(script, { WAL_BENCH_APPENDS: "500" });
  expect(stderr).toBe("");
  expect(code).toBe(0);
  for (const side of [
    "raw writeSync",
    "framed by hand",
    "Wal.append, default",
    "Wal.append, pre",
  ]) {
    expect(stdout).toMatch(new RegExp(`^${side}.* \\d+ ns  \\d+\\.\\d\\d×$`, "m"));
  }
  expect(stdout).toMatch(/^work hash [0-9a-f]{8}$/m);
});
