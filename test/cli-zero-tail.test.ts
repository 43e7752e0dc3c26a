/**
 * How `verify`, `inspect` and `dump` report damage in a log that keeps a zero-filled tail,
 * run as a user runs them. The zeros after the last record are unused space, not damage: a
 * report names the damaged bytes (from the first to the last byte that is not zero), where
 * they are, and the zeros before and after them apart, never "1 MiB of damage" for one
 * flipped byte. The log is 80 records of 1000-byte frames, so its records end at 80,000, and
 * the default 1 MiB fill after them.
 */

import { describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Wal } from "../src/index.ts";
import { runScript } from "./support/child.ts";
import { logPath, tempDir } from "./support/temp.ts";

const MAIN = join(import.meta.dir, "..", "src", "cli", "main.ts");
const dir = tempDir("wal-db-cli-zero-tail-");

/** 80 frames of 8 + 992 bytes: the records end at 80,000. */
const RECORDS = 80;
const FRAME_SIZE = 1000;
const RECORDS_END = RECORDS * FRAME_SIZE;

function cli(args: string[]) {
  return runScript(MAIN, {}, args);
}

/** A log of {@link RECORDS} records with the default zero-filled tail; its size on disk. */
function writeLog(): { path: string; size: number } {
  const path = logPath(dir);
  {
    using wal = Wal.open(path);
    for (let i = 0; i < RECORDS; i++) wal.append("x".repeat(FRAME_SIZE - 8));
    wal.sync();
    expect(wal.len).toBe(RECORDS_END);
  }
  const size = statSync(path).size;
  // The fill is what this test is about: at least a large part of a MiB of zeros.
  expect(size - RECORDS_END).toBeGreaterThan(512 * 1024);
  expect(
    readFileSync(path)
      .subarray(RECORDS_END)
      .every((byte) => byte === 0),
  ).toBe(true);
  return { path, size };
}

/** Flips every bit of the byte at `offset`: a zero becomes 0xff. */
function flipByte(path: string, offset: number): void {
  const bytes = readFileSync(path);
  bytes[offset]! ^= 0xff;
  writeFileSync(path, bytes);
}

