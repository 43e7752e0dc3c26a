/**
 * @module
 * What every `wal-db` subcommand is, how it fails, and the exit codes it ends with. The entry
 * (`main.ts`) turns a thrown {@link CliError} or `WalError` into one line on stderr and a code.
 */

import { existsSync, lstatSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { IoError, WalError } from "../index.ts";

/** Exit codes, the same for every command (docs/CLI.md lists them). */
export const EXIT = {
  /** The command did what it was asked and found nothing wrong. */
  ok: 0,
  /** The log is damaged (`verify`, a damaged layout), or `torture` lost or invented records. */
  damaged: 1,
  /** The command line is wrong: unknown command or flag, a bad value, a missing path. */
  usage: 2,
  /**
   * The log could not be read: no such file, permission, an OS error, a wrong segment size,
   * a path that holds no wal-db log (`NOT_A_LOG`).
   */
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

/**
 * Returns `path` when it is a directory; otherwise fails with exit 3: what is wrong with it
 * and what to do.
 */
export function existingDirectory(path: string): string {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ENOENT") {
      throw new CliError(
        `${path}: no such directory${missingAncestor(path)}. Create it, or pass a directory that exists.`,
        EXIT.failed,
      );
    }
    throw new CliError(describeOsError(path, code ?? String(error)), EXIT.failed);
  }
  if (!isDirectory) {
    throw new CliError(`${path} is not a directory. Pass a directory.`, EXIT.failed);
  }
  return path;
}

/** What to do when a path cannot be used, by the reading commands' errors. */
const CHECK_THE_PATH = "Check the path: a log is a file, or a segmented log's directory.";

/**
 * One line for an OS error `code` (an errno name) on `path`, for the reading commands: what
 * is wrong, then what to do. The same words whether the CLI's own `stat` failed or the
 * library's `open` (an `IO` error), so every command says it alike.
 */
export function describeOsError(path: string, code: string): string {
  switch (code) {
    case "ENOENT":
      return isDanglingLink(path)
        ? `${path}: a symbolic link whose target does not exist. ${CHECK_THE_PATH}`
        : `${path}: no such file or directory${missingAncestor(path)}. ${CHECK_THE_PATH}`;
    case "ENOTDIR":
      return `${path}: a part of the path before the last is a file, not a directory. ${CHECK_THE_PATH}`;
    case "EACCES":
    case "EPERM":
      return `${path}: permission denied. Run as a user who may read it, or change its permissions.`;
    case "ELOOP":
      return `${path}: too many symbolic links (a loop?). ${CHECK_THE_PATH}`;
    default:
      return `${path}: ${code}`;
  }
}

/** " (/a/b does not exist)" naming the highest missing directory above `path`, or "". */
function missingAncestor(path: string): string {
  let highest: string | undefined;
  for (let parent = dirname(path); !existsSync(parent); parent = dirname(parent)) {
    highest = parent;
    if (dirname(parent) === parent) break;
  }
  return highest === undefined ? "" : ` (${highest} does not exist)`;
}

function isDanglingLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * The exit code for an error a command did not handle: damage is 1 (the answer a script
 * checks for), bad arguments 2, anything that stopped the log from being read 3: an OS error,
 * a path that is not a log (`NOT_A_LOG`: a FIFO, a device, a file or directory this format
 * could not have written), a segment size the files contradict.
 */
export function exitCodeOf(error: unknown): number {
  if (error instanceof CliError) return error.exitCode;
  if (error instanceof WalError) {
    if (error.code === "CORRUPTION") return EXIT.damaged;
    if (error.code === "INVALID_ARGUMENT") return EXIT.usage;
  }
  // NOT_A_LOG and NOT_FOUND among them: whatever the path holds, it is not a log to read.
  return EXIT.failed;
}

/** The one line an error prints after the `wal-db: <command>:` prefix. */
export function describeError(error: unknown): string {
  // The library names an OS error by its call ("open failed on /x: ENOENT"); say it as the
  // CLI's own checks do. The path is the OS error's own: a segment, not only the log.
  if (error instanceof IoError) {
    const path = (error.cause as { path?: unknown } | undefined)?.path;
    if (typeof path === "string") return describeOsError(path, error.errno);
  }
  if (error instanceof CliError || error instanceof WalError) return oneLine(error.message);
  const code = (error as { code?: unknown } | null)?.code;
  const path = (error as { path?: unknown } | null)?.path;
  if (typeof code === "string" && typeof path === "string") return describeOsError(path, code);
  return oneLine(error instanceof Error ? error.message : String(error));
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ");
}
