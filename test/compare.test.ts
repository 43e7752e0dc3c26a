/**
 * The peer comparison (bench/compare.ts) and the durability audit (bench/audit.ts) run at a
 * tiny size inside the suite, so they cannot rot: every contender must produce a positive rate
 * in every row and the results must parse. No timing is asserted. Where strace is on PATH, the
 * audit must also see at least one barrier per serial commit of the hand-rolled log and of
 * wal-db, each between the commit's start and its acknowledgement.
 */

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AuditReport } from "../bench/audit.ts";
import { runScript } from "./support/child.ts";

const benchDir = join(import.meta.dir, "..", "bench");
// Results, contender directories and traces all go here, never into bench/results.
const scratch = mkdtempSync(join(tmpdir(), "wal-db-compare-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const runBench = (script: string) =>
  runScript(join(benchDir, script), {
    WAL_BENCH_SIZE: "tiny",
    WAL_BENCH_RESULTS: scratch,
    TMPDIR: scratch,
  });

test("bench/compare.ts at WAL_BENCH_SIZE=tiny: a positive rate for every contender in every row", async () => {
  const { stdout, stderr, code } = await runBench("compare.ts");
  expect(stderr).toBe("");
  expect(code).toBe(0);
  expect(stdout).toMatch(/^work hash [0-9a-f]{8}, \d+ s$/m);
  const results = JSON.parse(readFileSync(join(scratch, "compare-tiny.json"), "utf8")) as {
    rows: { id: string; results: Record<string, { rate: number; ratio: number }> }[];
    memory: { samples: unknown[] };
  };
  expect(results.rows.map((row) => row.id)).toEqual(["W1", "W2 N=1", "W2 N=16", "W3", "W4"]);
  for (const row of results.rows) {
    const contenders = Object.keys(row.results);
    expect(contenders).toContain("hand-rolled");
    expect(contenders).toContain("bun:sqlite");
    expect(contenders).toContain("lmdb");
    expect(contenders).toContain("classic-level");
    expect(contenders).toContain("wal-db");
    for (const [contender, cell] of Object.entries(row.results)) {
      expect({ row: row.id, contender, positive: cell.rate > 0 && cell.ratio > 0 }).toEqual({
        row: row.id,
        contender,
        positive: true,
      });
    }
  }
  expect(results.memory.samples.length).toBe(10);
});

const strace = Bun.which("strace");
if (strace === null) console.log("strace is not on PATH: the durability audit test is skipped");

test.skipIf(strace === null)(
  "bench/audit.ts sees ≥1 barrier inside every W1 commit of the hand-rolled log and wal-db",
  async () => {
    const { stdout, stderr, code } = await runBench("audit.ts");
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    expect(stdout).toContain("durability audit");
    const { audit } = JSON.parse(readFileSync(join(scratch, "audit.json"), "utf8")) as {
      audit: AuditReport;
    };
    for (const contender of ["hand-rolled", "wal-db"] as const) {
      const serial = audit.contenders[contender]!.serial;
      expect(serial.commits).toBeGreaterThan(0);
      expect(serial.barriersPerCommit).toBeGreaterThanOrEqual(1);
      expect(serial.covered).toBe(serial.commits);
    }
  },
);
