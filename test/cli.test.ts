/**
 * The `wal-db` command line, run as a user runs it: `bun src/cli/main.ts <command> ...` in a
 * child process, checking its exit code, stdout and stderr together. Logs are made with the
 * library, then damaged byte by byte: a flipped byte mid-record, a torn tail, damage that valid
 * records follow. The read-only commands must leave every byte as they found it.
 */

import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "bun";
import { ProgressBar } from "../src/cli/progress.ts";
import { escapeText } from "../src/cli/record-format.ts";
import { judge } from "../src/cli/torture-judge.ts";
import { payloadHash, torturePayload } from "../src/cli/torture-records.ts";
import { Wal } from "../src/index.ts";
import { runScript, startFixture } from "./support/child.ts";
import { logPath, tempDir } from "./support/temp.ts";

const MAIN = join(import.meta.dir, "..", "src", "cli", "main.ts");
const INDEX = join(import.meta.dir, "..", "src", "index.ts");
const dir = tempDir("wal-db-cli-");
const COMMANDS = ["inspect", "verify", "dump", "tail", "torture", "bench"];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `wal-db ...args` to its end. */
function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return runScript(MAIN, env, args);
}

const PAYLOADS = ["a state change", "", "line\nbreak\ttab\\slash", "é ünïcödé", "x".repeat(300)];

/** A single-file log of `payloads` with no zero-filled tail, so its bytes are exactly its frames. */
function writeLog(payloads: readonly (string | Uint8Array)[] = PAYLOADS): {
  path: string;
  lsns: number[];
  end: number;
} {
  const path = logPath(dir);
  using wal = Wal.open(path, { preallocate: 0 });
  const lsns = payloads.map((payload) => wal.append(payload));
  wal.sync();
  return { path, lsns, end: wal.len };
}

/** Flips one byte of the file at `offset`. */
function flipByte(path: string, offset: number): void {
  const bytes = readFileSync(path);
  bytes[offset]! ^= 0xff;
  writeFileSync(path, bytes);
}

/** Expects `run` to have failed with exactly one line on stderr, starting with `prefix`. */
function expectOneErrorLine(run: Run, code: number, prefix: string): void {
  expect(run.code).toBe(code);
  expect(run.stderr.startsWith(prefix)).toBe(true);
  expect(run.stderr.endsWith("\n")).toBe(true);
  expect(run.stderr.trimEnd().split("\n")).toHaveLength(1);
}

