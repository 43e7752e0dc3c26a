#!/usr/bin/env bun
/**
 * @module
 * The `wal-db` command: `wal-db <command> [options]`. Dispatches to one file per command and
 * turns every failure into one line on stderr and an exit code (see `command.ts`, docs/CLI.md).
 */

import packageJson from "../../package.json" with { type: "json" };
import { archiveCommand } from "./archive.ts";
import { benchCommand } from "./bench.ts";
import { type Command, describeError, EXIT, exitCodeOf, HelpRequested } from "./command.ts";
import { dumpCommand } from "./dump.ts";
import { inspectCommand } from "./inspect.ts";
import { pruneCommand } from "./prune.ts";
import { restoreCommand } from "./restore.ts";
import { tailCommand } from "./tail.ts";
import { tortureCommand } from "./torture.ts";
import { verifyCommand } from "./verify.ts";

const COMMANDS: readonly Command[] = [
  inspectCommand,
  verifyCommand,
  dumpCommand,
  tailCommand,
  tortureCommand,
  benchCommand,
  archiveCommand,
  restoreCommand,
  pruneCommand,
];

const USAGE = `Usage: wal-db <command> [options]

Commands:
${COMMANDS.map((command) => `  ${command.name.padEnd(9)}${command.summary}`).join("\n")}

Run 'wal-db <command> --help' for a command's options.
Exit codes: 0 ok, 1 the log (or archive) is damaged (or torture lost records), 2 bad
arguments, 3 the log could not be read (or the path holds no wal-db log, or the archive's
store failed).`;

/** Runs `wal-db` with `argv` (the arguments after the program); resolves with the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === "--version" || name === "-v") {
    process.stdout.write(`wal-db ${packageJson.version}\n`);
    return EXIT.ok;
  }
  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (command === undefined) {
    process.stderr.write(`wal-db: unknown command '${name}' (see 'wal-db --help')\n`);
    return EXIT.usage;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    // Every command's help, here rather than in each command; its parser says when.
    if (error instanceof HelpRequested) {
      process.stdout.write(`${command.help}\n`);
      return EXIT.ok;
    }
    const code = exitCodeOf(error);
    const hint = code === EXIT.usage ? ` (see 'wal-db ${name} --help')` : "";
    process.stderr.write(`wal-db: ${name}: ${describeError(error)}${hint}\n`);
    return code;
  }
}

if (import.meta.main) {
  // exitCode, not exit(): stdout may still be draining into a pipe.
  process.exitCode = await main(process.argv.slice(2));
}
