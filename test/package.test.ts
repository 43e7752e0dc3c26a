/**
 * The package as a user gets it: `bun pm pack` makes the tarball, a fresh project installs it
 * offline, imports `wal-db` by name, runs the `wal-db` command, and Node.js gets a clear error
 * instead of a resolution failure. Catches a file left out of `files`, an `exports` or `bin`
 * target that is not shipped, tests or benchmarks shipped by mistake, and a README link that
 * leads nowhere inside the tarball.
 *
 * Then TypeScript checks a program that uses the public API against what the tarball ships, on
 * top of the tsconfig.json `bun init` writes, under the settings users add to it. TypeScript
 * checks every .ts file it reaches, skipLibCheck or not, so a package whose `types` were its
 * sources would put wal-db's own code under the user's settings, where it does not compile
 * (`noPropertyAccessFromIndexSignature`, `erasableSyntaxOnly`, `strict: false`, the DOM lib);
 * the `prepack` script builds declarations into types/ so that it does not. Each check turns
 * skipLibCheck off, so the declarations themselves are checked too, and fails if TypeScript
 * read anything of wal-db but them. `typecheck` is for type tests: a source passes only if
 * TypeScript reports nothing, and an `@ts-expect-error` line that is not an error is reported.
 */

import { beforeAll, describe, expect, test } from "bun:test";
import {
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { delimiter, dirname, join, posix, relative } from "node:path";
import { pathToFileURL } from "node:url";
import ts from "typescript";
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

/** The regular files in a gzipped tar, as `bun pm pack` writes it (ustar): path to bytes. */
function tarContents(tarball: string): Map<string, Uint8Array> {
  const tar = Bun.gunzipSync(readFileSync(tarball));
  const field = (at: number, size: number) =>
    new TextDecoder().decode(tar.subarray(at, at + size)).replace(/\0.*$/s, "");
  const files = new Map<string, Uint8Array>();
  for (let offset = 0; offset + 512 <= tar.length; ) {
    const name = field(offset, 100);
    if (name === "") break; // two zero blocks end the archive
    const size = Number.parseInt(field(offset + 124, 12).trim() || "0", 8);
    const type = field(offset + 156, 1);
    const prefix = field(offset + 345, 155);
    const path = (prefix === "" ? name : `${prefix}/${name}`).replace(/^package\//, "");
    if (type === "0" || type === "")
      files.set(path, tar.subarray(offset + 512, offset + 512 + size));
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

/** Every file under `folder` of the repository, relative to the root. */
function filesUnder(folder: string): string[] {
  return readdirSync(join(root, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)).replaceAll("\\", "/"));
}

/**
 * The relative link targets in a Markdown text, as paths from its folder without `#fragment`:
 * inline links and images, reference definitions and HTML `href`/`src`. Code is left out, and
 * so are URLs with a scheme and links within the page.
 */
function relativeLinks(markdown: string): string[] {
  const prose = markdown
    .replace(/^(`{3,}|~{3,})[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "")
    .replace(/`[^`\n]*`/g, "");
  const targets = [
    ...prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+["'(][^)]*)?\)/g),
    ...prose.matchAll(/^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)/gm),
    ...prose.matchAll(/\b(?:href|src)\s*=\s*["']([^"']+)["']/g),
  ].map((match) => match[1]!);
  return targets
    .filter((target) => !/^([a-z][a-z0-9+.-]*:|\/\/|#)/i.test(target))
    .map((target) => posix.normalize(decodeURIComponent(target.replace(/[#?].*$/s, ""))))
    .map((path) => path.replace(/^\//, "").replace(/\/$/, ""));
}

/** Links `name` from this repository's node_modules into `project`'s. */
function linkDevDependency(name: string, project: string): void {
  const link = join(project, "node_modules", name);
  mkdirSync(dirname(link), { recursive: true });
  symlinkSync(join(root, "node_modules", name), link, "junction");
}

/** A fresh project in `dir/name` with the tsconfig.json `bun init` wrote, ready to install into. */
function makeProject(name: string): string {
  const project = join(dir, name);
  mkdirSync(project);
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name, private: true, type: "module" }),
  );
  copyFileSync(join(dir, "init", "tsconfig.json"), join(project, "tsconfig.json"));
  return project;
}

/** What one TypeScript program over a source found. */
interface Compiled {
  /** Its diagnostics as tsc prints them (`check-1.ts(3,1): error TS2578: ...`). */
  readonly diagnostics: string[];
  /** The files of the installed wal-db it read, relative to the package (`types/wal.d.ts`). */
  readonly packageFiles: string[];
}

let checks = 0;

/**
 * Type-checks `source` as a file of `project`, with `project`'s tsconfig.json (`bun init`'s)
 * and `compilerOptions` on top, by this repository's TypeScript. The config is written next to
 * the source (tsconfig.check-N.json), so a failure can be run again there with `tsc -p`. The
 * diagnostics are tsc's for the config, the source and wal-db's files: checking the rest of
 * node_modules (Bun's and Node's types, ~7 s a program) would say nothing about wal-db.
 */
function compile(
  project: string,
  source: string,
  compilerOptions: Record<string, unknown> = {},
): Compiled {
  checks++;
  const file = join(project, `check-${checks}.ts`);
  const config = join(project, `tsconfig.check-${checks}.json`);
  writeFileSync(file, source);
  writeFileSync(
    config,
    JSON.stringify({
      extends: "./tsconfig.json",
      compilerOptions,
      files: [relative(project, file)],
    }),
  );
  const parsed = ts.getParsedCommandLineOfConfigFile(config, undefined, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
      throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n"));
    },
  })!;
  const program = ts.createProgram({
    rootNames: parsed.fileNames,
    options: parsed.options,
    configFileParsingDiagnostics: parsed.errors,
  });
  // Files under node_modules are read at their real path (the temp dir may be a symlink).
  const packageDir = realpathSync(join(project, "node_modules", "wal-db")).replaceAll("\\", "/");
  const own = program
    .getSourceFiles()
    .filter((sourceFile) => sourceFile.fileName.startsWith(`${packageDir}/`));
  const checked = [program.getSourceFile(file)!, ...own];
  const diagnostics = [
    ...program.getConfigFileParsingDiagnostics(),
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...checked.flatMap((sourceFile) => [
      ...program.getSyntacticDiagnostics(sourceFile),
      ...program.getSemanticDiagnostics(sourceFile),
    ]),
  ];
  const host = {
    getCanonicalFileName: (name: string) => name,
    getCurrentDirectory: () => project,
    getNewLine: () => "\n",
  };
  return {
    diagnostics: diagnostics.map((diagnostic) => ts.formatDiagnostic(diagnostic, host).trim()),
    packageFiles: own.map((sourceFile) => posix.relative(packageDir, sourceFile.fileName)),
  };
}

/**
 * tsc's diagnostics for `source` in the app that installed the tarball, under `bun init`'s
 * tsconfig.json with `compilerOptions` on top: `[]` when it type-checks. For type tests: mark
 * each line that must not compile with `// @ts-expect-error`, and expect `[]`.
 */
function typecheck(source: string, compilerOptions: Record<string, unknown> = {}): string[] {
  return compile(app, source, compilerOptions).diagnostics;
}

/**
 * A user's program: the calls the README starts with, a typed log, a handle, an error's code.
 * Every name it declares is used, for `noUnusedLocals`.
 */
const usage = `import { codecs, Wal, WalError, type WalHandle, type WalRecord } from "wal-db";

interface Order {
  id: number;
  item: string;
}

export async function main(path: string): Promise<number> {
  using wal = Wal.open(path, { maxRecordSize: 1 << 20 });
  const first: number = wal.append("a state change");
  wal.appendAndSync(new Uint8Array([1, 2, 3]));
  const committed: number = await wal.commit("durable once this resolves");
  for (const record of wal.iter()) {
    const data: Uint8Array = record.data;
    console.log(record.lsn, data.byteLength);
  }
  const tail: WalRecord<Uint8Array>[] = [...wal.iterFrom(first)];

  const handle: WalHandle = wal.share();
  const attached = Wal.attach(handle);
  attached.append("from another thread");
  attached.close();

  const { appends, barriers }: { appends: number; barriers: number } = wal.stats();

  using orders = Wal.open<Order>(\`\${path}.orders\`, { codec: codecs.json });
  orders.append({ id: 1, item: "tea" });
  for (const { lsn, data } of orders.iter()) console.log(lsn, data.item.toUpperCase());

  try {
    Wal.open(path);
  } catch (error) {
    if (!(error instanceof WalError) || error.code !== "LOCKED") throw error;
  }
  return committed + tail.length + appends + barriers;
}
`;

/** The settings on top of `bun init`'s tsconfig.json that the declarations must compile under. */
const settings: Record<string, Record<string, unknown>> = {
  "bun init's tsconfig.json as it is": {},
  "noPropertyAccessFromIndexSignature: true": { noPropertyAccessFromIndexSignature: true },
  'lib: ["ESNext", "DOM"]': { lib: ["ESNext", "DOM"] },
  "strict: false": { strict: false },
  "erasableSyntaxOnly: true": { erasableSyntaxOnly: true },
  // Everything above that goes with strict: true, and the rest of the checks a project can add.
  "the strictest settings together": {
    noPropertyAccessFromIndexSignature: true,
    lib: ["ESNext", "DOM"],
    erasableSyntaxOnly: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    noImplicitOverride: true,
    noUnusedLocals: true,
    noUnusedParameters: true,
    noImplicitReturns: true,
    noFallthroughCasesInSwitch: true,
    allowUnreachableCode: false,
    allowUnusedLabels: false,
    noUncheckedSideEffectImports: true,
    isolatedModules: true,
  },
  // tsc keeps the sources' `./x.ts` specifiers in the declarations (rewriteRelativeImportExtensions
  // rewrites JavaScript output only), and TypeScript takes x.d.ts for `./x.ts` when no x.ts is
  // beside it: under Node's resolution too, not only under bundler's.
  "module: NodeNext": { module: "NodeNext", moduleResolution: "NodeNext" },
  "module: Node16": { module: "Node16", moduleResolution: "Node16" },
};

/** What the tarball holds: each file's path in the package, and its bytes. */
let shipped = new Map<string, Uint8Array>();

beforeAll(async () => {
  // `bun init` writes its template, then fails (offline) to install @types/bun: only the
  // template is wanted, so its exit code is not. It runs while the tarball is packed.
  mkdirSync(join(dir, "init"));
  const [pack] = await Promise.all([
    run([process.execPath, "pm", "pack", "--destination", dir, "--quiet"], root),
    run([process.execPath, "init", "--yes"], join(dir, "init")),
  ]);
  expect(pack.exitCode, pack.stdout + pack.stderr).toBe(0);
  // Bun echoes each lifecycle script it runs (`$ tsc ...`) on stderr; nothing else may be there.
  const warnings = pack.stderr.split("\n").filter((line) => line !== "" && !line.startsWith("$ "));
  expect(warnings).toEqual([]);
  const tarball = join(dir, `wal-db-${manifest.version}.tgz`);
  shipped = tarContents(tarball);

  makeProject("app");
  const install = await run([process.execPath, "add", tarball], app);
  expect(install.exitCode, install.stderr).toBe(0);
  // The type checks use this repository's TypeScript (imported above) and its Bun types, which
  // `types: ["bun"]` in bun init's tsconfig.json finds as node_modules/@types/bun.
  linkDevDependency("@types/bun", app);
}, 60_000);

describe("bun pm pack", () => {
  test("ships src, types, docs, examples, README.md, LICENSE and package.json, and nothing else", () => {
    const expected = ["package.json", "README.md", "LICENSE", ...filesUnder("src")]
      .concat(filesUnder("docs"), filesUnder("examples"))
      .sort();
    const paths = [...shipped.keys()].sort();
    // types/ is built by `prepack` and removed by `postpack`: the next test checks what it holds.
    expect(paths.filter((path) => !path.startsWith("types/"))).toEqual(expected);
    expect(paths.filter((path) => /^(test|bench)\//.test(path))).toEqual([]);
  });

  test("types/ holds declarations of src/ files, the entry among them, and no source", () => {
    const declarations = [...shipped.keys()].filter((path) => path.startsWith("types/"));
    expect(declarations).toContain("types/index.d.ts");
    // The declarations import each other as `./x.ts`, which TypeScript resolves to x.ts before
    // x.d.ts: a source here would be type-checked in place of its declaration.
    expect(declarations.filter((path) => !path.endsWith(".d.ts"))).toEqual([]);
    const orphans = declarations.filter(
      (path) => !shipped.has(path.replace(/^types\//, "src/").replace(/\.d\.ts$/, ".ts")),
    );
    expect(orphans).toEqual([]);
  });

  test("ships every file that package.json exports or runs as a bin", () => {
    const targets = [
      ...Object.values(manifest.exports["."] as Record<string, string | string[]>).flat(),
      ...Object.values(manifest.bin as Record<string, string>),
      manifest.types as string,
    ].map((target) => target.replace(/^\.\//, ""));
    for (const target of targets) expect(shipped.has(target), target).toBe(true);
  });

  test("every relative link in the shipped README.md leads to a file in the tarball", () => {
    const links = relativeLinks(new TextDecoder().decode(shipped.get("README.md")));
    // The README links to docs/ and examples/ some 20 times: far fewer found, the parser broke.
    expect(links.length).toBeGreaterThan(10);
    const paths = [...shipped.keys()];
    const broken = links.filter(
      (link) => !shipped.has(link) && !paths.some((path) => path.startsWith(`${link}/`)),
    );
    expect(broken).toEqual([]);
  });

  // Packages an example imports (wal-db, msgpackr in typed.ts) are the reader's to install; a
  // file it imports must be in the tarball, as test/ and bench/ are not.
  test("the shipped examples import no file the tarball does not ship", () => {
    const examples = [...shipped.keys()].filter((path) => path.startsWith("examples/"));
    expect(examples.length).toBeGreaterThan(0);
    const missing: string[] = [];
    for (const path of examples) {
      const text = new TextDecoder().decode(shipped.get(path));
      for (const [, specifier] of text.matchAll(
        /(?:from|import\(|new URL\()\s*["'](\.[^"']*)["']/g,
      )) {
        const target = posix.normalize(posix.join(posix.dirname(path), specifier!));
        if (!shipped.has(target)) missing.push(`${path}: ${specifier}`);
      }
    }
    expect(missing).toEqual([]);
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
    // The tarball's copy of the source (Bun runs it; the declarations are TypeScript's alone),
    // not this repository's.
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

describe("TypeScript, in the installed package", () => {
  test.each(Object.entries(settings))(
    "a program using the public API type-checks against types/ with %s, skipLibCheck off",
    (_, compilerOptions) => {
      const { diagnostics, packageFiles } = compile(app, usage, {
        ...compilerOptions,
        skipLibCheck: false,
      });
      expect(diagnostics).toEqual([]);
      // Without types/ (or with `types` at src/), TypeScript would read the sources instead.
      expect(packageFiles).toContain("types/index.d.ts");
      expect(packageFiles.filter((path) => !/^types\/.+\.d\.ts$/.test(path))).toEqual([]);
    },
  );

  test("typecheck reports an @ts-expect-error that expects nothing, so a type test can fail", () => {
    const diagnostics = typecheck(`// @ts-expect-error nothing on the next line is an error
export const lsn: number = 0;
`);
    expect(diagnostics).toEqual([
      expect.stringMatching(/^check-\d+\.ts\(1,1\): error TS2578: Unused '@ts-expect-error'/),
    ]);
  });

  test("type: a log without a codec appends bytes or strings, and not a number", () => {
    expect(
      typecheck(`import { Wal } from "wal-db";

using wal = Wal.open("app.wal");
wal.append(new Uint8Array([1, 2, 3]));
wal.append("stored as UTF-8");
// @ts-expect-error a record of a log without a codec is bytes, or a string stored as UTF-8
wal.append(123);
`),
    ).toEqual([]);
  });

  test("type: a read-only log has no call that writes, an attached one none that reads", () => {
    expect(
      typecheck(`import { type AttachedWal, type ReadOnlyWal, Wal } from "wal-db";

// Unannotated: the types are what the calls return.
using reader = Wal.openReadOnly("app.wal");
const asReadOnly: ReadOnlyWal = reader;
for (const record of reader) void record.lsn;
void [...reader.iterFrom(0, { limit: 10 })], reader.last(5), reader.len, reader.path;
// @ts-expect-error a read-only log does not append
reader.append("x");
// @ts-expect-error nor sync
reader.sync();
// @ts-expect-error nor commit
void reader.commit("x");
// @ts-expect-error nor truncate
reader.truncateAfter(0);
// @ts-expect-error nor share
reader.share();
// @ts-expect-error nor follow (it would wait for barriers no one here makes)
void reader.follow();

using owner = Wal.open("owned.wal");
using writer = Wal.attach(owner.share());
const asAttached: AttachedWal = writer;
void asReadOnly, asAttached;
writer.appendAndSync("from a worker");
void writer.commit("committed"), writer.len;
// @ts-expect-error an attached Wal does not read: iterate from the owner
writer.iter();
// @ts-expect-error nor iterFrom
writer.iterFrom(0);
// @ts-expect-error nor last
writer.last(1);
// @ts-expect-error nor truncate
writer.truncateBefore(0);
`),
    ).toEqual([]);
  });

  test("type: codecs.json without a type argument holds JSON values; with one, that type", () => {
    expect(
      typecheck(`import { codecs, type JsonValue, Wal } from "wal-db";

interface Order {
  id: number;
  item: string;
}
using untyped = Wal.open("json.wal", { codec: codecs.json });
untyped.append({ nested: [1, "two", null, { three: true }] });
for (const { data } of untyped) {
  const value: JsonValue = data;
  void value;
}
// @ts-expect-error undefined has no JSON text
untyped.append(undefined);
// @ts-expect-error nor has a function
untyped.append(() => 1);
using orders = Wal.open<Order>("orders.wal", { codec: codecs.json });
orders.append({ id: 1, item: "book" });
for (const { data } of orders) void data.item;
// @ts-expect-error not an Order
orders.append({ id: "one" });
`),
    ).toEqual([]);
  });

  // A git install runs no lifecycle script (Bun runs a dependency's only once the user trusts
  // it, and the build needs TypeScript, a dev dependency a git install does not install), so
  // it has no types/: `exports["."].types` falls back to the sources, which bun init's
  // tsconfig.json compiles. The repository here holds every file of the tarball except types/,
  // which a clone of this one lacks too (it is gitignored).
  test.skipIf(Bun.which("git") === null)(
    "a git install, which has no types/, type-checks against the sources",
    async () => {
      const repository = join(dir, "repository");
      for (const [path, bytes] of shipped) {
        if (path.startsWith("types/")) continue;
        mkdirSync(dirname(join(repository, path)), { recursive: true });
        writeFileSync(join(repository, path), bytes);
      }
      const git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"];
      for (const command of [
        ["init", "--quiet"],
        ["add", "--all"],
        ["-c", "commit.gpgSign=false", "commit", "--quiet", "--message", "the package"],
      ]) {
        const result = await run([...git, ...command], repository);
        expect(result.exitCode, result.stderr).toBe(0);
      }
      const project = makeProject("git-app");
      const install = await run(
        [process.execPath, "add", `git+${pathToFileURL(repository).href}`],
        project,
      );
      expect(install.exitCode, install.stderr).toBe(0);
      linkDevDependency("@types/bun", project);

      const { diagnostics, packageFiles } = compile(project, usage);
      expect(diagnostics).toEqual([]);
      expect(packageFiles).toContain("src/index.ts");
    },
  );
});
