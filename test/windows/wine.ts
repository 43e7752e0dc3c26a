/**
 * A Windows Bun to run tests with, under Wine on Linux x86-64: Wine from Debian's packages, Bun's
 * own Windows build from npm (`@oven/bun-windows-x64`, the version of the Bun running this),
 * and the `bcryptprimitives.dll` stub Wine 8 lacks (bcryptprimitives.s). Tools that are missing
 * are installed with apt-get when this process may; otherwise `prepareWindowsBun` says why not.
 */

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "bun";

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
      const installed = aptInstall(tool.pkg);
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
    const fetched = fetchWindowsBun(bunDir);
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

function locate(paths: readonly string[]): string | undefined {
  return paths.find((path) => existsSync(path));
}

/** Installs a Debian package; null when that worked, else why it did not. */
function aptInstall(pkg: string): string | null {
  if (process.getuid?.() !== 0) return `not root, so apt-get cannot install ${pkg}`;
  if (locate(["/usr/bin/apt-get"]) === undefined) return `no apt-get to install ${pkg}`;
  console.log(`windows suite: installing ${pkg} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () => spawnSync(["apt-get", "install", "-y", pkg], { env });
  if (install().exitCode === 0) return null;
  spawnSync(["apt-get", "update"], { env });
  const retry = install();
  return retry.exitCode === 0
    ? null
    : `apt-get install ${pkg} failed: ${retry.stderr.toString().trim()}`;
}

/** `npm pack`s Bun's Windows build into `dir` and unpacks it; null on success. */
function fetchWindowsBun(dir: string): string | null {
  mkdirSync(dir, { recursive: true });
  const spec = `@oven/bun-windows-x64@${Bun.version}`;
  console.log(`windows suite: fetching ${spec} from npm`);
  const pack = spawnSync(["npm", "pack", spec, "--pack-destination", dir, "--silent"], {
    cwd: dir,
  });
  const tarball = pack.stdout.toString().trim().split("\n").pop() ?? "";
  if (pack.exitCode !== 0 || tarball === "") {
    return `npm pack ${spec} failed: ${pack.stderr.toString().trim()}`;
  }
  const unpack = spawnSync(["tar", "xzf", join(dir, tarball), "-C", dir]);
  if (unpack.exitCode !== 0)
    return `could not unpack ${tarball}: ${unpack.stderr.toString().trim()}`;
  return null;
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
