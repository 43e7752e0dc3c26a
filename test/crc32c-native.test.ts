/**
 * The native CRC-32C (src/crc32c.c through src/crc32c-native.ts): that it runs where it should,
 * that it agrees with the TypeScript on every path of its C code, that it refuses ranges outside
 * its input before native code reads them, and that a broken build or a wrong answer falls back
 * to TypeScript instead of reaching a frame. test/crc32c.test.ts pins both to published vectors.
 */

import { describe, expect, test } from "bun:test";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import {
  Crc32cBatch,
  crc32c,
  crc32cFallbackReason,
  crc32cImplementation,
  crc32cRanges,
} from "../src/crc32c.ts";
import {
  loadNativeCrc32c,
  SELF_TEST_EXPECTED,
  SELF_TEST_LENGTHS,
  SELF_TEST_PREVIOUS,
  selfTestPattern,
} from "../src/crc32c-native.ts";
import { crc32cTypeScript } from "../src/crc32c-typescript.ts";
import { Wal } from "../src/index.ts";
import { HEADER_SIZE, sealFrames, writeLength } from "../src/record.ts";
import { RecordScanner, Scan } from "../src/scan.ts";
import { mulberry32, randomBytes, seedFromEnv } from "./support/random.ts";

/** A uniform number in [0, 1) from a seeded u32 generator. */
const unit = (next: () => number) => () => next() / 2 ** 32;

import { logPath, tempDir } from "./support/temp.ts";

const SEED = seedFromEnv(0x5eed_c2c);
const dir = tempDir();
const SOURCE = new URL("../src/crc32c.c", import.meta.url).pathname;
const forcedTypeScript = /^(ts|typescript)$/i.test(process.env.WAL_DB_CRC ?? "");

/**
 * Whether this machine's CPU has the instruction the native code needs, as the kernel's
 * /proc/cpuinfo says; or as WAL_DB_EXPECT_CRC=native says, for the arm64 suite under qemu
 * (test/arm64/), where /proc/cpuinfo describes the host.
 */
function cpuHasCrc32c(): boolean {
  if (process.env.WAL_DB_EXPECT_CRC === "native") return true;
  if (process.platform !== "linux") return false;
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  if (process.arch === "x64") return /^flags\s*:.*\bsse4_2\b/m.test(cpuinfo);
  if (process.arch === "arm64") return /^Features\s*:.*\bcrc32\b/m.test(cpuinfo);
  return false;
}

describe("which CRC-32C runs", () => {
  test("native where the CPU has the instruction, TypeScript when WAL_DB_CRC=ts", () => {
    if (forcedTypeScript) {
      expect(crc32cImplementation).toBe("typescript");
      expect(crc32cFallbackReason).toContain("WAL_DB_CRC=ts");
    } else if (cpuHasCrc32c()) {
      expect(crc32cFallbackReason).toBe("");
      expect(crc32cImplementation).toBe("native");
    } else {
      console.log(`no CRC-32C instruction here: ${crc32cFallbackReason}`);
      expect(crc32cImplementation).toBe("typescript");
    }
  });

  test("WAL_DB_CRC=ts in a child process gives it the TypeScript one, with the reason", async () => {
    const script = `const m = await import(${JSON.stringify(new URL("../src/crc32c.ts", import.meta.url).pathname)});
      console.log(JSON.stringify([m.crc32cImplementation, m.crc32cFallbackReason, m.crc32c(new TextEncoder().encode("123456789"))]));`;
    // Under qemu (test/arm64/) the emulated Bun is started through its launcher script.
    const bun = process.env.WAL_DB_TEST_BUN ?? process.execPath;
    const child = Bun.spawnSync([bun, "-e", script], {
      env: { ...process.env, WAL_DB_CRC: "ts" },
    });
    expect(child.exitCode).toBe(0);
    const [implementation, reason, check] = JSON.parse(child.stdout.toString());
    expect(implementation).toBe("typescript");
    expect(reason).toContain("WAL_DB_CRC=ts");
    expect(check).toBe(0xe3069283);
  });
});

describe("the self-test's expected values are the TypeScript's", () => {
  test("every length, at offset 0, continuing from the length as the previous CRC", () => {
    const pattern = selfTestPattern();
    expect(SELF_TEST_LENGTHS.map((length) => crc32cTypeScript(pattern, 0, length, length))).toEqual(
      [...SELF_TEST_EXPECTED],
    );
  });

  test("previous values with the top bit set, passed as doubles and as -1", () => {
    const pattern = selfTestPattern();
    for (const [previous, crc] of SELF_TEST_PREVIOUS) {
      expect(crc32cTypeScript(pattern, 1, 300, previous)).toBe(crc);
    }
  });
});

