/**
 * @module
 * The native CRC-32C: src/crc32c.c, compiled at load by `bun:ffi`'s `cc` (the TinyCC inside
 * Bun), used only when the CPU has the instruction and every function passed a self-test
 * against the TypeScript implementation. Anything that goes wrong on the way (no `cc` in this
 * Bun, no instruction, a compile error, a wrong answer) is a reason, and src/crc32c.ts falls
 * back to TypeScript with it; nothing here throws out of `loadNativeCrc32c`.
 *
 * Calls go through `linkSymbols` bindings to the compiled code's addresses, never through the
 * symbols `cc` returns: through those, integer arguments arrive wrong in Bun 1.4 (0xFFFFFFFF as
 * 4292870144, so a previous CRC of 2^31 or more gives a wrong CRC). The `cc` library stays
 * referenced for the life of the process (`keepAlive`): closing or collecting it would free the
 * code the bindings point to.
 */

import { cc, dlopen, linkSymbols, type Pointer } from "bun:ffi";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The CRC-32C of `bytes[start..end)` continuing from `previous`, as src/crc32c.ts exports it. */
export type Crc32c = (bytes: Uint8Array, start?: number, end?: number, previous?: number) => number;

/**
 * For each `i < count`, `out[i]` = the CRC-32C of `bytes[ranges[2i]..ranges[2i+1])`. Stops at
 * the first range that is reversed or runs past `bytes`, before reading it, and returns its
 * index; returns `count` when all were computed. The caller has checked that `count` ranges
 * and results fit `ranges` and `out`.
 */
export type Crc32cRanges = (
  bytes: Uint8Array,
  ranges: Uint32Array,
  count: number,
  out: Uint32Array,
) => number;

/** The native functions, or why there are none. */
export type NativeCrc32c =
  | { readonly crc32c: Crc32c; readonly crc32cRanges: Crc32cRanges; readonly reason?: undefined }
  | { readonly reason: string };

/** A path, not `URL.pathname`: on Windows that is "/C:/…", which no file is. */
const SOURCE = fileURLToPath(new URL("./crc32c.c", import.meta.url));
const U32_LIMIT = 0xffff_ffff;

/** The compiled library, kept for as long as the bindings to its code may run: always. */
const compiledLibraries: unknown[] = [];

/** Where a `cc` symbol's code is; the types of `cc` leave the runtime's `ptr` out. */
const addressOf = (symbol: unknown) => (symbol as { ptr: Pointer }).ptr;

/**
 * Compiles, binds and self-tests the native CRC-32C; returns it, or the reason it is unused.
 * `source` is the C file: src/crc32c.c, or in tests one that is broken on purpose.
 */
export function loadNativeCrc32c(source: string = SOURCE): NativeCrc32c {
  try {
    const missing = missingInstruction();
    if (missing !== undefined) return { reason: missing };
    const compiled = cc({
      source,
      flags: ["-nostdlib"],
      symbols: {
        crc32c_cpu_supported: { args: [], returns: "u32" },
        crc32c_prepare: { args: [], returns: "void" },
        crc32c_range: { args: ["ptr", "u32", "u32", "u32"], returns: "u32" },
        crc32c_ranges: { args: ["ptr", "u32", "ptr", "u32", "ptr"], returns: "u32" },
      },
    });
    compiledLibraries.push(compiled);
    const { symbols } = linkSymbols({
      supported: {
        ptr: addressOf(compiled.symbols.crc32c_cpu_supported),
        args: [],
        returns: "u32",
      },
      prepare: { ptr: addressOf(compiled.symbols.crc32c_prepare), args: [], returns: "void" },
      range: {
        ptr: addressOf(compiled.symbols.crc32c_range),
        args: ["ptr", "u32", "u32", "u32"],
        returns: "u32",
      },
      ranges: {
        ptr: addressOf(compiled.symbols.crc32c_ranges),
        args: ["ptr", "u32", "ptr", "u32", "ptr"],
        returns: "u32",
      },
    });
    if (symbols.supported() !== 1) return { reason: "the CPU has no SSE4.2 crc32 instruction" };
    symbols.prepare();
    const { range, ranges: rangesNative } = symbols;

    const crc32c: Crc32c = (bytes, start = 0, end = bytes.length, previous = 0) => {
      // The bounds the TypeScript loop gets from its array, checked before native code reads.
      if (!(start >= 0 && start <= end && end <= bytes.length)) throw outOfBounds(start, end);
      if (end > U32_LIMIT) return crc32cOfHuge(range, bytes, start, end, previous);
      return range(bytes, start, end, previous >>> 0);
    };
    // Ranges are u32 offsets: past 4 GiB the batch stops at once, and the caller falls back.
    const crc32cRanges: Crc32cRanges = (bytes, ranges, count, out) =>
      bytes.length > U32_LIMIT ? 0 : rangesNative(bytes, bytes.length, ranges, count, out);
    const failure = selfTest(range, crc32c, crc32cRanges);
    if (failure !== undefined)
      return { reason: `the native CRC-32C failed its self-test: ${failure}` };
    return { crc32c, crc32cRanges };
  } catch (error) {
    return { reason: `the native CRC-32C did not load: ${(error as Error).message ?? error}` };
  }
}

