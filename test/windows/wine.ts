/**
 * A Windows Bun to run tests with, under Wine on Linux x86-64: Wine from Debian's packages, Bun's
 * own Windows build from npm (`@oven/bun-windows-x64`, the version of the Bun running this),
 * and the `bcryptprimitives.dll` stub Wine 8 lacks (bcryptprimitives.s). Tools that are missing
 * are installed with apt-get when this process may; otherwise `prepareWindowsBun` says why not.
 */

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "bun";
import { aptInstall, fetchNpmPackage, locate } from "../support/foreign-bun.ts";

const SUITE = "windows suite";
const HERE = import.meta.dir;
const ROOT = join(HERE, "..", "..");
/** Everything fetched or built lives here, out of git, gone with node_modules. */
const CACHE = join(ROOT, "node_modules", ".cache", "wal-db-windows");

/** What running the Windows suite needs: Wine, and the directory holding a working bun.exe. */
export interface WindowsBun {
  /** Wine's 64-bit loader. */
  readonly wine: string;
  /** `bun.exe`, with the stub DLL beside it. */
  readonly bunExe: string;
  /** The environment to run it in: its own Wine prefix, Wine's debug chatter off. */
  readonly env: Record<string, string>;
}

/** Debian packages, and the command each one brings, that the suite needs. */
const TOOLS: readonly { command: string; paths: readonly string[]; pkg: string }[] = [
  { command: "wine64", paths: ["/usr/lib/wine/wine64", "/usr/bin/wine64"], pkg: "wine64" },
  { command: "llvm-mc", paths: ["/usr/bin/llvm-mc"], pkg: "llvm" },
  { command: "llvm-dlltool", paths: ["/usr/bin/llvm-dlltool"], pkg: "llvm" },
  { command: "lld-link", paths: ["/usr/bin/lld-link"], pkg: "lld" },
];

/** Returns a runnable Windows Bun, or the reason there cannot be one on this machine. */
export function prepareWindowsBun(): WindowsBun | { reason: string } {
  if (process.platform !== "linux" || process.arch !== "x64") {
    return {
      reason: `Wine runs Bun's x64 Windows build only on Linux x64 (this is ${process.platform} ${process.arch})`,
    };
  }
  const tools = new Map<string, string>();
  for (const tool of TOOLS) {
    let found = locate(tool.paths);
    if (found === undefined) {
      const installed = aptInstall(tool.pkg, SUITE);
      if (installed !== null) return { reason: `${tool.command} is missing: ${installed}` };
      found = locate(tool.paths);
      if (found === undefined) return { reason: `${tool.pkg} installed, but no ${tool.command}` };
    }
    tools.set(tool.command, found);
  }
  mkdirSync(CACHE, { recursive: true });
  const bunDir = join(CACHE, `bun-windows-x64-${Bun.version}`);
  const bunExe = join(bunDir, "package", "bin", "bun.exe");
  if (!existsSync(bunExe)) {
    const fetched = fetchNpmPackage(`@oven/bun-windows-x64@${Bun.version}`, bunDir, SUITE);
    if (fetched !== null) return { reason: fetched };
  }
  const built = buildPrngStub(tools, join(bunDir, "package", "bin"));
  if (built !== null) return { reason: built };
  const env = {
    ...(process.env as Record<string, string>),
    WINEPREFIX: join(CACHE, "wine-prefix"),
    WINEDEBUG: "-all",
  };
  return { wine: tools.get("wine64") as string, bunExe, env };
}

/**
 * Assembles bcryptprimitives.s into `bcryptprimitives.dll` beside bun.exe, where Windows looks
 * first for a DLL an executable imports. Rebuilt only when the source changed.
 */
function buildPrngStub(tools: Map<string, string>, binDir: string): string | null {
  const source = readFileSync(join(HERE, "bcryptprimitives.s"), "utf8");
  const dll = join(binDir, "bcryptprimitives.dll");
  const stamp = join(binDir, "bcryptprimitives.s");
  if (existsSync(dll) && existsSync(stamp) && readFileSync(stamp, "utf8") === source) return null;
  const object = join(binDir, "bcryptprimitives.obj");
  const importLibrary = join(binDir, "advapi32.lib");
  const steps = [
    [
      tools.get("llvm-mc"),
      "-triple=x86_64-pc-windows-msvc",
      "-filetype=obj",
      join(HERE, "bcryptprimitives.s"),
      "-o",
      object,
    ],
    [
      tools.get("llvm-dlltool"),
      "-m",
      "i386:x86-64",
      "-d",
      join(HERE, "advapi32.def"),
      "-l",
      importLibrary,
    ],
    [
      tools.get("lld-link"),
      "/dll",
      "/noentry",
      "/machine:x64",
      "/export:ProcessPrng",
      `/out:${dll}`,
      object,
      importLibrary,
    ],
  ] as string[][];
  for (const step of steps) {
    const run = spawnSync(step, { cwd: binDir });
    if (run.exitCode !== 0) {
      return `building bcryptprimitives.dll failed at ${step[0]}: ${run.stderr.toString().trim()}`;
    }
  }
  writeFileSync(stamp, source);
  return null;
}
