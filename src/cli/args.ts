/**
 * @module
 * Argument parsing for every command, on `node:util`'s `parseArgs` in strict mode: an unknown
 * flag, a missing value or a stray argument is a usage error (exit 2) with one line that names
 * it, never a silently ignored typo.
 */

import { type ParseArgsOptionsConfig, parseArgs } from "node:util";
import { HelpRequested, usageError } from "./command.ts";

/** The flags every command takes besides its own. */
const COMMON_FLAGS = { help: { type: "boolean", short: "h" } } as const;

/** What {@link parseCommandArgs} found. */
export interface ParsedArgs<Values> {
  /** Each flag's value: a string, a boolean, or undefined when absent. */
  readonly values: Values;
  /** The arguments that are not flags, in order. */
  readonly positionals: string[];
}

/**
 * Parses `argv` (the arguments after the command's name) against `flags`, plus `--help`.
 * `--help` or `-h`, alone or among other short flags (`-fh`), throws {@link HelpRequested}
 * before positionals are checked, so `wal-db dump --help` needs no path.
 * @param positionalNames - the positionals the command requires, in order, for the message
 * when one is missing; more than that many is an error too.
 * @throws CliError (usage) on an unknown flag, a flag without its value, or a wrong positional
 * count; HelpRequested for `--help`.
 */
export function parseCommandArgs<const Flags extends ParseArgsOptionsConfig>(
  argv: readonly string[],
  flags: Flags,
  positionalNames: readonly string[],
): ParsedArgs<{ [K in keyof Flags]?: Flags[K]["type"] extends "boolean" ? boolean : string }> {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: [...argv],
      options: { ...flags, ...COMMON_FLAGS },
      strict: true,
      allowPositionals: true,
    }) as typeof parsed;
  } catch (error) {
    throw usageError(parseArgsMessage(error));
  }
  if (parsed.values.help === true) throw new HelpRequested();
  const missing = positionalNames[parsed.positionals.length];
  if (missing !== undefined) throw usageError(`missing <${missing}>`);
  const extra = parsed.positionals[positionalNames.length];
  if (extra !== undefined) throw usageError(`unexpected argument '${extra}'`);
  return {
    values: parsed.values as { [K in keyof Flags]?: never },
    positionals: parsed.positionals,
  };
}

/** The short message for a `parseArgs` error: Node's own are several sentences long. */
function parseArgsMessage(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  const flag = /'(-[^' ]*)/.exec(message ?? "")?.[1];
  switch (code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option '${flag ?? "?"}'`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return flag === undefined
        ? String(message).split(". ")[0]!
        : `option '${flag}' ${/argument missing/.test(message ?? "") ? "needs a value" : "takes no value"}`;
    default:
      return String(message ?? error).split("\n")[0]!;
  }
}

/** Multipliers of the size suffixes {@link parseInteger} accepts when `units` is set. */
const SIZE_UNITS: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/**
 * The integer `text` gives for `--flag`, or `fallback` when the flag is absent. With `units`,
 * a suffix k, M or G (binary: 1024, 1024², 1024³; case-insensitive, an optional trailing "iB"
 * or "B") multiplies it, so `--segment-size 64M` reads as 67108864.
 * @throws CliError (usage) unless it is an integer in `[min, max]`.
 */
export function parseInteger(
  flag: string,
  text: string | undefined,
  fallback: number,
  range: { min: number; max: number; units?: boolean },
): number {
  if (text === undefined) return fallback;
  const match = /^(\d+)(?:([kKmMgG])(?:i?B)?)?$/.exec(text.trim());
  const unit = match?.[2];
  if (match === null || (unit !== undefined && range.units !== true)) {
    throw usageError(`--${flag} takes ${range.units ? "a size" : "an integer"}, got '${text}'`);
  }
  const value = Number(match[1]) * (unit === undefined ? 1 : SIZE_UNITS[unit.toLowerCase()]!);
  if (!Number.isSafeInteger(value) || value < range.min || value > range.max) {
    throw usageError(`--${flag} must be from ${range.min} to ${range.max}, got '${text}'`);
  }
  return value;
}

/**
 * The value of `--flag` when it is one of `choices`, or `fallback` when the flag is absent.
 * @throws CliError (usage) for anything else, naming the choices.
 */
export function parseChoice<const T extends string>(
  flag: string,
  text: string | undefined,
  choices: readonly T[],
  fallback: T,
): T {
  if (text === undefined) return fallback;
  if (!choices.includes(text as T)) {
    throw usageError(`--${flag} must be ${choices.join(", ")}; got '${text}'`);
  }
  return text as T;
}

/** The `--from` LSN, or undefined when the flag is absent. */
export function parseFromLsn(text: string | undefined): number | undefined {
  return text === undefined
    ? undefined
    : parseInteger("from", text, 0, { min: 0, max: Number.MAX_SAFE_INTEGER });
}
