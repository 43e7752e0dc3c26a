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
  /**
   * The option `key` as the user wrote it the last time (`-n` or `--lines`), for a message
   * about its value; `--key` when it was not given.
   */
  optionName(key: keyof Values & string): string;
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
  const options = { ...flags, ...COMMON_FLAGS };
  let parsed: {
    values: Record<string, unknown>;
    positionals: string[];
    tokens: { kind: string; name?: string; rawName?: string }[];
  };
  try {
    parsed = parseArgs({
      args: attachNegativeValues(argv, options),
      options,
      strict: true,
      allowPositionals: true,
      tokens: true,
    }) as typeof parsed;
  } catch (error) {
    throw usageError(parseArgsMessage(error));
  }
  if (parsed.values.help === true) throw new HelpRequested();
  const missing = positionalNames[parsed.positionals.length];
  if (missing !== undefined) throw usageError(`missing <${missing}>`);
  const extra = parsed.positionals[positionalNames.length];
  if (extra !== undefined) throw usageError(`unexpected argument '${extra}'`);
  const spelled = new Map<string, string>();
  for (const token of parsed.tokens) {
    if (token.kind === "option") spelled.set(token.name!, token.rawName!);
  }
  return {
    values: parsed.values as { [K in keyof Flags]?: never },
    positionals: parsed.positionals,
    optionName: (key) => spelled.get(key) ?? `--${key}`,
  };
}

/** A value that starts with a dash and is a number, such as `-1`: a value, not an option. */
const NEGATIVE_NUMBER = /^-[\d.]/;

/**
 * `argv` with each negative number that follows an option taking a value attached to it
 * (`-n -1` becomes `-n-1`, `--from -5` becomes `--from=-5`), so that the option's own check
 * says what is wrong with it. `parseArgs` reads such a value as an option and fails with a
 * message about the option instead.
 * @throws CliError (usage) when an option that takes a value is followed by another option.
 */
function attachNegativeValues(argv: readonly string[], options: ParseArgsOptionsConfig): string[] {
  const shortOptions = new Map(
    Object.entries(options).flatMap(([name, option]) =>
      option.short === undefined ? [] : [[option.short, name] as const],
    ),
  );
  const takesValue = (name: string | undefined) =>
    name !== undefined && options[name]?.type === "string";
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      args.push(...argv.slice(i));
      break;
    }
    args.push(arg);
    // `--name` without `=VALUE`, or `-abc` whose last letter takes a value (`-fn`).
    const needsNext = arg.startsWith("--")
      ? !arg.includes("=") && takesValue(arg.slice(2))
      : arg.startsWith("-") &&
        arg.length >= 2 &&
        [...arg.slice(1, -1)].every((letter) => !takesValue(shortOptions.get(letter))) &&
        takesValue(shortOptions.get(arg.at(-1)!));
    const next = argv[i + 1];
    if (!needsNext || next === undefined || !next.startsWith("-") || next === "-") continue;
    if (!NEGATIVE_NUMBER.test(next))
      throw usageError(`${arg} needs a value, got the option '${next}'`);
    args[args.length - 1] = arg.startsWith("--") ? `${arg}=${next}` : `${arg}${next}`;
    i++;
  }
  return args;
}

/** The short message for a `parseArgs` error: Node's own are several sentences long. */
function parseArgsMessage(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  const flag = /'(-[^' ,]*)/.exec(message ?? "")?.[1];
  switch (code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option '${flag ?? "?"}'`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return flag === undefined
        ? String(message).split(". ")[0]!
        : `${flag} ${/argument missing/.test(message ?? "") ? "needs a value" : "takes no value"}`;
    default:
      return String(message ?? error).split("\n")[0]!;
  }
}

/** Multipliers of the size suffixes {@link parseInteger} accepts when `units` is set. */
const SIZE_UNITS: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** What an integer option takes, for {@link parseInteger}. */
export interface IntegerRange {
  readonly min: number;
  readonly max: number;
  /** Accept the size suffixes k, M, G (binary). */
  readonly units?: boolean;
  /** What the number is, for the message: "an LSN", "milliseconds"; default "an integer". */
  readonly noun?: string;
}

/**
 * The integer `text` gives for `option` (as the user wrote it: `-n`, `--from`), or `fallback`
 * when the option is absent. With `units`, a suffix k, M or G (binary: 1024, 1024², 1024³;
 * case-insensitive, an optional trailing "iB" or "B") multiplies it, so `--segment-size 64M`
 * reads as 67108864.
 * @throws CliError (usage) unless it is an integer in `[min, max]`, with one message for every
 * way it can be wrong: what the option takes, and what it got.
 */
export function parseInteger(
  option: string,
  text: string | undefined,
  fallback: number,
  range: IntegerRange,
): number {
  if (text === undefined) return fallback;
  const match = /^(\d+)(?:([kKmMgG])(?:i?B)?)?$/.exec(text.trim());
  const unit = match?.[2];
  const value =
    match === null || (unit !== undefined && range.units !== true)
      ? Number.NaN
      : Number(match[1]) * (unit === undefined ? 1 : SIZE_UNITS[unit.toLowerCase()]!);
  if (!Number.isSafeInteger(value) || value < range.min || value > range.max) {
    throw usageError(`${option} takes ${describeRange(range)}, got '${text}'`);
  }
  return value;
}

/** "a size in bytes, 1 or more (k, M, G suffixes)", "milliseconds, from 1 to 86400000". */
function describeRange({ min, max, units, noun }: IntegerRange): string {
  const what = noun ?? (units === true ? "a size in bytes" : "an integer");
  const bounds = max >= Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
  return `${what}, ${bounds}${units === true ? " (k, M, G suffixes)" : ""}`;
}

/**
 * The value of `option` when it is one of `choices`, or `fallback` when it is absent.
 * @throws CliError (usage) for anything else, naming the choices.
 */
export function parseChoice<const T extends string>(
  option: string,
  text: string | undefined,
  choices: readonly T[],
  fallback: T,
): T {
  if (text === undefined) return fallback;
  if (!choices.includes(text as T)) {
    throw usageError(
      `${option} takes ${choices.slice(0, -1).join(", ")} or ${choices.at(-1)}, got '${text}'`,
    );
  }
  return text as T;
}

/** The LSN `option` (`--from`, `--until`, `--before`) gives, or undefined when it is absent. */
export function parseLsn(option: string, text: string | undefined): number | undefined {
  return text === undefined
    ? undefined
    : parseInteger(option, text, 0, { min: 0, max: Number.MAX_SAFE_INTEGER, noun: "an LSN" });
}

/** A count of records (`--limit`, `-n`): 0 or more, `fallback` when absent. */
export function parseRecordCount(
  option: string,
  text: string | undefined,
  fallback: number,
): number {
  return parseInteger(option, text, fallback, {
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    noun: "a count of records",
  });
}
