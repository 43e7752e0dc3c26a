/**
 * The native CRC-32C on Windows: Bun for Windows compiles src/crc32c.c with its own TinyCC (the
 * Windows x64 calling convention, a PE image), and the self-test decides whether it runs. Under
 * Wine the CPU is this machine's, so where it has SSE4.2 the native one must be the one running.
 */

import { expect, test } from "bun:test";
import { crc32c, crc32cFallbackReason, crc32cImplementation } from "../../src/crc32c.ts";
import { loadNativeCrc32c } from "../../src/crc32c-native.ts";
import { crc32cTypeScript } from "../../src/crc32c-typescript.ts";

test("the native CRC-32C compiles, passes its self-test and runs", () => {
  expect(loadNativeCrc32c().reason).toBeUndefined();
  expect(crc32cFallbackReason).toBe("");
  expect(crc32cImplementation).toBe("native");
});

test("it agrees with the TypeScript on a long input and a record-sized one", () => {
  const input = new Uint8Array(100_000).map((_, i) => (i * 2654435761) >>> 24);
  expect(crc32c(input, 3, 99_000, 0xffff_ffff)).toBe(
    crc32cTypeScript(input, 3, 99_000, 0xffff_ffff),
  );
  expect(crc32c(input, 5, 269)).toBe(crc32cTypeScript(input, 5, 269));
  expect(crc32c(new TextEncoder().encode("123456789"))).toBe(0xe3069283);
});