// The rest runs the native functions themselves, loaded here even when WAL_DB_CRC=ts made
// the TypeScript one the process's choice; skipped only where this CPU cannot run them.
const loaded = loadNativeCrc32c();
const native = loaded.reason === undefined ? loaded : undefined;
const describeNative = native === undefined ? describe.skip : describe;
if (native === undefined) console.log(`native CRC-32C not testable here: ${loaded.reason}`);

describeNative("the native CRC-32C agrees with the TypeScript", () => {
  test(`random ranges of random inputs, 0 B to 100 KiB, random previous CRCs (seed ${SEED})`, () => {
    const next = mulberry32(SEED);
    const random = unit(next);
    const input = randomBytes(next, 100 * 1024 + 64);
    for (let i = 0; i < 2_000; i++) {
      // Mostly short, as frames are; some long enough for the three chains, several times.
      const length = Math.floor(random() * (i % 10 === 0 ? 100 * 1024 : 600));
      const start = Math.floor(random() * (input.length - length));
      const previous = Math.floor(random() * 2 ** 32);
      expect(native!.crc32c(input, start, start + length, previous)).toBe(
        crc32cTypeScript(input, start, start + length, previous),
      );
    }
  });

  test("lengths around each multiple of the 24 KiB three-chain block, and 1 MiB", () => {
    const random = mulberry32(SEED + 1);
    const input = randomBytes(random, (1 << 20) + 16);
    for (const blocks of [1, 2, 5]) {
      for (const delta of [-9, -8, -1, 0, 1, 7, 8, 9]) {
        const end = 3 + blocks * 3 * 8192 + delta;
        expect(native!.crc32c(input, 3, end, 0x1234_5678)).toBe(
          crc32cTypeScript(input, 3, end, 0x1234_5678),
        );
      }
    }
    expect(native!.crc32c(input, 0, 1 << 20)).toBe(crc32cTypeScript(input, 0, 1 << 20));
  });

  test("a batch of many unequal ranges equals one call per range", () => {
    const next = mulberry32(SEED + 2);
    const random = unit(next);
    const input = randomBytes(next, 64 * 1024);
    const count = 500;
    const ranges = new Uint32Array(2 * count);
    for (let i = 0; i < count; i++) {
      const start = Math.floor(random() * input.length);
      ranges[2 * i] = start;
      ranges[2 * i + 1] = start + Math.floor(random() * (input.length - start));
    }
    const out = new Uint32Array(count);
    expect(native!.crc32cRanges(input, ranges, count, out)).toBe(count);
    for (let i = 0; i < count; i++) {
      expect(out[i]).toBe(crc32cTypeScript(input, ranges[2 * i], ranges[2 * i + 1]));
    }
  });

  test("subarrays: the pointer is the view's, not its buffer's", () => {
    const random = mulberry32(SEED + 3);
    const backing = randomBytes(random, 4096);
    const view = backing.subarray(1001, 3001);
    expect(native!.crc32c(view)).toBe(crc32cTypeScript(backing, 1001, 3001));
    expect(native!.crc32c(view, 10, 20)).toBe(crc32cTypeScript(backing, 1011, 1021));
  });
});

describeNative("ranges outside the input are refused before native code reads them", () => {
  const input = new Uint8Array(100);

  test("one range: past the end, reversed, negative, NaN", () => {
    for (const [start, end] of [
      [0, 101],
      [50, 40],
      [-1, 10],
      [Number.NaN, 10],
      [0, Number.NaN],
    ] as const) {
      expect(() => native!.crc32c(input, start, end)).toThrow(RangeError);
    }
  });

  test("a batch: the range past the end stops it, and crc32cRanges throws", () => {
    const out = new Uint32Array(3);
    const ranges = Uint32Array.of(0, 10, 20, 30, 90, 101);
    expect(native!.crc32cRanges(input, ranges, 3, out)).toBe(2);
    expect(() => crc32cRanges(input, ranges, 3, out)).toThrow(RangeError);
    expect(() => crc32cRanges(input, ranges, 4, out)).toThrow(RangeError); // arrays too short
  });
});