/** The error for a range outside its input: a caller's bug, never a property of the data. */
export function outOfBounds(start: number, end: number): RangeError {
  return new RangeError(`crc32c: range [${start}, ${end}) is not within the input`);
}

/** Inputs past 4 GiB, which u32 offsets cannot reach: the CRC of consecutive slices. */
function crc32cOfHuge(
  range: (bytes: Uint8Array, start: number, end: number, previous: number) => number,
  bytes: Uint8Array,
  start: number,
  end: number,
  previous: number,
): number {
  let crc = previous >>> 0;
  for (let from = start; from < end; ) {
    const slice = bytes.subarray(from, Math.min(end, from + 0x4000_0000));
    crc = range(slice, 0, slice.length, crc);
    from += slice.length;
  }
  return crc;
}

/**
 * Why this CPU cannot run the native code, found before compiling it; undefined if it may.
 * x64 asks CPUID from the compiled code itself (every x64 CPU has CPUID, and an emulator may
 * lack SSE4.2). arm64 has no unprivileged way to ask, so the OS answers.
 */
function missingInstruction(): string | undefined {
  if (process.arch === "x64") return undefined;
  if (process.arch !== "arm64") return `no native CRC-32C for the ${process.arch} architecture`;
  if (process.platform === "darwin") return undefined; // every Apple arm64 CPU has CRC32
  if (process.platform === "linux") {
    return linuxArm64HasCrc32() ? undefined : "the CPU has no ARMv8 CRC32 instructions (HWCAP)";
  }
  if (process.platform === "win32") {
    return windowsArm64HasCrc32() ? undefined : "the CPU has no ARMv8 CRC32 instructions";
  }
  return `no CPU feature check for arm64 on ${process.platform}`;
}

/** `getauxval(AT_HWCAP) & HWCAP_CRC32`, read from /proc/self/auxv (pairs of u64: type, value). */
function linuxArm64HasCrc32(): boolean {
  const AT_HWCAP = 16n;
  const HWCAP_CRC32 = 1n << 7n; // <asm/hwcap.h>
  const auxv = readFileSync("/proc/self/auxv");
  const view = new DataView(auxv.buffer, auxv.byteOffset, auxv.byteLength);
  for (let at = 0; at + 16 <= auxv.length; at += 16) {
    if (view.getBigUint64(at, true) === AT_HWCAP) {
      return (view.getBigUint64(at + 8, true) & HWCAP_CRC32) !== 0n;
    }
  }
  return false;
}

/** kernel32 `IsProcessorFeaturePresent(PF_ARM_V8_CRC32_INSTRUCTIONS_AVAILABLE)`. */
function windowsArm64HasCrc32(): boolean {
  const PF_ARM_V8_CRC32_INSTRUCTIONS_AVAILABLE = 31; // <winnt.h>
  // BOOL IsProcessorFeaturePresent(DWORD ProcessorFeature); <processthreadsapi.h>
  const kernel32 = dlopen("kernel32.dll", {
    IsProcessorFeaturePresent: { args: ["u32"], returns: "i32" },
  });
  try {
    return kernel32.symbols.IsProcessorFeaturePresent(PF_ARM_V8_CRC32_INSTRUCTIONS_AVAILABLE) !== 0;
  } finally {
    kernel32.close();
  }
}

