/**
 * What the suites that run another build of Bun share (the Windows one under Wine,
 * test/windows/; the arm64 one under qemu, test/arm64/): finding a tool, installing a Debian
 * package when this process may, and fetching one of Bun's npm packages of the running Bun's
 * version. Each returns null on success, else why it could not, for the suite to print.
 */

import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "bun";

/** The first of `paths` that exists. */
export function locate(paths: readonly string[]): string | undefined {
  return paths.find((path) => existsSync(path));
}

/** Installs a Debian package for `suite`; null when that worked, else why it did not. */
export function aptInstall(pkg: string, suite: string): string | null {
  if (process.getuid?.() !== 0) return `not root, so apt-get cannot install ${pkg}`;
  if (locate(["/usr/bin/apt-get"]) === undefined) return `no apt-get to install ${pkg}`;
  console.log(`${suite}: installing ${pkg} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () => spawnSync(["apt-get", "install", "-y", pkg], { env });
  if (install().exitCode === 0) return null;
  spawnSync(["apt-get", "update"], { env });
  const retry = install();
  return retry.exitCode === 0
    ? null
    : `apt-get install ${pkg} failed: ${retry.stderr.toString().trim()}`;
}

/** `npm pack`s `spec` into `dir` and unpacks it there (as `dir/package`); null on success. */
export function fetchNpmPackage(spec: string, dir: string, suite: string): string | null {
  mkdirSync(dir, { recursive: true });
  console.log(`${suite}: fetching ${spec} from npm`);
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
