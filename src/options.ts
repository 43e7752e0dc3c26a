/**
 * @module
 * The options `Wal.open` and `Wal.withStore` take, their defaults, and their validation.
 * Validation runs before anything is opened, so a bad option never touches the disk.
 */

import { describeValue, invalidArgument } from "./errors.ts";
import { PAYLOAD_SIZE_LIMIT } from "./record.ts";

/** Options for {@link Wal.open} and {@link Wal.withStore}. Every field is optional. */
export interface WalOptions {
  /**
   * The largest payload, in bytes, that `append` accepts and that recovery believes.
   *
   * `append` rejects a larger record with `RECORD_TOO_LARGE` before writing anything. Recovery
   * treats a header that claims a larger length as the end of the valid log, before reading or
   * allocating its payload, so a corrupt length can never drive a huge allocation. Open an
   * existing log with at least the size it was written with, or its larger records read as
   * damage and are cut.
   *
   * @default 67108864 (64 MiB, as the Rust crate)
   * Minimum 0, maximum 4294967295 (the length field is a u32).
   * @example Wal.open("app.wal", { maxRecordSize: 1024 * 1024 })
   */
  maxRecordSize?: number;
}

/** {@link WalOptions} with every default applied and every value checked. */
export interface ResolvedOptions {
  readonly maxRecordSize: number;
}

/** 64 MiB: generous for any single state change, small enough to bound a corrupt length. */
export const DEFAULT_MAX_RECORD_SIZE = 64 * 1024 * 1024;

const KNOWN_OPTIONS = new Set<string>(["maxRecordSize"]);

/** Applies defaults and rejects unknown keys (a typo must not silently mean the default). */
export function resolveOptions(options: unknown): ResolvedOptions {
  if (options === undefined) return { maxRecordSize: DEFAULT_MAX_RECORD_SIZE };
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw invalidArgument(`options must be an object, got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) {
      throw invalidArgument(
        `unknown option "${key}"; known options: ${[...KNOWN_OPTIONS].join(", ")}`,
      );
    }
  }
  const { maxRecordSize = DEFAULT_MAX_RECORD_SIZE } = options as WalOptions;
  if (!Number.isInteger(maxRecordSize) || maxRecordSize < 0 || maxRecordSize > PAYLOAD_SIZE_LIMIT) {
    throw invalidArgument(
      `maxRecordSize must be an integer from 0 to ${PAYLOAD_SIZE_LIMIT}, got ${describeValue(maxRecordSize)}`,
    );
  }
  return { maxRecordSize };
}