/** The self-test's input: 1,088 deterministic bytes (xorshift32), the same on every run. */
export function selfTestPattern(): Uint8Array {
  const words = new Uint32Array((1024 + 64) / 4);
  for (let i = 0, x = 0x9e3779b9; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
  return new Uint8Array(words.buffer);
}

/** Every length to 64 and a few to 1,000: the 8-byte loop, and each length of its tail. */
export const SELF_TEST_LENGTHS: readonly number[] = [
  ...Array.from({ length: 65 }, (_, length) => length),
  255,
  264,
  511,
  1000,
];

/**
 * `crc32cTypeScript(pattern, 0, length, length)` for each of SELF_TEST_LENGTHS. Written out
 * because at load the TypeScript is still interpreted and computing them took 1.2 ms;
 * test/crc32c-native.test.ts recomputes them with the TypeScript, so they cannot go stale.
 */
export const SELF_TEST_EXPECTED: readonly number[] = [
  0x00000000, 0xc8faccf1, 0x008d1726, 0xbc63eade, 0x97248f2d, 0x69f52ce9, 0x99fed0be, 0xa84f7d5e,
  0xf4dad01c, 0xa0ab36ff, 0x7b535674, 0xb9d29dd1, 0x0d3830c2, 0xc7f063e2, 0x842a697c, 0x980ad768,
  0x01aedaa8, 0x6b4737f6, 0x488c4537, 0x2c9404ec, 0xbd78295e, 0x46be1e3b, 0x2d87ad45, 0xa94dcdd0,
  0xe3232472, 0x3fda7eb9, 0xb619f929, 0x41b617d8, 0xb29d2c4c, 0x452a99d9, 0x9b8c647d, 0x8e166328,
  0x67163f4a, 0x6aebc9b8, 0xa68e19d0, 0x56b29818, 0x7b59b134, 0x62d68fea, 0x5c28ccbb, 0x638451fa,
  0xa587efd5, 0x425bd3c4, 0x9d452a72, 0x58377aa7, 0x7b43d07d, 0x87a9c938, 0x0062a4bd, 0x8acf9713,
  0xa8cf0169, 0x4ca478a3, 0xccecbee6, 0x5874f843, 0xaddc4215, 0xc3d2296b, 0x16893b0a, 0x9dd4c374,
  0x41748328, 0xb9bda6a2, 0xba5e6a46, 0x9bdbe57b, 0xba7ab322, 0x54aefb70, 0x517b4f19, 0xaf7dbde1,
  0x7ddb9775, 0x603f055b, 0xf0fe7207, 0xde5865b3, 0x9be05395,
];

/**
 * Previous CRCs with the top bit set, which a signed conversion would get wrong, and
 * `crc32cTypeScript(pattern, 1, 300, previous)` for each (recomputed by the same test).
 */
export const SELF_TEST_PREVIOUS: readonly (readonly [previous: number, crc: number])[] = [
  [0x8000_0000, 0x362cc181],
  [0xffff_ffff, 0xa9aa7e94],
  [-1, 0xa9aa7e94],
];

/**
 * Checks the native functions on inputs that reach every path of the C code, against the
 * TypeScript's results; returns what differed, or undefined. The long input, which the
 * TypeScript could not check in time at load, is checked against the native one-chain path,
 * which the short inputs have just checked. About 0.5 ms here.
 */
function selfTest(
  range: (bytes: Uint8Array, start: number, end: number, previous: number) => number,
  crc32c: Crc32c,
  crc32cRanges: Crc32cRanges,
): string | undefined {
  const check = Uint8Array.of(0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39); // "123456789"
  if (crc32c(check) !== 0xe3069283) return 'crc32c("123456789") is not 0xE3069283';
  const pattern = selfTestPattern();
  // The same bytes at each alignment.
  const shifted = new Uint8Array(pattern.length + 8);
  for (let offset = 0; offset < 8; offset++) {
    shifted.set(pattern, offset);
    for (let i = 0; i < SELF_TEST_LENGTHS.length; i++) {
      const length = SELF_TEST_LENGTHS[i]!;
      if (range(shifted, offset, offset + length, length) !== SELF_TEST_EXPECTED[i]) {
        return `length ${length} at offset ${offset}`;
      }
    }
  }
  for (const [previous, crc] of SELF_TEST_PREVIOUS) {
    if (crc32c(pattern, 1, 300, previous) !== crc) {
      return `previous 0x${(previous >>> 0).toString(16)}`;
    }
  }
  // Past 24 KiB the three chains and the table that joins them run: twice here, then a tail,
  // against the same bytes in pieces under 24 KiB, which run one chain.
  const long = new Uint8Array(3 * 8192 * 2 + 1000);
  for (let at = 0; at < long.length; at += pattern.length) {
    long.set(pattern.subarray(0, Math.min(pattern.length, long.length - at)), at);
    long[at] = at >>> 10; // no two blocks alike
  }
  let pieces = 0xdead_beef;
  for (let at = 3; at < long.length; at += 8000) {
    pieces = crc32c(long, at, Math.min(long.length, at + 8000), pieces);
  }
  if (crc32c(long, 3, long.length, 0xdead_beef) !== pieces) return `${long.length - 3} bytes`;
  // A batch of unequal ranges, one of them long enough for three chains.
  const ranges = Uint32Array.of(0, 0, 5, 300, 300, 301, 7, 8192 * 3 + 7, 40, 41, 100, 1100);
  const count = ranges.length / 2;
  const out = new Uint32Array(count);
  if (crc32cRanges(long, ranges, count, out) !== count) return "a batch stopped early";
  for (let i = 0; i < count; i++) {
    if (out[i] !== crc32c(long, ranges[2 * i], ranges[2 * i + 1])) {
      return `batch range ${i} [${ranges[2 * i]}, ${ranges[2 * i + 1]})`;
    }
  }
  if (crc32cRanges(long, Uint32Array.of(5, long.length + 1), 1, out) !== 0) {
    return "a batch range past the input was not refused";
  }
  return undefined;
}
