/**
 * Seeded randomness for tests. Every randomised test takes its seed from `seedFromEnv`, puts it
 * in its title or failure message, and replays exactly with WAL_SEED=<seed>.
 */

/** WAL_SEED when set, else `fallback`, as an unsigned 32-bit integer. */
export function seedFromEnv(fallback: number): number {
  return Number(process.env.WAL_SEED ?? fallback) >>> 0;
}

// mulberry32, the one the `wal-db torture` command seeds its records with.
import { mulberry32 } from "../../src/cli/torture-records.ts";

export { mulberry32 };

/** `length` bytes drawn from `next`. */
export function randomBytes(next: () => number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = next() & 0xff;
  return bytes;
}

/**
 * `count` payloads of 0 to `maxSize - 1` bytes drawn from `seed`, with the LSN each gets when
 * they are appended in order to an empty log, and the log's length after them.
 */
export function seededRecords(
  seed: number,
  count: number,
  maxSize: number,
): { payloads: Uint8Array[]; lsns: number[]; total: number } {
  const next = mulberry32(seed);
  const payloads = Array.from({ length: count }, () => randomBytes(next, next() % maxSize));
  const lsns: number[] = [];
  let total = 0;
  for (const payload of payloads) {
    lsns.push(total);
    total += 8 + payload.length;
  }
  return { payloads, lsns, total };
}
