/**
 * @module
 * CRC-32C (Castagnoli), the checksum of every frame (docs/ON_DISK_FORMAT.md): the CPU's own
 * instruction through `bun:ffi` where the CPU and this Bun allow it (src/crc32c-native.ts,
 * tested against TypeScript at load), the TypeScript slicing-by-16 otherwise
 * (src/crc32c-typescript.ts). Both give the same bytes; only speed differs. The choice is made
 * once, when this module loads; `WAL_DB_CRC=ts` in the environment forces the TypeScript one.
 */

import { type Crc32c, loadNativeCrc32c, outOfBounds } from "./crc32c-native.ts";
import { crc32cCombine, crc32cTypeScript } from "./crc32c-typescript.ts";

export { crc32cCombine };

/** Which CRC-32C implementation this process runs. */
export type Crc32cImplementation = "native" | "typescript";

const forced = /^(ts|typescript)$/i.test(process.env.WAL_DB_CRC ?? "");
const native = forced
  ? { reason: "WAL_DB_CRC=ts forces the TypeScript CRC-32C" }
  : loadNativeCrc32c();

/** Which CRC-32C implementation this process runs; `wal.stats().crc32c` reports it too. */
export const crc32cImplementation: Crc32cImplementation =
  native.reason === undefined ? "native" : "typescript";

/** Why the TypeScript CRC-32C runs (WAL_DB_CRC, the CPU, the self-test); "" when native runs. */
export const crc32cFallbackReason: string = native.reason ?? "";

/**
 * CRC-32C of `bytes[start..end)`, continuing from `previous` (the CRC of the bytes before).
 * `crc32c(b, 0, b.length, crc32c(a))` equals the CRC of `a` followed by `b`. The range must lie
 * within `bytes` (the native implementation throws a RangeError otherwise).
 *
 * @param bytes - the input.
 * @param start - first byte offset, inclusive. @default 0
 * @param end - last byte offset, exclusive. @default bytes.length
 * @param previous - CRC of the preceding bytes; 0 to start fresh. @default 0
 * @returns the CRC as an unsigned 32-bit number.
 * @example crc32c(new TextEncoder().encode("123456789")) === 0xe3069283
 */
export const crc32c: Crc32c = native.reason === undefined ? native.crc32c : crc32cTypeScript;

/**
 * Many CRCs in one call: for each `i < count`, `out[i]` = the CRC-32C of
 * `bytes[ranges[2i]..ranges[2i+1])`. One native call for a chunk's worth of frames costs less
 * than a call per frame. Throws a RangeError when the arrays are too short for `count`, or
 * when a range is reversed or runs past `bytes` (the results before it are computed).
 */
export function crc32cRanges(
  bytes: Uint8Array,
  ranges: Uint32Array,
  count: number,
  out: Uint32Array,
): void {
  if (!(count >= 0 && count <= out.length && 2 * count <= ranges.length)) {
    throw new RangeError(`crc32cRanges: ${count} ranges do not fit their arrays`);
  }
  let done = nativeRanges === undefined ? 0 : nativeRanges(bytes, ranges, count, out);
  for (; done < count; done++) {
    const start = ranges[2 * done]!;
    const end = ranges[2 * done + 1]!;
    if (start > end || end > bytes.length) throw outOfBounds(start, end);
    out[done] = crc32c(bytes, start, end);
  }
}

const nativeRanges = native.reason === undefined ? native.crc32cRanges : undefined;

/**
 * Ranges to checksum with one {@link crc32cRanges} call, and their CRCs once `run`: scratch
 * arrays reused from batch to batch, grown (doubling) only when a batch holds more ranges than
 * any before. What the scanner checks ahead and what `sealFrames` seals are such batches.
 */
export class Crc32cBatch {
  /** Ranges added since the last `clear`. */
  count = 0;
  private ranges = new Uint32Array(2 * 1024);
  private crcs = new Uint32Array(1024);

  clear(): void {
    this.count = 0;
  }

  /** Adds `[start, end)`, a range of the bytes `run` will be given. */
  add(start: number, end: number): void {
    if (2 * this.count + 2 > this.ranges.length) {
      const ranges = new Uint32Array(2 * this.ranges.length);
      ranges.set(this.ranges);
      this.ranges = ranges;
      this.crcs = new Uint32Array(this.crcs.length * 2);
    }
    this.ranges[2 * this.count] = start;
    this.ranges[2 * this.count + 1] = end;
    this.count++;
  }

  /** Computes the CRC of every range added, over `bytes`. */
  run(bytes: Uint8Array): void {
    crc32cRanges(bytes, this.ranges, this.count, this.crcs);
  }

  /** Where range `i` starts. */
  start(i: number): number {
    return this.ranges[2 * i]!;
  }

  /** Where range `i` ends. */
  end(i: number): number {
    return this.ranges[2 * i + 1]!;
  }

  /** The CRC of range `i`, after `run`. */
  crc(i: number): number {
    return this.crcs[i]!;
  }
}