describe("usage", () => {
  test.each(COMMANDS)("%s --help prints its usage and exits 0", async (command) => {
    const run = await cli([command, "--help"]);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    expect(run.stdout).toStartWith(`Usage: wal-db ${command}`);
    expect(run.stdout).toContain("Exit codes:");
  });

  test("-h among other short flags is help too, and needs no path", async () => {
    const run = await cli(["tail", "-fh"]);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    expect(run.stdout).toStartWith("Usage: wal-db tail");
  });

  test("wal-db --help lists every command; no command is a usage error", async () => {
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    for (const command of COMMANDS) expect(help.stdout).toContain(`  ${command} `);
    const bare = await cli([]);
    expect(bare.code).toBe(2);
    expect(bare.stdout).toContain("Usage: wal-db <command>");
  });

  test("an unknown command exits 2 with one line", async () => {
    expectOneErrorLine(await cli(["frobnicate"]), 2, "wal-db: unknown command 'frobnicate'");
  });

  test.each([
    [["verify", "x.wal", "--bogus"], "wal-db: verify: unknown option '--bogus'"],
    [["dump"], "wal-db: dump: missing <path>"],
    [["inspect", "a", "b"], "wal-db: inspect: unexpected argument 'b'"],
    [
      ["dump", "x.wal", "--format", "xml"],
      "wal-db: dump: --format takes json, hex or text, got 'xml'",
    ],
    [
      ["dump", "x.wal", "--limit=-3"],
      "wal-db: dump: --limit takes a count of records, 0 or more, got '-3'",
    ],
    [
      ["dump", "x.wal", "--limit", "ten"],
      "wal-db: dump: --limit takes a count of records, 0 or more, got 'ten'",
    ],
    [["tail", "x.wal", "--from"], "wal-db: tail: --from needs a value"],
    [
      ["torture", dir, "--kills", "0"],
      "wal-db: torture: --kills takes a count of kills, from 1 to 1000000, got '0'",
    ],
    [["bench", "extra"], "wal-db: bench: unexpected argument 'extra'"],
  ])("bad arguments %j exit 2 with one line", async (args, prefix) => {
    expectOneErrorLine(await cli(args), 2, prefix);
  });

  /**
   * Every numeric option of every command, with a value a user could type by mistake: each is
   * refused with exit 2 and one line that names the option as typed, what it takes, and the
   * value. A negative number is a value, not an option (`-n -1` once said "takes no value").
   */
  const NUMERIC_OPTIONS: [command: string, option: string, takes: string][] = [
    ["inspect", "--segment-size", "a size in bytes, 4096 or more"],
    ["inspect", "--max-record-size", "a size in bytes, from 0 to"],
    ["verify", "--segment-size", "a size in bytes, 4096 or more"],
    ["verify", "--max-record-size", "a size in bytes, from 0 to"],
    ["dump", "--from", "an LSN, 0 or more"],
    ["dump", "--limit", "a count of records, 0 or more"],
    ["dump", "--segment-size", "a size in bytes, 4096 or more"],
    ["dump", "--max-record-size", "a size in bytes, from 0 to"],
    ["tail", "-n", "a count of records, 0 or more"],
    ["tail", "--lines", "a count of records, 0 or more"],
    ["tail", "--from", "an LSN, 0 or more"],
    ["tail", "--interval", "milliseconds, from 1 to 86400000"],
    ["tail", "--segment-size", "a size in bytes, 4096 or more"],
    ["tail", "--max-record-size", "a size in bytes, from 0 to"],
    ["torture", "--kills", "a count of kills, from 1 to 1000000"],
    ["torture", "--seed", "an integer, from 0 to 4294967295"],
    ["torture", "--max-run-ms", "milliseconds, from 0 to 60000"],
    ["torture", "--segment-size", "a size in bytes, 4096 or more"],
    ["bench", "--record-size", "a size in bytes, from 0 to 16777216"],
  ];
  const BAD_NUMBERS = ["-1", "ten", "1.5", "99999999999999999999"];

  test.each(NUMERIC_OPTIONS)(
    "%s %s: a bad value says what the option takes",
    async (command, option, takes) => {
      // The path exists, so an option checked after the path is looked at still fails on itself.
      const target = command === "torture" ? [dir] : command === "bench" ? [] : [writeLog().path];
      for (const bad of BAD_NUMBERS) {
        const run = await cli([command, ...target, option, bad]);
        expectOneErrorLine(run, 2, `wal-db: ${command}: ${option} takes ${takes}`);
        expect(run.stderr).toContain(`, got '${bad}' (see 'wal-db ${command} --help')`);
      }
    },
  );

  test("an option that needs a value, followed by another option, says so", async () => {
    const run = await cli(["dump", "x.wal", "--from", "--limit", "3"]);
    expectOneErrorLine(run, 2, "wal-db: dump: --from needs a value, got the option '--limit'");
  });
});

