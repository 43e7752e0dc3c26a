/**
 * The arm64 suite: the CRC-32C tests, run by Bun's own Linux arm64 build under qemu (see
 * qemu.ts), so that the arm64 instruction words of src/crc32c.c are compiled by the arm64
 * TinyCC, checked for the CPU's CRC32 instructions through the auxiliary vector and self-tested,
 * as on an arm64 machine. `bun run test:arm64` runs it; `.ci/run` counts its tests with the rest.
 * Where qemu or the arm64 Bun cannot be had, it says why and runs nothing, except under CI
 * (`process.env.CI`), where that is a failure.
 */

import { join, relative } from "node:path";
import { spawn } from "bun";
import { prepareArm64Bun } from "./qemu.ts";

/** What a pass here does not show about a real arm64 machine, printed with every run. */
const LIMITS = [
  "qemu translates each arm64 instruction, so a pass shows that the arm64 code compiles, is",
  "found, and computes CRC-32C right, on the CPU model qemu emulates (every model it offers has",
  "the CRC32 instructions). It says nothing of speed on a real arm64 core, nor of macOS or",
  "Windows on arm64, whose CPU checks (every Apple CPU; IsProcessorFeaturePresent) run nowhere here.",
];

const root = join(import.meta.dir, "..", "..");
const files = ["test/crc32c.test.ts", "test/crc32c-native.test.ts", "test/bytes.test.ts"];

const arm64 = prepareArm64Bun();
if ("reason" in arm64) {
  const underCi = !!process.env.CI;
  console.log(`arm64 suite: ${underCi ? "failing (CI)" : "skipped"}: ${arm64.reason}`);
  process.exit(underCi ? 1 : 0);
}
console.log(
  `arm64 suite: ${files.length} files under qemu with ${relative(root, arm64.command.at(-1)!)}`,
);
for (const line of LIMITS) console.log(`arm64 suite: ${line}`);
const run = spawn(
  [...arm64.command, "test", "--timeout", "120000", ...files.map((f) => `./${f}`)],
  {
    cwd: root,
    env: {
      ...process.env,
      // qemu's /proc/cpuinfo is the host's, so the tests are told what the emulated CPU has.
      WAL_DB_EXPECT_CRC: "native",
      WAL_DB_TEST_BUN: arm64.launcher,
    },
    stdout: "inherit",
    stderr: "inherit",
    timeout: 10 * 60_000, // an emulator that hangs fails the suite instead of CI
  },
);
process.exit((await run.exited) ?? 1);
