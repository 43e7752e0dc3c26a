/**
 * The package as a user gets it: `bun pm pack` makes the tarball, a fresh project installs it
 * offline, imports `wal-db` by name, runs the `wal-db` command, and Node.js gets a clear error
 * instead of a resolution failure. Catches a file left out of `files`, an `exports` or `bin`
 * target that is not shipped, and tests or benchmarks shipped by mistake.
 */

import { beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { delimiter, dirname, join, relative } from "node:path";
import { tempDir } from "./support/temp.ts";

const root = join(import.meta.dir, "..");
const dir = tempDir("wal-db-package-");
const app = join(dir, "app");
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
/** What `wal-db` throws in Node.js `version`. */
const requiresBun = (version: string) =>
  `wal-db runs on Bun (>= 1.4.4); it was imported from Node.js ${version}. Install Bun: https://bun.sh`;

// The child processes never reach a registry: a zero-dependency tarball installs from the file
// alone, and an unreachable registry makes any attempt to fetch fail fast instead of hanging.
// The install cache is private to this run so the tarball never lands in the user's cache.
const env = {
  ...process.env,
  BUN_CONFIG_REGISTRY: "http://127.0.0.1:9/",
  BUN_INSTALL_CACHE_DIR: join(dir, "cache"),
  // `#!/usr/bin/env bun` in the installed bin must find this Bun.
  PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ""}`,
  NO_COLOR: "1",
};

/** Runs a command to its end; its output and exit code. */
async function run(cmd: string[], cwd: string) {
  const child = Bun.spawn(cmd, { cwd, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { stdout, stderr, exitCode };
}

/** Paths of the regular files in a gzipped tar, as `bun pm pack` writes it (ustar). */
function tarFiles(tarball: string): string[] {
  const tar = Bun.gunzipSync(readFileSync(tarball));
  const field = (at: number, size: number) =>
    new TextDecoder().decode(tar.subarray(at, at + size)).replace(/\0.*$/s, "");
  const files: string[] = [];
  for (let offset = 0; offset + 512 <= tar.length; ) {
    const name = field(offset, 100);
    if (name === "") break; // two zero blocks end the archive
    const size = Number.parseInt(field(offset + 124, 12).trim() || "0", 8);
    const type = field(offset + 156, 1);
    const prefix = field(offset + 345, 155);
    if (type === "0" || type === "") files.push(prefix === "" ? name : `${prefix}/${name}`);
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return files.map((path) => path.replace(/^package\//, "")).sort();
}

/** Every file under `folder` of the repository, relative to the root. */
function filesUnder(folder: string): string[] {
  return readdirSync(join(root, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)).replaceAll("\\", "/"));
}

let tarball = "";

beforeAll(async () => {
  const pack = await run([process.execPath, "pm", "pack", "--destination", dir, "--quiet"], root);
  expect(pack.stderr).toBe("");
  expect(pack.exitCode).toBe(0);
  tarball = join(dir, `wal-db-${manifest.version}.tgz`);

  mkdirSync(app);
  writeFileSync(
    join(app, "package.json"),
    JSON.stringify({ name: "app", private: true, type: "module" }),
  );
  const install = await run([process.execPath, "add", tarball], app);
  expect(install.exitCode, install.stderr).toBe(0);
});

describe("bun pm pack", () => {
  test("ships src, docs, README.md, LICENSE and package.json, and nothing else", () => {
    const expected = ["package.json", "README.md", "LICENSE", ...filesUnder("src")]
      .concat(filesUnder("docs"))
      .sort();
    const shipped = tarFiles(tarball);
    expect(shipped).toEqual(expected);
    expect(shipped.filter((path) => /^(test|bench|examples)\//.test(path))).toEqual([]);
  });

  test("ships every file that package.json exports or runs as a bin", () => {
    const shipped = new Set(tarFiles(tarball));
    const targets = [
      ...Object.values(manifest.exports["."] as Record<string, string>),
      ...Object.values(manifest.bin as Record<string, string>),
      manifest.types as string,
    ].map((target) => target.replace(/^\.\//, ""));
    for (const target of targets) expect(shipped.has(target), target).toBe(true);
  });

  test("has no runtime dependencies", () => {
    expect(manifest.dependencies ?? {}).toEqual({});
    expect(manifest.peerDependencies ?? {}).toEqual({});
    expect(manifest.optionalDependencies ?? {}).toEqual({});
  });
});

describe("the installed package", () => {
  test('import { Wal } from "wal-db" appends, syncs and reads back after a reopen', async () => {
    writeFileSync(
      join(app, "main.ts"),
      `import { Wal } from "wal-db";

console.log(import.meta.resolve("wal-db"));
{
  using wal = Wal.open("app.wal");
  wal.append("first");
  wal.appendAndSync("second");
}
using wal = Wal.open("app.wal");
console.log(JSON.stringify([...wal.iter()].map((r) => [r.lsn, new TextDecoder().decode(r.data)])));
`,
    );
    const result = await run([process.execPath, "main.ts"], app);
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    const [resolved, records] = result.stdout.trim().split("\n");
    // The tarball's copy, not this repository's source.
    expect(resolved).toBe(`file://${join(app, "node_modules", "wal-db", "src", "index.ts")}`);
    expect(JSON.parse(records!)).toEqual([
      [0, "first"],
      [13, "second"],
    ]);
  });

  test("bunx wal-db --help runs the CLI from the tarball", async () => {
    const result = await run([process.execPath, "x", "wal-db", "--help"], app);
    expect(result.exitCode).toBe(0);
    const help = result.stdout + result.stderr;
    for (const command of ["inspect", "verify", "dump", "tail", "torture", "bench"]) {
      expect(help).toContain(command);
    }
  });

  test.skipIf(Bun.which("node") === null)(
    "Node.js gets a clear error from import and require, here and in this repository",
    async () => {
      const version = (await run(["node", "-p", "process.versions.node"], app)).stdout.trim();
      for (const cwd of [app, root]) {
        const imported = await run(
          [
            "node",
            "-e",
            'import("wal-db").catch((e) => { console.error(e.message); process.exit(3); })',
          ],
          cwd,
        );
        expect(imported.stderr.trim()).toBe(requiresBun(version));
        expect(imported.exitCode).toBe(3);

        const required = await run(["node", "-e", 'require("wal-db")'], cwd);
        expect(required.stderr).toContain(requiresBun(version));
        expect(required.exitCode).toBe(1);
      }
    },
  );
});