describe("inspect", () => {
  test("a clean log: counts, LSNs, size histogram, nothing to cut", async () => {
    const { path, lsns, end } = writeLog();
    const run = await cli(["inspect", path]);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    expect(run.stdout).toMatch(/^records +5$/m);
    expect(run.stdout).toMatch(new RegExp(`^last LSN +${lsns.at(-1)}$`, "m"));
    expect(run.stdout).toMatch(new RegExp(`^end +${end} `, "m"));
    expect(run.stdout).toMatch(/^ +0: +1 #+$/m); // the empty payload
    expect(run.stdout).toMatch(/^ +256-511: +1 #+$/m); // the 300-byte one
    expect(run.stdout).toMatch(/^open would cut nothing$/m);

    const json = JSON.parse((await cli(["inspect", path, "--json"])).stdout);
    expect(json).toMatchObject({
      records: 5,
      firstLsn: 0,
      lastLsn: lsns.at(-1),
      end,
      head: 0,
      wouldCut: null,
    });
    expect(json.sizes.reduce((sum: number, b: { records: number }) => sum + b.records, 0)).toBe(5);
  });

  test("damage that valid records follow: what open would cut, and nothing is cut", async () => {
    const { path, lsns } = writeLog();
    flipByte(path, lsns[2]! + 10); // inside the third record's payload
    const before = readFileSync(path);
    const json = JSON.parse((await cli(["inspect", path, "--json"])).stdout);
    expect(json.records).toBe(2);
    expect(json.wouldCut).toMatchObject({
      offset: lsns[2],
      bytes: before.length - lsns[2]!,
      records: 2,
      kind: "damage",
    });
    expect(json.wouldCut.reason).toStartWith("checksum mismatch");
    const text = await cli(["inspect", path]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      new RegExp(
        `^open would cut ${before.length - lsns[2]!} bytes at offset ${lsns[2]} \\(damage, with 2 valid records after it\\): checksum mismatch`,
        "m",
      ),
    );
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  test("a segmented log: the segment size is read from its files", async () => {
    const path = join(dir, "segments-inspect");
    {
      using wal = Wal.open(path, { segmentSize: 4096 });
      for (let i = 0; i < 10; i++) wal.append(`record number ${i} ${"x".repeat(1500)}`);
      wal.sync();
    }
    const json = JSON.parse((await cli(["inspect", path, "--json"])).stdout);
    expect(json).toMatchObject({ kind: "segments", records: 10, wouldCut: null });
    expect(json.segments).toMatchObject({ segmentSize: 4096, segmentSizeFrom: "files" });
    expect(json.segments.count).toBeGreaterThan(2);
    // A size that contradicts the files is refused, not misread.
    const wrong = await cli(["verify", path, "--segment-size", "8192"]);
    expectOneErrorLine(wrong, 3, "wal-db: verify: ");
    expect(wrong.stderr).toContain("8192");
  });

  test("one segment that does not start the log needs --segment-size", async () => {
    const path = join(dir, "segments-lonely");
    mkdirSync(path);
    writeFileSync(join(path, `${"3".padStart(20, "0")}.wal`), new Uint8Array(10));
    const run = await cli(["inspect", path]);
    expectOneErrorLine(run, 2, "wal-db: inspect: ");
    expect(run.stderr).toContain("--segment-size");
  });
});

describe("verify", () => {
  test("a clean log exits 0 with one OK line", async () => {
    const { path, end } = writeLog();
    const run = await cli(["verify", path]);
    expect(run).toEqual({
      code: 0,
      stdout: `OK ${path}: 5 records, LSN 0 to ${end}\n`,
      stderr: "",
    });
    const json = JSON.parse((await cli(["verify", path, "--json"])).stdout);
    expect(json).toMatchObject({ ok: true, records: 5, end, damage: null });
  });

  test("a zero-filled tail after the last record is clean", async () => {
    const path = logPath(dir);
    {
      using wal = Wal.open(path); // keeps the default zero-filled tail
      wal.appendAndSync("one");
    }
    expect((await cli(["verify", path])).code).toBe(0);
  });

  test("a flipped byte mid-record with valid records after it: exit 1, offset and reason", async () => {
    const { path, lsns } = writeLog();
    flipByte(path, lsns[4]! + 100);
    flipByte(path, lsns[0]! + 9);
    const run = await cli(["verify", path]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe("");
    expect(run.stdout).toStartWith(`DAMAGED ${path}: 0 records, LSN 0 to 0, then `);
    expect(run.stdout).toContain(
      "at offset 0 (damage, with 3 valid records after it): checksum mismatch",
    );
    const json = JSON.parse((await cli(["verify", path, "--json"])).stdout);
    expect(json).toMatchObject({ ok: false, damage: { offset: 0, kind: "damage", records: 3 } });
  });

  test("a torn tail: exit 1, reported as a torn tail", async () => {
    const { path, lsns, end } = writeLog();
    writeFileSync(path, readFileSync(path).subarray(0, end - 5));
    const run = await cli(["verify", path, "--json"]);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({
      ok: false,
      records: 4,
      damage: { offset: lsns[4], bytes: end - 5 - lsns[4]!, records: 0, kind: "torn tail" },
    });
    expect(JSON.parse(run.stdout).damage.reason).toStartWith("incomplete payload");
  });

  test("a piped scan draws no progress bar, even past the delay", async () => {
    const { path } = writeLog(Array.from({ length: 5000 }, (_, i) => `record ${i}`));
    const run = await cli(["verify", path], { WAL_DB_PROGRESS_DELAY_MS: "0" });
    expect(run).toMatchObject({ code: 0, stderr: "" });
  });

  // The control for the test above: on a terminal, the same scan does draw the bar.
  test.skipIf(Bun.which("script") === null)("on a terminal the scan draws a progress bar", () => {
    const { path } = writeLog(Array.from({ length: 5000 }, (_, i) => `record ${i}`));
    const command = `${process.execPath} ${MAIN} verify ${path}`;
    const run = spawnSync(["script", "-qec", command, "/dev/null"], {
      env: { ...process.env, WAL_DB_PROGRESS_DELAY_MS: "0" },
    });
    expect(run.exitCode).toBe(0);
    expect(run.stdout.toString()).toMatch(/verify \[#*-*\] +\d+%/);
  });
});

describe("dump", () => {
  test("--format json gives every payload back exactly", async () => {
    const { path, lsns } = writeLog();
    const run = await cli(["dump", path]);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    const lines = run.stdout
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(lines.map((line) => line.lsn)).toEqual(lsns);
    expect(lines.map((line) => Buffer.from(line.data, "base64").toString())).toEqual(PAYLOADS);
    expect(lines.map((line) => line.length)).toEqual(PAYLOADS.map((p) => Buffer.byteLength(p)));
  });

  test("--format hex and text, --from and --limit", async () => {
    const { path, lsns } = writeLog();
    const hex = await cli(["dump", path, "--format", "hex", "--limit", "1"]);
    expect(hex.stdout).toBe(`0\t${Buffer.from("a state change").toString("hex")}\n`);
    const text = await cli([
      "dump",
      path,
      "--format",
      "text",
      "--from",
      String(lsns[1]),
      "--limit",
      "3",
    ]);
    expect(text.stdout).toBe(
      `${lsns[1]}\t\n${lsns[2]}\tline\\nbreak\\ttab\\\\slash\n${lsns[3]}\té ünïcödé\n`,
    );
  });

  test("--from inside a record is a usage error", async () => {
    const { path } = writeLog();
    expectOneErrorLine(
      await cli(["dump", path, "--from", "3"]),
      2,
      "wal-db: dump: lsn 3 is not a record boundary",
    );
  });

  const lsnsOf = (run: Run) =>
    run.stdout
      .trimEnd()
      .split("\n")
      .map((line) => Number(line.split("\t")[0]));

  test("a damaged log is dumped up to the damage, says where it stopped, and is left unchanged", async () => {
    const { path, lsns } = writeLog();
    flipByte(path, lsns[3]! + 4); // the length field
    const before = readFileSync(path);
    const run = await cli(["dump", path, "--format", "hex"]);
    expectOneErrorLine(
      run,
      1,
      `wal-db: dump: stopped at ${readFileSync(path).length - lsns[3]!} bytes at offset ${lsns[3]} (damage, with 1 valid record after it): `,
    );
    expect(run.stderr).toEndWith("; 'wal-db dump --skip-damage' prints the records after it\n");
    expect(lsnsOf(run)).toEqual(lsns.slice(0, 3));
    expect(readFileSync(path).equals(before)).toBe(true);
    // --limit ending the dump before the damage is not a damaged dump.
    expect(await cli(["dump", path, "--limit", "2"])).toMatchObject({ code: 0, stderr: "" });
  });

  test("--skip-damage prints the valid records after damage and names each region", async () => {
    const { path, lsns } = writeLog();
    flipByte(path, lsns[1]!); // the stored CRC of the record with an empty payload
    flipByte(path, lsns[3]! + 4); // the length field
    const before = readFileSync(path);
    const run = await cli(["dump", path, "--format", "hex", "--skip-damage"]);
    expect(run.code).toBe(1);
    expect(lsnsOf(run)).toEqual([0, 2, 4].map((i) => lsns[i]!));
    expect(run.stderr.trimEnd().split("\n")).toEqual([
      expect.stringMatching(new RegExp(`^wal-db: dump: skipped damage at offset ${lsns[1]}: `)),
      expect.stringMatching(new RegExp(`^wal-db: dump: skipped damage at offset ${lsns[3]}: `)),
    ]);
    expect(readFileSync(path).equals(before)).toBe(true);
    // A clean log dumps the same with or without it.
    const clean = writeLog();
    expect(await cli(["dump", clean.path, "--skip-damage"])).toEqual(
      await cli(["dump", clean.path]),
    );
  });

  test("escapeText: control characters, backslashes and bytes that are not UTF-8", () => {
    expect(escapeText(new TextEncoder().encode("a\r\n\x01\\é\u0085"))).toBe(
      "a\\r\\n\\x01\\\\é\\u{85}",
    );
    expect(escapeText(new Uint8Array([0x61, 0xff, 0x0a, 0x5c]))).toBe("a\\xff\\n\\\\");
    expect(escapeText(new Uint8Array([0xef, 0xbb, 0xbf, 0x41]))).toBe("\ufeffA");
  });
});

describe("tail", () => {
  test("prints the last records, or every record from --from", async () => {
    const { path, lsns } = writeLog(Array.from({ length: 15 }, (_, i) => `r${i}`));
    const last = await cli(["tail", path]);
    expect(last.code).toBe(0);
    expect(last.stdout.trimEnd().split("\n")).toEqual(
      lsns.slice(5).map((lsn, i) => `${lsn}\tr${i + 5}`),
    );
    const from = await cli(["tail", path, "--from", String(lsns[13])]);
    expect(from.stdout).toBe(`${lsns[13]}\tr13\n${lsns[14]}\tr14\n`);
  });

  test("a damaged log: the records before the damage, a line saying where it stopped, exit 1", async () => {
    const { path, lsns } = writeLog(["r0", "r1", "r2", "r3"]);
    flipByte(path, lsns[2]! + 8); // r2's payload: valid r3 follows the damage
    const before = readFileSync(path);
    const run = await cli(["tail", path, "-n", "1"]);
    expectOneErrorLine(run, 1, `wal-db: tail: stopped at `);
    expect(run.stderr).toContain(`at offset ${lsns[2]} (damage, with 1 valid record after it)`);
    expect(run.stdout).toBe(`${lsns[1]}\tr1\n`);
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  /**
   * Runs a writer in its own process on the log at `path` (opened with `options`): each step
   * `text` is appended and synced, `cut:LSN` keeps records up to LSN, `drop:LSN` moves the
   * head there. Resolves with the LSN each append returned.
   */
  function writeInChild(path: string, options: object, steps: string[]): number[] {
    const script = join(dir, "writer-child.ts");
    writeFileSync(
      script,
      `import { Wal } from ${JSON.stringify(INDEX)};
using wal = Wal.open(process.argv[2], JSON.parse(process.argv[3]));
for (const step of process.argv.slice(4)) {
  const [verb, lsn] = step.split(":");
  if (verb === "cut") wal.truncateAfter(Number(lsn));
  else if (verb === "drop") wal.truncateBefore(Number(lsn));
  else console.log(wal.appendAndSync(step));
}`,
    );
    const writer = spawnSync([process.execPath, script, path, JSON.stringify(options), ...steps]);
    expect(writer.stderr.toString()).toBe("");
    expect(writer.exitCode).toBe(0);
    return writer.stdout.toString().trimEnd().split("\n").filter(Boolean).map(Number);
  }

  test("--from below the head is refused by tail and dump alike: exit 2", async () => {
    const path = join(dir, "from-below-head");
    const options = { segmentSize: 4096 };
    const lsns = writeInChild(path, options, ["a".repeat(4000), "b".repeat(4000), "c"]);
    writeInChild(path, options, [`drop:${lsns[2]}`]);
    for (const command of ["tail", "dump"]) {
      expectOneErrorLine(
        await cli([command, path, "--from", "0", "--segment-size", "4096"]),
        2,
        `wal-db: ${command}: iterFrom(0): the log starts at ${lsns[2]}`,
      );
    }
  });

  test("tail --follow prints what another process appends and syncs, and exits on SIGTERM", async () => {
    const { path, end } = writeLog(["before the follower"]);
    const tail = startFixture("../src/cli/main.ts", ["tail", path, "--follow"]);
    // The first line comes after the watch is set: from here every append raises an event.
    expect(await tail.line("0\t")).toBe("0\tbefore the follower");
    const appended = writeInChild(path, {}, ["one", "two", "three"]);
    expect(appended[0]).toBe(end);
    expect(await tail.line(`${appended[2]}\t`)).toBe(`${appended[2]}\tthree`);
    tail.process.kill("SIGTERM");
    const exit = await tail.exited();
    expect(exit).toMatchObject({ code: 0, stderr: "" });
    expect(exit.stdout).toEqual([
      "0\tbefore the follower",
      `${appended[0]}\tone`,
      `${appended[1]}\ttwo`,
      `${appended[2]}\tthree`,
    ]);
  });

  test("tail --follow --poll finds appends without a change event, by looking every --interval", async () => {
    const { path } = writeLog(["first"]);
    const tail = startFixture("../src/cli/main.ts", [
      ...["tail", path, "--follow", "--poll", "--interval", "20"],
    ]);
    expect(await tail.line("0\t")).toBe("0\tfirst");
    const appended = writeInChild(path, {}, ["second", "third"]);
    expect(await tail.line(`${appended[1]}\t`)).toBe(`${appended[1]}\tthird`);
    tail.process.kill("SIGINT");
    expect(await tail.exited()).toMatchObject({
      code: 0,
      stderr: "",
      stdout: ["0\tfirst", `${appended[0]}\tsecond`, `${appended[1]}\tthird`],
    });
  });

  test("tail --follow on a segmented log reads across new segments, from one that is still growing", async () => {
    const path = join(dir, "follow-segments");
    // One segment 0 only: its size is read from its length, which grows under the follower.
    const [first] = writeInChild(path, { segmentSize: 4096 }, ["seed"]);
    const tail = startFixture("../src/cli/main.ts", [
      ...["tail", path, "--follow", "--interval", "20"],
    ]);
    expect(await tail.line(`${first}\t`)).toBe(`${first}\tseed`);
    const texts = Array.from({ length: 12 }, (_, i) => `record ${i} ${"x".repeat(i * 300)}`);
    const appended = writeInChild(path, { segmentSize: 4096 }, texts);
    expect(appended.at(-1)! + 8 + texts.at(-1)!.length).toBeGreaterThan(3 * 4096);
    expect(await tail.line(`${appended.at(-1)}\t`)).toBe(`${appended.at(-1)}\t${texts.at(-1)}`);
    tail.process.kill("SIGTERM");
    const exit = await tail.exited();
    expect(exit).toMatchObject({ code: 0, stderr: "" });
    expect(exit.stdout).toEqual([
      `${first}\tseed`,
      ...appended.map((lsn, i) => `${lsn}\t${texts[i]}`),
    ]);
  });

  test("tail --follow on a damaged log prints what a writer appends once its open cut the damage", async () => {
    const { path, lsns } = writeLog(["r0", "r1", "r2"]);
    flipByte(path, lsns[1]! + 8);
    const tail = startFixture("../src/cli/main.ts", [
      ...["tail", path, "--follow", "--interval", "20"],
    ]);
    expect(await tail.line(`${lsns[0]}\t`)).toBe(`${lsns[0]}\tr0`);
    const [next] = writeInChild(path, {}, ["after the cut"]);
    expect(next).toBe(lsns[1]);
    expect(await tail.line(`${next}\t`)).toBe(`${next}\tafter the cut`);
    tail.process.kill("SIGTERM");
    const exit = await tail.exited();
    expect(exit.code).toBe(0);
    expect(exit.stderr).toStartWith(`wal-db: tail: stopped at `);
    expect(exit.stdout).toEqual([`${lsns[0]}\tr0`, `${next}\tafter the cut`]);
  });

  test("tail --follow exits 1 when the log is cut below a record it printed", async () => {
    const { path, lsns } = writeLog(["kept", "printed, then cut"]);
    const tail = startFixture("../src/cli/main.ts", [
      ...["tail", path, "--follow", "--interval", "20"],
    ]);
    expect(await tail.line(`${lsns[1]}\t`)).toBe(`${lsns[1]}\tprinted, then cut`);
    // The same LSN gets other bytes: a reader at the old end would skip the new record.
    writeInChild(path, {}, [`cut:${lsns[0]}`, "the new second record"]);
    const exit = await tail.exited();
    expect(exit.code).toBe(1);
    expect(exit.stderr).toBe(
      `wal-db: tail: the record at LSN ${lsns[1]}, already printed, is gone: the log was cut or replaced\n`,
    );
    expect(exit.stdout).toEqual([`${lsns[0]}\tkept`, `${lsns[1]}\tprinted, then cut`]);
  });

  test("tail --follow keeps the segment size it saw once truncateBefore leaves one segment", async () => {
    const path = join(dir, "follow-compacted");
    const options = { segmentSize: 4096 };
    const [first] = writeInChild(path, options, ["seed"]);
    const tail = startFixture("../src/cli/main.ts", [
      ...["tail", path, "--follow", "--interval", "20"],
    ]);
    expect(await tail.line(`${first}\t`)).toBe(`${first}\tseed`);
    const spread = writeInChild(path, options, ["a".repeat(4000), "b".repeat(4000), "c"]);
    expect(await tail.line(`${spread[2]}\t`)).toBe(`${spread[2]}\tc`);
    // Only segment 1 is left, above index 0: its files no longer say the segment size.
    const after = writeInChild(path, options, [`drop:${spread[2]}`, "after the drop"]);
    expect(await tail.line(`${after[0]}\t`)).toBe(`${after[0]}\tafter the drop`);
    tail.process.kill("SIGTERM");
    expect(await tail.exited()).toMatchObject({ code: 0, stderr: "" });
  });

  test("tail --follow exits 1 when truncateBefore drops records it had not printed", async () => {
    const path = join(dir, "follow-dropped");
    const options = { segmentSize: 4096 };
    const [first] = writeInChild(path, options, ["seed"]);
    const tail = startFixture("../src/cli/main.ts", [
      ...["tail", path, "--follow", "--poll", "--interval", "20", "--segment-size", "4096"],
    ]);
    expect(await tail.line(`${first}\t`)).toBe(`${first}\tseed`);
    // Stopped, the follower cannot look while the writer appends and drops past its position.
    tail.process.kill("SIGSTOP");
    const appended = writeInChild(path, options, ["a".repeat(4000), "b".repeat(4000), "c"]);
    writeInChild(path, options, [`drop:${appended[2]}`]);
    tail.process.kill("SIGCONT");
    const exit = await tail.exited();
    expect(exit.code).toBe(1);
    expect(exit.stderr).toBe(
      `wal-db: tail: records from LSN ${appended[0]} to ${appended[2]} were dropped (truncateBefore) before they were printed\n`,
    );
    expect(exit.stdout).toEqual([`${first}\tseed`]);
  });
});

describe("torture", () => {
  test("torture --kills 3 loses nothing and finds no phantom", async () => {
    const target = join(dir, "torture");
    mkdirSync(target);
    const run = await cli(["torture", target, "--kills", "3", "--max-run-ms", "40"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^kill 3\/3: /m);
    expect(run.stdout).toMatch(/^acknowledged \d+, recovered \d+, lost 0, phantom 0$/m);
  });

  test("torture on a log that acknowledges a record it never wrote: lost, exit 1, log kept", async () => {
    const target = join(dir, "torture-sabotaged");
    mkdirSync(target);
    // Preloaded into every process of the run: each writer's third appendAndSync returns the
    // next LSN without writing, so the record it acknowledges is not there.
    const sabotage = join(dir, "sabotage.ts");
    writeFileSync(
      sabotage,
      `import { Wal } from ${JSON.stringify(INDEX)};
const real = Wal.prototype.appendAndSync;
let calls = 0;
Wal.prototype.appendAndSync = function (value) {
  return ++calls === 3 ? this.len : real.call(this, value);
};`,
    );
    // Seed 7 kills the writer 269 ms after it is ready: a random moment could come before its
    // third append, and then there would be nothing to catch.
    const run = await cli(
      ["torture", target, "--kills", "1", "--max-run-ms", "300", "--seed", "7"],
      { BUN_OPTIONS: `--preload ${sabotage}` },
    );
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(1);
    expect(run.stdout).toMatch(/^acknowledged \d+, recovered \d+, lost [1-9]\d*, phantom \d+$/m);
    expect(readdirSync(target)).toContain("torture.wal");
  });

  // The checker itself, on outcomes a broken log could give: each must be counted.
  describe("judge", () => {
    const seed = 42;
    const frame = (lsn: number, data: Uint8Array) => ({ lsn, data });
    const attempt = (seq: number) => torturePayload(seed, 0, seq);
    const ackOf = (seq: number, lsn: number) => {
      const payload = attempt(seq);
      return { seq, lsn, length: payload.length, hash: payloadHash(payload) };
    };
    const first = frame(0, attempt(0));
    const secondLsn = 8 + first.data.length;
    const second = frame(secondLsn, attempt(1));
    const thirdLsn = secondLsn + 8 + second.data.length;

    test("everything acknowledged is there, plus the one record in flight: clean", () => {
      const verdict = judge(seed, 0, [], [ackOf(0, 0)], [first, second]);
      expect(verdict).toMatchObject({ recovered: 2, lost: 0, phantom: 0 });
    });

    test("an acknowledged record missing is lost", () => {
      expect(judge(seed, 0, [], [ackOf(0, 0), ackOf(1, secondLsn)], [first])).toMatchObject({
        lost: 1,
        phantom: 0,
      });
    });

    test("two unacknowledged records, or changed bytes, are phantoms", () => {
      const third = frame(thirdLsn, attempt(2));
      expect(judge(seed, 0, [], [], [first, second, third]).phantom).toBe(2);
      const changed = frame(
        0,
        attempt(0).map((byte, i) => (i === 9 ? byte ^ 1 : byte)),
      );
      expect(judge(seed, 0, [], [], [changed])).toMatchObject({ phantom: 1, recovered: 0 });
    });

    test("a baseline record that changed is lost and its replacement a phantom", () => {
      const other = frame(0, torturePayload(seed, 9, 0));
      expect(judge(seed, 1, [first], [], [other])).toMatchObject({ lost: 1, phantom: 1 });
    });
  });
});

describe("bench", () => {
  test("a --dir that does not exist exits 3 with one line", async () => {
    expectOneErrorLine(
      await cli(["bench", "--quick", "--dir", join(dir, "missing")]),
      3,
      `wal-db: bench: ${join(dir, "missing")}: no such directory`,
    );
  });

  test("bench --quick prints every row with a rate and a ratio", async () => {
    const run = await cli(["bench", "--quick", "--dir", dir]);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    for (const row of [
      "durable commit: wal-db appendAndSync",
      "durable commit: writeSync \\+ fdatasyncSync",
      "append: wal-db append",
      "append: writeSync",
    ]) {
      expect(run.stdout).toMatch(new RegExp(`^${row} +[\\d,]+ /s  \\([\\d.]+ MiB/s\\)$`, "m"));
    }
    expect(run.stdout.match(/ratio wal-db \/ hand-rolled +\d+\.\d\d×$/gm)).toHaveLength(2);
    expect(run.stdout).toMatch(/^work [1-9]\d* bytes$/m);
  });

  test("bench --quick --json prints one object: rates, ratios, the work done; its directory is gone", async () => {
    const run = await cli(["bench", "--quick", "--json", "--dir", dir, "--record-size", "64"]);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    const report = JSON.parse(lines[0]!);
    expect(report).toMatchObject({ recordSize: 64, rounds: 3, caseMs: 150 });
    for (const side of [report.durableCommit, report.append]) {
      expect(side.wal.perSecond).toBeGreaterThan(0);
      expect(side.handRolled.perSecond).toBeGreaterThan(0);
      expect(side.ratio).toBeCloseTo(side.wal.perSecond / side.handRolled.perSecond, 10);
    }
    expect(report.durableCommit.wal.name).toBe("appendAndSync");
    expect(report.bytesWritten).toBeGreaterThan(0);
    expect(existsSync(report.dir)).toBe(false);
  });
});

describe("progress bar", () => {
  test("draws on a terminal after its delay and erases itself; never on a pipe", () => {
    const drawn: string[] = [];
    const terminal = new ProgressBar("scan", 100, { isTTY: true, write: (t) => drawn.push(t) }, 0);
    terminal.update(50);
    terminal.finish();
    expect(drawn[0]).toBe(`\rscan [${"#".repeat(15)}${"-".repeat(15)}]  50%`);
    expect(drawn[1]).toBe("\r\x1b[2K");
    const piped: string[] = [];
    const pipe = new ProgressBar("scan", 100, { isTTY: false, write: (t) => piped.push(t) }, 0);
    pipe.update(50);
    pipe.finish();
    expect(piped).toEqual([]);
  });
});
