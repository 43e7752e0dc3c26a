/**
 * @module
 * What every `wal-db` subcommand is, how it fails, and the exit codes it ends with. The entry
 * (`main.ts`) turns a thrown {@link CliError} or `WalError` into one line on stderr and a code.
 */

import { existsSync, statSync } from "node:fs";
import { WalError } from "../index.ts";

/** Exit codes, the same for every command (docs/CLI.md lists them). */
export const EXIT = {
  /** The command did what it was asked and found nothing wrong. */
  ok: 0,
  /** The log is damaged (`verify`, a damaged layout), or `torture` lost or invented records. */
  damaged: 1,
  /** The command line is wrong: unknown command or flag, a bad value, a missing path. */
  usage: 2,
  /** The log could not be read: no such file, permission, an OS error, a wrong segment size. */
  failed: 3,
} as const;

/** One subcommand of `wal-db`. */
export interface Command {
  /** The word that selects it: `wal-db <name> ...`. */
  readonly name: string;
  /** One line for the command list of `wal-db --help`. */
  readonly summary: string;
  /** The whole text `wal-db <name> --help` prints. */
  readonly help: string;
  /** Runs the command with the arguments after its name; resolves with the exit code. */
  run(argv: readonly string[]): Promise<number>;
}

/** A failure the command already understands: `message` is the line printed, `exitCode` the code. */
export class CliError extends Error {
  /** The exit code the process ends with. */
  readonly exitCode: number;

  /** @param message - one line, without the `wal-db: <command>:` prefix. */
  constructor(message: string, exitCode: number) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

/** `--help` was given: the entry prints the command's help and exits 0. */
export class HelpRequested extends Error {
  constructor() {
    super("help requested");
    this.name = "HelpRequested";
  }
}

/** A wrong command line: exit code 2. */
export function usageError(message: string): CliError {
  return new CliError(message, EXIT.usage);
}

/** Returns `path` when it is a directory; otherwise fails with exit 3, naming it. */
export function existingDirectory(path: string): string {
  if (!existsSync(path) || !statSync(path).isDirectory()) {
    throw new CliError(`${path}: no such directory`, EXIT.failed);
  }
  return path;
}

/**
 * The exit code for an error a command did not handle: damage is 1 (the answer a script
 * checks for), bad arguments 2, anything that stopped the log from being read 3.
 */
export function exitCodeOf(error: unknown): number {
  if (error instanceof CliError) return error.exitCode;
  if (error instanceof WalError) {
    if (error.code === "CORRUPTION") return EXIT.damaged;
    if (error.code === "INVALID_ARGUMENT") return EXIT.usage;
  }
  return EXIT.failed;
}

/** The one line an error prints after the `wal-db: <command>:` prefix. */
export function describeError(error: unknown): string {
  if (error instanceof CliError || error instanceof WalError) return oneLine(error.message);
  const code = (error as { code?: unknown } | null)?.code;
  const path = (error as { path?: unknown } | null)?.path;
  if (typeof code === "string" && typeof path === "string") return `${path}: ${code}`;
  return oneLine(error instanceof Error ? error.message : String(error));
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ");
}
