/**
 * An arm64 Bun to run tests with, on Linux x86-64: Bun's own Linux arm64 build from npm
 * (`@oven/bun-linux-aarch64`, the version of the Bun running this) under qemu's user-mode
 * emulator, with Debian's arm64 C library for its dynamic loader. Tools that are missing are
 * installed with apt-get when this process may; otherwise `prepareArm64Bun` says why not.
 */

import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { aptInstall, fetchNpmPackage, locate } from "../support/foreign-bun.ts";

const SUITE = "arm64 suite";
const ROOT = join(import.meta.dir, "..", "..");
/** Everything fetched lives here, out of git, gone with node_modules. */
const CACHE = join(ROOT, "node_modules", ".cache", "wal-db-arm64");

/** What running the arm64 suite needs. */
export interface Arm64Bun {
  /** A command that runs the arm64 Bun: qemu, its loader prefix, the binary. */
  readonly command: readonly string[];
  /**
   * A script that runs the arm64 Bun with its arguments: what a test spawns in place of
   * `process.execPath`, which the kernel cannot run without binfmt_misc.
   */
  readonly launcher: string;
}

/** Debian packages, and the file each one brings, that the suite needs. */
const NEEDS: readonly { path: string; pkg: string }[] = [
  { path: "/usr/bin/qemu-aarch64-static", pkg: "qemu-user-static" },
  { path: "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1", pkg: "libc6-arm64-cross" },
];

/** Returns a runnable arm64 Bun, or the reason there cannot be one on this machine. */
export function prepareArm64Bun(): Arm64Bun | { reason: string } {
  if (process.platform !== "linux" || process.arch !== "x64") {
    return {
      reason: `qemu runs Bun's arm64 build here only on Linux x64 (this is ${process.arch})`,
    };
  }
  for (const need of NEEDS) {
    if (locate([need.path]) !== undefined) continue;
    const installed = aptInstall(need.pkg, SUITE);
    if (installed !== null) return { reason: `${need.path} is missing: ${installed}` };
    if (locate([need.path]) === undefined)
      return { reason: `${need.pkg} installed, but no ${need.path}` };
  }
  const dir = join(CACHE, `bun-linux-aarch64-${Bun.version}`);
  const bun = join(dir, "package", "bin", "bun");
  if (!existsSync(bun)) {
    const fetched = fetchNpmPackage(`@oven/bun-linux-aarch64@${Bun.version}`, dir, SUITE);
    if (fetched !== null) return { reason: fetched };
  }
  chmodSync(bun, 0o755);
  const command = ["/usr/bin/qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu", bun];
  mkdirSync(CACHE, { recursive: true });
  const launcher = join(CACHE, "bun-arm64");
  writeFileSync(launcher, `#!/bin/sh\nexec ${command.join(" ")} "$@"\n`);
  chmodSync(launcher, 0o755);
  return { command, launcher };
}
