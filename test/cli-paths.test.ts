/**
 * The reading commands (`inspect`, `verify`, `dump`, `tail`) on paths that hold no log, run as
 * a user runs them: a missing file or directory, a directory with other files in it (an
 * `/etc`), an empty directory, a file that is not a log, a FIFO. Each must end with exit 3 and
 * one line that says what is wrong and what to do, never "OK, 0 records", and never hang.
 * A segmented log created but never written (a `LOCK` file only) is a real, empty log.
 */

import { describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawn, spawnSync } from "bun";
import { Wal } from "../src/index.ts";
import { tempDir } from "./support/temp.ts";

const MAIN = join(import.meta.dir, "..", "src", "cli", "main.ts");
const dir = tempDir("wal-db-cli-paths-");
const READERS = ["inspect", "verify", "dump", "tail"] as const;
/** A command that reads a FIFO blocks in open(2) until a writer comes: this long means a hang. */
const HANG_MS = 10_000;

interface Run {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `wal-db ...args` to its end, or kills it after {@link HANG_MS}: a command blocked in a
 * system call runs no signal handler, so the kill is SIGKILL, and the run then fails its test
 * instead of hanging the suite.
 */
async function cli(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  const child = spawn([process.execPath, MAIN, ...args], {
    env: { ...process.env, ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: HANG_MS,
    killSignal: "SIGKILL",
  });
  const [stdout, stderr] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  const signal = child.signalCode === null ? null : String(child.signalCode);
  return { code: child.exitCode, signal, stdout, stderr };
}

/** Expects exit 3, nothing on stdout and exactly `line` on stderr. */
function expectFailure(run: Run, line: string): void {
  expect(run).toEqual({ code: 3, signal: null, stdout: "", stderr: `${line}\n` });
}

/** A fresh directory under the test's temp dir. */
function directory(name: string): string {
  const path = join(dir, name);
  mkdirSync(path);
  return path;
}

const CHECK_THE_PATH = "Check the path: a log is a file, or a segmented log's directory.";

const notALogDirectory = (path: string, why: string) =>
  `${path} is not a wal-db log: ${why}. Nothing was changed; pass a log file, or the ` +
  "directory of a segmented log";

describe.each(READERS)("%s", (command) => {
  test(`${command} of a missing file exits 3: what is wrong and what to do`, async () => {
    const path = join(dir, `${command}-missing.wal`);
    expectFailure(
      await cli([command, path]),
      `wal-db: ${command}: ${path}: no such file or directory. ${CHECK_THE_PATH}`,
    );
  });

  test(`${command} of a missing directory exits 3: what is wrong and what to do`, async () => {
    const path = join(dir, `${command}-missing-dir`);
    expectFailure(
      await cli([command, `${path}/`]),
      `wal-db: ${command}: ${path}/: no such file or directory. ${CHECK_THE_PATH}`,
    );
  });

  test(`${command} of a file in a missing directory names the directory that is missing`, async () => {
    const missing = join(dir, `${command}-no-parent`);
    const path = join(missing, "deeper", "app.wal");
    expectFailure(
      await cli([command, path]),
      `wal-db: ${command}: ${path}: no such file or directory (${missing} does not exist). ${CHECK_THE_PATH}`,
    );
  });

  test(`${command} of a directory of other files (an /etc) exits 3: not a wal-db log`, async () => {
    const path = directory(`${command}-etc`);
    writeFileSync(join(path, "passwd"), "root:x:0:0:root:/root:/bin/bash\n");
    writeFileSync(join(path, "hosts"), "127.0.0.1 localhost\n");
    mkdirSync(join(path, "ssh"));
    expectFailure(
      await cli([command, path]),
      `wal-db: ${command}: ${notALogDirectory(path, "it is a directory with no segment file (00000000000000000000.wal on), no head file and no LOCK file")}.`,
    );
  });

  test(`${command} of an empty directory exits 3: not a wal-db log`, async () => {
    const path = directory(`${command}-empty`);
    expectFailure(
      await cli([command, path]),
      `wal-db: ${command}: ${notALogDirectory(path, "it is an empty directory")}.`,
    );
  });

  test(`${command} of a segmented log that was created but never written (LOCK only) is an empty log`, async () => {
    const path = join(dir, `${command}-created`);
    Wal.open(path, { segmentSize: 4096 }).close();
    const run = await cli([command, path]);
    expect(run).toMatchObject({ code: 0, signal: null, stderr: "" });
    if (command === "verify") expect(run.stdout).toBe(`OK ${path}: 0 records, LSN 0 to 0\n`);
  });

  test.skipIf(Bun.which("mkfifo") === null)(
    `${command} of a FIFO exits 3 naming it, without waiting for a writer`,
    async () => {
      const path = join(dir, `${command}.fifo`);
      expect(spawnSync(["mkfifo", path]).exitCode).toBe(0);
      expectFailure(
        await cli([command, path]),
        `wal-db: ${command}: ${path} is not a wal-db log: it is a FIFO, not a regular file. Nothing was changed; a log and every file of a segmented log must be regular files.`,
      );
    },
    HANG_MS * 2,
  );

  test.skipIf(Bun.which("mkfifo") === null)(
    `${command} of a segmented log whose head file is a FIFO exits 3 naming it`,
    async () => {
      const path = join(dir, `${command}-fifo-head`);
      Wal.open(path, { segmentSize: 4096 }).close();
      expect(spawnSync(["mkfifo", join(path, "head")]).exitCode).toBe(0);
      expectFailure(
        await cli([command, path]),
        `wal-db: ${command}: ${join(path, "head")} is not a wal-db log: it is a FIFO, not a regular file. Nothing was changed; a log and every file of a segmented log must be regular files.`,
      );
    },
    HANG_MS * 2,
  );

  // The library refuses a file whose content cannot be a wal-db log (NOT_A_LOG); before it
  // did, these reported "a torn tail" at offset 0 (verify exit 1, inspect exit 0).
  test.each([
    ["package.json", '{\n  "name": "not-a-log",\n  "version": "1.0.0"\n}\n'],
    ["passwd", "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/bin/sh\n"],
  ])(
    `${command} of a file that is not a log (%s) exits 3: not a wal-db log`,
    async (name, text) => {
      const path = join(dir, `${command}-${name}`);
      writeFileSync(path, text);
      const run = await cli([command, path]);
      expect(run).toMatchObject({ code: 3, signal: null, stdout: "" });
      expect(run.stderr).toStartWith(`wal-db: ${command}: ${path} is not a wal-db log: `);
      expect(run.stderr.trimEnd().split("\n")).toHaveLength(1);
    },
  );
});

describe("tail --follow", () => {
  test("on a missing path exits 3 with the same line as every reading command", async () => {
    const path = join(dir, "follow-missing.wal");
    expectFailure(
      await cli(["tail", "--follow", path]),
      `wal-db: tail: ${path}: no such file or directory. ${CHECK_THE_PATH}`,
    );
  });

  test("on a directory that is not a log exits 3 instead of waiting on it", async () => {
    const path = directory("follow-etc");
    writeFileSync(join(path, "hosts"), "127.0.0.1 localhost\n");
    expectFailure(
      await cli(["tail", "--follow", path]),
      `wal-db: tail: ${notALogDirectory(path, "it is a directory with no segment file (00000000000000000000.wal on), no head file and no LOCK file")}.`,
    );
  });

  test.skipIf(Bun.which("mkfifo") === null)(
    "on a FIFO exits 3 naming it, without waiting for a writer",
    async () => {
      const path = join(dir, "follow.fifo");
      expect(spawnSync(["mkfifo", path]).exitCode).toBe(0);
      expectFailure(
        await cli(["tail", "--follow", path]),
        `wal-db: tail: ${path} is not a wal-db log: it is a FIFO, not a regular file. Nothing was changed; a log and every file of a segmented log must be regular files.`,
      );
    },
    HANG_MS * 2,
  );
});

/**
 * The library's own refusals, as the CLI meets them: preloaded into the CLI's process, the
 * read-only open throws what the library throws for a file it will not read (`NOT_A_LOG`)
 * and for a file gone between the CLI's stat and the open (`IO`, `ENOENT`). This pins the
 * CLI's side (exit 3, one line, the same words as its own checks) without waiting for the
 * library to throw NOT_A_LOG on a file's content.
 */
describe("errors from the library", () => {
  const INDEX = join(import.meta.dir, "..", "src", "index.ts");
  const ERRORS = join(import.meta.dir, "..", "src", "errors.ts");
  const preload = join(dir, "library-refuses.ts");
  writeFileSync(
    preload,
    `import { Wal } from ${JSON.stringify(INDEX)};
import { ioErrorFrom, notALog } from ${JSON.stringify(ERRORS)};
const real = Wal.openReadOnly;
Wal.openReadOnly = function (path, options) {
  if (path.endsWith(".not-a-log")) throw notALog(path, "its first frame is not one", "pass a log");
  if (path.endsWith(".vanished")) {
    throw ioErrorFrom("open", path, Object.assign(new Error("gone"), { code: "ENOENT", path }));
  }
  return real.call(this, path, options);
};`,
  );
  const env = { BUN_OPTIONS: `--preload ${preload}` };

  test.each(READERS)(
    "%s: NOT_A_LOG from the open exits 3 with the library's line",
    async (command) => {
      const path = join(dir, `${command}.not-a-log`);
      writeFileSync(path, "");
      expectFailure(
        await cli([command, path], env),
        `wal-db: ${command}: ${path} is not a wal-db log: its first frame is not one. Nothing was changed; pass a log.`,
      );
    },
  );

  test.each(READERS)(
    "%s: IO ENOENT from the open reads as the CLI's own missing path",
    async (command) => {
      const path = join(dir, `${command}.vanished`);
      writeFileSync(path, "");
      expectFailure(
        await cli([command, path], env),
        `wal-db: ${command}: ${path}: no such file or directory. ${CHECK_THE_PATH}`,
      );
    },
  );
});