describeNative("a native build that is wrong never runs", () => {
  test("a C file that does not compile: the reason says so, and nothing is returned", () => {
    const broken = `${logPath(dir, "broken")}.c`;
    writeFileSync(broken, `${readFileSync(SOURCE, "utf8")}\nthis is not C;\n`);
    const result = loadNativeCrc32c(broken);
    expect(result.reason).toContain("did not load");
    expect("crc32c" in result).toBe(false);
  });

  // Each break reaches a different part of the self-test. On x64: the one-byte tail, the
  // 8-byte loop, and the join of the three chains, which only inputs over 24 KiB reach. On
  // arm64, whose code is instruction words: the CRC-32 instructions in place of the CRC-32C
  // ones, and a branch that skips the byte tail.
  const breaks: [string, string, string][] =
    process.arch === "arm64"
      ? [
          ["the 8-byte loop", ".int 0x9ac35c42", ".int 0x9ac34c42"], // crc32cx → crc32x
          ["the byte tail", ".int 0x1ac35042", ".int 0x1ac34042"], // crc32cb → crc32b
          ["the tail's branch", ".int 0xb40000a1", ".int 0x14000005"], // cbz x1, 4f → b 4f
        ]
      : [
          ["the byte tail", "out = one_byte(out, *p++);", "out = one_byte(out, *p++ ^ 1);"],
          [
            "the 8-byte loop",
            "r = one_chain(p, n >> 3, r);",
            "r = one_chain(p, n >> 3, r) ^ (n > 64);",
          ],
          [
            "the three-chain join",
            "r = shift(shift((u32)r) ^ (u32)r1) ^ (u32)r2;",
            "r = shift((u32)r) ^ (u32)r1 ^ (u32)r2;",
          ],
        ];
  for (const [part, correct, wrong] of breaks) {
    test(`a wrong answer in ${part} fails the self-test`, () => {
      const source = readFileSync(SOURCE, "utf8");
      expect(source).toContain(correct);
      const broken = `${logPath(dir, "broken")}.c`;
      writeFileSync(broken, source.replace(correct, wrong));
      const result = loadNativeCrc32c(broken);
      expect(result.reason).toContain("self-test");
      expect("crc32c" in result).toBe(false);
      // The unbroken source, compiled the same way from the same directory, passes.
      const fine = `${logPath(dir, "fine")}.c`;
      copyFileSync(SOURCE, fine);
      expect(loadNativeCrc32c(fine).reason).toBeUndefined();
    });
  }
});

test("wal.stats().crc32c reports the implementation frames are checksummed with", () => {
  using wal = Wal.open(logPath(dir));
  wal.append(new Uint8Array(10));
  expect(wal.stats().crc32c).toBe(crc32cImplementation);
});

test("the process's crc32c is the one it reports", () => {
  const random = mulberry32(SEED + 4);
  const input = randomBytes(random, 50_000);
  expect(crc32c(input, 7, 49_000, 99)).toBe(crc32cTypeScript(input, 7, 49_000, 99));
  if (crc32cImplementation === "native") expect(() => crc32c(input, 0, 50_001)).toThrow(RangeError);
});

describe("checksums computed in batches", () => {
  test("Crc32cBatch grows past its first 1,024 ranges and gives each range's CRC", () => {
    const input = randomBytes(mulberry32(SEED + 5), 20_000);
    const batch = new Crc32cBatch();
    for (let i = 0; i < 3_000; i++) batch.add(i, i + (i % 300));
    batch.run(input);
    expect(batch.count).toBe(3_000);
    for (let i = 0; i < 3_000; i++) {
      expect(batch.crc(i)).toBe(crc32cTypeScript(input, i, i + (i % 300)));
    }
    batch.clear();
    expect(batch.count).toBe(0);
  });

  test("the scanner's check ahead stops at a damaged frame, and next() reports it at its LSN", () => {
    // 2,000 frames in one chunk, so the scanner checks them ahead in one call; damage one in
    // the middle of that batch, and every frame before it is found, it is Invalid, none after.
    const payloads = Array.from({ length: 2_000 }, (_, i) => randomBytes(mulberry32(i), i % 200));
    const frames = new Uint8Array(payloads.reduce((sum, p) => sum + HEADER_SIZE + p.length, 0));
    const starts: number[] = [];
    for (let at = 0, i = 0; i < payloads.length; i++) {
      starts.push(at);
      frames.set(payloads[i]!, at + HEADER_SIZE);
      writeLength(frames, at, payloads[i]!.length);
      at += HEADER_SIZE + payloads[i]!.length;
    }
    sealFrames(frames, frames.length);
    const damaged = 1_234;
    frames[starts[damaged]!]! ^= 0x80; // a bit of its stored CRC
    const source = {
      read: (target: Uint8Array, position: number) => {
        const part = frames.subarray(position, position + target.length);
        target.set(part);
        return part.length;
      },
    };
    const scanner = new RecordScanner(source, 0, frames.length, 1 << 20);
    for (let i = 0; i < damaged; i++) {
      expect(scanner.next()).toBe(Scan.Record);
      expect(scanner.lsn).toBe(starts[i]!);
    }
    expect(scanner.next()).toBe(Scan.Invalid);
    expect(scanner.lsn).toBe(starts[damaged]!);
    expect(scanner.reason).toContain("checksum mismatch");
  });
});