describe("verify", () => {
  test("a log with a zero-filled tail and no damage is OK", async () => {
    const { path } = writeLog();
    expect(await cli(["verify", path])).toEqual({
      code: 0,
      stdout: `OK ${path}: 80 records, LSN 0 to ${RECORDS_END}\n`,
      stderr: "",
    });
  });

  test("a byte flipped at the first byte of the zero tail (80,000): 1 damaged byte there, then the zeros", async () => {
    const { path, size } = writeLog();
    flipByte(path, RECORDS_END);
    const run = await cli(["verify", path]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe("");
    expect(run.stdout).toMatch(
      new RegExp(
        `^DAMAGED ${path}: 80 records, LSN 0 to 80000, then 1 byte at offset 80000 \\(a torn tail, no valid record after it\\): checksum mismatch: [^;]*; then zeros to the end \\(${size - RECORDS_END - 1} bytes\\)\n$`,
      ),
    );
  });

  // Near its start, in its middle, at its last byte: the zeros before the flip are named apart.
  test.each([
    ["near its start", (_size: number) => RECORDS_END + 5],
    ["in its middle", (size: number) => RECORDS_END + Math.floor((size - RECORDS_END) / 2)],
    ["at its last byte", (size: number) => size - 1],
  ])(
    "a byte flipped in the zero tail %s: zeros, the damaged byte at its offset, zeros",
    async (_where, at) => {
      const { path, size } = writeLog();
      const tail = size - RECORDS_END;
      const offset = at(size);
      flipByte(path, offset);
      const after = size - offset - 1;
      const run = await cli(["verify", path]);
      expect(run).toEqual({
        code: 1,
        stdout:
          `DAMAGED ${path}: 80 records, LSN 0 to 80000, then zeros from 80000 to ${offset}, then ` +
          `1 byte at offset ${offset} (a torn tail, no valid record after it): not zero, in the ` +
          `zero-filled space after the last record${after > 0 ? `; then zeros to the end (${after} bytes)` : ""}\n`,
        stderr: "",
      });
      const json = JSON.parse((await cli(["verify", path, "--json"])).stdout);
      expect(json).toMatchObject({
        ok: false,
        records: 80,
        end: RECORDS_END,
        damage: {
          offset,
          bytes: 1,
          records: 0,
          kind: "torn tail",
          zeroBytesBefore: offset - RECORDS_END,
          zeroBytesAfter: after,
          cut: { offset: RECORDS_END, bytes: tail },
        },
      });
    },
  );

  test("a flipped byte in the last record: the damaged bytes end where the records did, the zeros after are apart", async () => {
    const { path, size } = writeLog();
    const last = RECORDS_END - FRAME_SIZE;
    flipByte(path, last + 500);
    const json = JSON.parse((await cli(["verify", path, "--json"])).stdout);
    expect(json.damage).toMatchObject({
      offset: last,
      bytes: FRAME_SIZE,
      records: 0,
      kind: "torn tail",
      zeroBytesBefore: 0,
      zeroBytesAfter: size - RECORDS_END,
      cut: { offset: last, bytes: size - last },
    });
  });

  test("damage that valid records follow: the damaged region runs to the last record, the zeros after are apart", async () => {
    const { path, size } = writeLog();
    const damaged = 39 * FRAME_SIZE;
    flipByte(path, damaged + 100);
    const run = await cli(["verify", path]);
    expect(run.code).toBe(1);
    expect(run.stdout).toStartWith(
      `DAMAGED ${path}: 39 records, LSN 0 to ${damaged}, then ${RECORDS_END - damaged} bytes at offset ${damaged} (damage, with 40 valid records after it): checksum mismatch`,
    );
    expect(run.stdout).toEndWith(`; then zeros to the end (${size - RECORDS_END} bytes)\n`);
  });
});

describe("zeros that are not a zero tail", () => {
  test("zeros that end the last record cut with damage are in the damaged region, not unused", async () => {
    const path = logPath(dir);
    let lsns: number[];
    {
      using wal = Wal.open(path, { preallocate: 0 });
      lsns = ["first", "second"].map((text) => wal.append(text));
      wal.append(new Uint8Array([1, 2, 3, 0, 0, 0, 0]));
      wal.sync();
    }
    const size = statSync(path).size;
    flipByte(path, lsns[1]! + 8);
    const json = JSON.parse((await cli(["verify", path, "--json"])).stdout);
    expect(json.damage).toMatchObject({
      offset: lsns[1],
      bytes: size - lsns[1]!,
      records: 1,
      kind: "damage",
      zeroBytesBefore: 0,
      zeroBytesAfter: 0,
    });
  });

  test("a record above --max-record-size that ends in zeros, cut with damage, is in the damaged region whole, as open counts it", async () => {
    const path = logPath(dir);
    const large = new Uint8Array(2000);
    large.set([1, 2, 3]);
    let lsns: number[];
    {
      using wal = Wal.open(path, { preallocate: 0 });
      lsns = ["first", "second", "third"].map((text) => wal.append(text));
      wal.append(large);
      wal.sync();
    }
    const size = statSync(path).size;
    flipByte(path, lsns[1]! + 8);
    // Read with a limit the last record exceeds: open counts it among the records it would cut
    // (a whole, valid record), so the region it reports runs to that record's last byte.
    const run = await cli(["verify", path, "--json", "--max-record-size", "1000"]);
    expect(JSON.parse(run.stdout).damage).toMatchObject({
      offset: lsns[1],
      bytes: size - lsns[1]!,
      records: 2,
      kind: "damage",
      zeroBytesBefore: 0,
      zeroBytesAfter: 0,
    });
  });

  test("a segmented log keeps no zero fill: zeros after its records are the torn tail itself", async () => {
    const path = join(dir, "segments");
    let end: number;
    {
      using wal = Wal.open(path, { segmentSize: 4096 });
      wal.append("one record");
      wal.sync();
      end = wal.len;
    }
    const segment = join(path, `${"0".repeat(20)}.wal`);
    writeFileSync(segment, Buffer.concat([readFileSync(segment), new Uint8Array(100)]));
    const run = await cli(["verify", path]);
    expect(run).toEqual({
      code: 1,
      stdout: `DAMAGED ${path}: 1 record, LSN 0 to ${end}, then 100 bytes at offset ${end} (a torn tail, no valid record after it): zero-filled header (space never written)\n`,
      stderr: "",
    });
  });
});

describe("inspect and dump", () => {
  test("inspect says what an open would cut with the zeros apart", async () => {
    const { path, size } = writeLog();
    const offset = RECORDS_END + 4096;
    flipByte(path, offset);
    const run = await cli(["inspect", path]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      `\nopen would cut zeros from 80000 to ${offset}, then 1 byte at offset ${offset} (a torn tail, no valid record after it): not zero, in the zero-filled space after the last record; then zeros to the end (${size - offset - 1} bytes)\n`,
    );
  });

  test("dump's note on damage that valid records follow counts the zero tail apart", async () => {
    const { path, size } = writeLog();
    const damaged = 79 * FRAME_SIZE - FRAME_SIZE;
    flipByte(path, damaged + 8);
    const run = await cli(["dump", path, "--limit", "1000", "--format", "hex"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toStartWith(
      `wal-db: dump: stopped at ${2 * FRAME_SIZE} bytes at offset ${damaged} (damage, with 1 valid record after it): checksum mismatch`,
    );
    expect(run.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(run.stderr).toContain(`; then zeros to the end (${size - RECORDS_END} bytes); `);
  });
});
