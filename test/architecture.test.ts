/**
 * The structure rules of the codebase, checked on every run so that they cannot erode one
 * commit at a time: file size, class and function size, no import cycle, the record layer
 * kept apart from the store and the platform, and file descriptors held only by the store
 * and the platform. Each rule lists every violation in its failure message (file:line, name,
 * size, or the cycle), so one run shows all of them; and each rule's checker is run first on a
 * small input made to break it, so a checker that stopped seeing anything fails here too.
 * The measurements are in test/support/source-structure.ts.
 */

import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  at,
  DESCRIPTOR_CALLS,
  type DescriptorUse,
  descriptorUses,
  forbiddenReach,
  importCycles,
  importGraph,
  lineCount,
  measureDeclarations,
  nonCommentLineCount,
  readSources,
  type Source,
} from "./support/source-structure.ts";
import { tempDir } from "./support/temp.ts";

const root = join(import.meta.dir, "..");

/** Fails with `rule` and every violation, one a line, when there is any. */
function expectNone(rule: string, violations: readonly string[]): void {
  if (violations.length === 0) return;
  const list = violations.map((violation) => `  - ${violation}`).join("\n");
  throw new Error(`${rule}: ${violations.length} violation(s)\n${list}`);
}

/** Every file of src/, and its TypeScript files; read once for all the rules. */
const srcFiles = readSources(root, ["src"]);
const srcSources = srcFiles.filter((source) => source.path.endsWith(".ts"));

// Rule 1 ---------------------------------------------------------------------------------------

/** Lines a file of src/ may have. */
const FILE_LINES_MAX = 500;

/**
 * Files measured by their lines that are not comments instead of all their lines: the prose
 * they carry is the point of the file, and splitting it from the code it describes would not
 * help a reader.
 */
const PROSE_FILES: ReadonlyMap<string, string> = new Map([
  [
    "src/commit.ts",
    "it opens with the group-commit protocol in prose (actors, shared slots, states, the " +
      "rule durable ≤ written) before the code, as STYLE.md asks; only its code must fit",
  ],
]);

/** The files of `files` above {@link FILE_LINES_MAX} by the measure that applies to each. */
function oversizedFiles(files: readonly Source[]): string[] {
  const violations: string[] = [];
  for (const file of files) {
    const prose = PROSE_FILES.has(file.path);
    const lines = prose ? nonCommentLineCount(file) : lineCount(file.text);
    if (lines > FILE_LINES_MAX) {
      const what = prose ? "lines that are not comments" : "lines";
      violations.push(`${file.path}: ${lines} ${what} (max ${FILE_LINES_MAX})`);
    }
  }
  return violations;
}

describe("rule 1: no file of src/ above 500 lines", () => {
  test("the checker counts lines, and code lines of a prose file", () => {
    expect(lineCount("")).toBe(0);
    expect(lineCount("a\nb\n")).toBe(2);
    expect(lineCount("a\nb")).toBe(2);
    const code = "const a = 1;\n";
    expect(oversizedFiles([{ path: "src/a.ts", text: code.repeat(500) }])).toEqual([]);
    expect(oversizedFiles([{ path: "src/a.ts", text: code.repeat(501) }])).toEqual([
      "src/a.ts: 501 lines (max 500)",
    ]);
    // Block comments (blank lines in them too), line comments and JSDoc are not counted; a
    // blank line between statements and a line of code with a comment after it are.
    const prose = "/**\n * prose\n\n */\n// more prose\n/** doc */\n";
    const text = `${prose.repeat(50)}const a = 1; // why\n\n${code.repeat(498)}`;
    expect(nonCommentLineCount({ path: "src/commit.ts", text })).toBe(500);
    expect(oversizedFiles([{ path: "src/commit.ts", text }])).toEqual([]);
    expect(oversizedFiles([{ path: "src/commit.ts", text: text + code }])).toEqual([
      "src/commit.ts: 501 lines that are not comments (max 500)",
    ]);
    // Lines inside a multi-line string or template are code.
    const template = `const t = \`\n${"line\n".repeat(10)}\`;\n`;
    expect(nonCommentLineCount({ path: "t.ts", text: template })).toBe(12);
  });

  test("src/ holds it", () => {
    expect(srcFiles.length).toBeGreaterThan(40);
    expect(srcFiles.map((file) => file.path)).toContain("src/commit.ts");
    expectNone(
      `files of src/ above ${FILE_LINES_MAX} lines (${[...PROSE_FILES.keys()].join(", ")}: ` +
        "lines that are not comments, i.e. all lines but those only a comment is on)",
      oversizedFiles(srcFiles),
    );
  });
});

// Rule 2 ---------------------------------------------------------------------------------------

/** Lines a class may span, first line of the node to last, its JSDoc left out. */
const CLASS_LINES_MAX = 400;
/** Lines a function may span, measured the same way. */
const FUNCTION_LINES_MAX = 80;

/** The classes and named functions of `sources` above their maximum, largest first. */
function oversizedDeclarations(sources: readonly Source[]): string[] {
  return sources
    .flatMap(measureDeclarations)
    .filter(({ kind, lines }) => lines > (kind === "class" ? CLASS_LINES_MAX : FUNCTION_LINES_MAX))
    .sort((a, b) => b.lines - a.lines)
    .map(({ path, line, kind, name, lines }) => {
      const max = kind === "class" ? CLASS_LINES_MAX : FUNCTION_LINES_MAX;
      return `${at(path, line)} ${kind} ${name}: ${lines} lines (max ${max})`;
    });
}

describe("rule 2: no class above 400 lines, no function above 80, in src/", () => {
  test("the checker measures every kind of named function and class", () => {
    const body = (lines: number) => "  x++;\n".repeat(lines - 2);
    const text = [
      `/**\n${" * doc\n".repeat(20)} */`,
      `function fits() {\n${body(80)}}`,
      `/** doc */\nfunction declared() {\n${body(81)}}`,
      `const arrow = () => {\n${body(81)}};`,
      `let assigned;\nassigned = function () {\n${body(81)}};`,
      `const object = {\n  property: () => {\n${body(81)}},\n  method() {\n${body(81)}},\n};`,
      `class Small {\n  constructor() {\n${body(81)}}\n  get value() {\n${body(81)}}\n` +
        `  set value(v) {\n${body(81)}}\n  field = () => {\n${body(81)}};\n}`,
      `class Big {\n${"  a = 1;\n".repeat(399)}}`,
      `[1].map(() => {\n${body(81)}});`,
    ].join("\n");
    const found = oversizedDeclarations([{ path: "src/x.ts", text }]).map((violation) =>
      violation.replace(/^src\/x\.ts:\d+ /, ""),
    );
    expect(found.sort()).toEqual(
      [
        "class Big: 401 lines (max 400)",
        "function declared: 81 lines (max 80)",
        "function arrow: 81 lines (max 80)",
        "function assigned: 81 lines (max 80)",
        "function object.property: 81 lines (max 80)",
        "function object.method: 81 lines (max 80)",
        "function Small.constructor: 81 lines (max 80)",
        "function get Small.value: 81 lines (max 80)",
        "function set Small.value: 81 lines (max 80)",
        "function Small.field: 81 lines (max 80)",
      ].sort(),
    );
    // The line reported is the node's first, after its JSDoc.
    const declared = measureDeclarations({ path: "src/x.ts", text }).find(
      (measured) => measured.name === "declared",
    );
    expect(text.split("\n")[declared!.line - 1]).toBe("function declared() {");
  });

  test("src/ holds it", () => {
    const measured = srcSources.flatMap(measureDeclarations);
    expect(measured.length).toBeGreaterThan(300);
    expectNone(
      `classes above ${CLASS_LINES_MAX} lines and functions above ${FUNCTION_LINES_MAX} in src/`,
      oversizedDeclarations(srcSources),
    );
  });
});

// Rule 3 ---------------------------------------------------------------------------------------

const exists = (path: string) => existsSync(join(root, path));
const dir = tempDir("wal-db-architecture-");

describe("rule 3: no import cycle in src/ or bench/", () => {
  test("the checker finds a cycle between files on disk, through import type too", () => {
    mkdirSync(join(dir, "src", "inner"), { recursive: true });
    writeFileSync(
      join(dir, "src", "a.ts"),
      'import { b } from "./inner/b.ts";\nexport const a = b;\n',
    );
    writeFileSync(
      join(dir, "src", "inner", "b.ts"),
      '\nimport type { a } from "../a.ts";\nexport const b = 1;\nexport type B = typeof a;\n',
    );
    writeFileSync(join(dir, "src", "c.ts"), 'export * from "./c";\nimport "./missing.ts";\n');
    writeFileSync(join(dir, "src", "d.ts"), 'import { a } from "./a.ts";\nexport const d = a;\n');
    const graph = importGraph(readSources(dir, ["src"], [".ts"]), (path) =>
      existsSync(join(dir, path)),
    );
    expect(importCycles(graph)).toEqual([
      "src/a.ts:1 → src/inner/b.ts:2 (import type) → src/a.ts",
      "src/c.ts:1 (export from) → src/c.ts",
    ]);
    expect(graph.unresolved).toEqual(["src/c.ts:2 ./missing.ts"]);
  });

  test("src/ and bench/ hold it", () => {
    const sources = readSources(root, ["src", "bench"], [".ts"]);
    // Static imports only (`import`, `import type`, `export … from`): an `import("…")` runs
    // after both modules have loaded, so it cannot see one half-initialised. That is how
    // bench/compare/protocol.ts loads the contenders, which import its types.
    const graph = importGraph(sources, exists);
    const edges = [...graph.edges.values()].flat();
    expect(edges.length).toBeGreaterThan(150);
    // bench/ reaches into src/, so one graph holds both and a cycle across them would show.
    expect(edges.some((edge) => edge.target === "src/index.ts")).toBe(true);
    expectNone("relative imports that resolve to no file", graph.unresolved);
    expectNone(
      "import cycles in src/ and bench/ (each file with the line of the import to the next)",
      importCycles(graph),
    );
  });
});

// Rule 4 ---------------------------------------------------------------------------------------

/** The record layer: framing, CRC, resynchronisation. Pure functions of bytes. */
const RECORD_LAYER = [
  "src/record.ts",
  "src/crc32c.ts",
  "src/resync.ts",
  "src/scan.ts",
  "src/byte-source.ts",
];

const inStoreOrPlatform = (path: string) =>
  path.startsWith("src/store/") || path.startsWith("src/platform/");

/**
 * What the record layer reaches in src/store/ and src/platform/, through any import: plain,
 * type-only (a type is a dependency on the module's design too), re-export or dynamic.
 */
function recordLayerReach(sources: readonly Source[], transitive: boolean): string[] {
  const graph = importGraph(sources, exists, [
    "import",
    "import type",
    "export from",
    "dynamic import",
  ]);
  return forbiddenReach(graph, RECORD_LAYER, inStoreOrPlatform, transitive);
}

describe("rule 4: the format (record.ts, crc32c.ts, resync.ts, scan.ts, byte-source.ts) imports nothing from store/ or platform/", () => {
  test("the checker follows imports of every kind, and transitively", () => {
    const sources: Source[] = [
      { path: "src/record.ts", text: 'import { x } from "./middle.ts";\nexport const r = x;\n' },
      { path: "src/middle.ts", text: 'export { x } from "./store/index.ts";\n' },
      { path: "src/store/index.ts", text: 'export const x = 1;\nimport "../platform/p.ts";\n' },
      { path: "src/platform/p.ts", text: "" },
      { path: "src/crc32c.ts", text: 'import type { P } from "./platform/p.ts";\n' },
      { path: "src/resync.ts", text: 'export const f = () => import("./store");\n' },
    ];
    const graph = importGraph(sources, () => false, [
      "import",
      "import type",
      "export from",
      "dynamic import",
    ]);
    expect(forbiddenReach(graph, RECORD_LAYER, inStoreOrPlatform, true)).toEqual([
      "src/record.ts:1 → src/middle.ts:1 (export from) → src/store/index.ts",
      "src/crc32c.ts:1 (import type) → src/platform/p.ts",
      "src/resync.ts:1 (dynamic import) → src/store/index.ts",
    ]);
    expect(forbiddenReach(graph, RECORD_LAYER, inStoreOrPlatform, false)).toEqual([
      "src/crc32c.ts:1 (import type) → src/platform/p.ts",
      "src/resync.ts:1 (dynamic import) → src/store/index.ts",
    ]);
  });

  test("src/ holds it, transitively", () => {
    const sources = readSources(root, ["src"], [".ts"]);
    for (const path of RECORD_LAYER) expect(sources.map((s) => s.path)).toContain(path);
    expectNone(
      "store/ or platform/ files the record layer reaches (each with the chain of imports " +
        "to the first one on its way; direct imports are chains of one step)",
      recordLayerReach(sources, true),
    );
  });
});

// Rule 5 ---------------------------------------------------------------------------------------

/**
 * Files outside src/store/ and src/platform/ allowed some of what rule 5 forbids: the names
 * allowed (a node:fs call, `fd`, `bun:ffi`) and why. An exception no longer used fails the
 * rule, so the list cannot outlive its reason.
 */
const DESCRIPTOR_EXCEPTIONS: readonly {
  readonly path: string;
  readonly names: readonly string[];
  readonly reason: string;
}[] = [
  {
    path: "src/cli/bench.ts",
    names: ["openSync", "writeSync", "fdatasyncSync", "closeSync", "fd"],
    reason:
      "`wal-db bench` measures wal-db against a hand-rolled writeSync + fdatasyncSync loop in " +
      "the same run; the baseline is the thing the log is compared to, so it cannot go " +
      "through the store. It writes a scratch file of its own, never a log.",
  },
  {
    path: "src/crc32c-native.ts",
    names: ["bun:ffi"],
    reason:
      "compiles and binds the native CRC-32C (`cc`, `linkSymbols`), which computes checksums " +
      "of bytes in memory and touches no file; and asks kernel32 for the CPU's CRC32 " +
      "instructions on Windows arm64.",
  },
  {
    path: "src/cli/output.ts",
    names: ["writeSync"],
    reason:
      "writes to stdout, descriptor 1, which the process is given and never opens or " +
      "closes; a blocking write, so a dump to a slow pipe waits instead of queueing in memory.",
  },
  {
    path: "src/cli/torture-writer.ts",
    names: ["writeSync"],
    reason:
      "prints each ACK to stdout, descriptor 1, with a blocking write after the durable call " +
      "returns, so a SIGKILL cannot lose an acknowledged line in a buffer.",
  },
];

/** Where rule 5 applies: src/, but not the two folders whose job it is to hold descriptors. */
const holdsDescriptors = (path: string) =>
  path.startsWith("src/") && !inStoreOrPlatform(path) && path.endsWith(".ts");

/** The uses of descriptors in `sources` that rule 5 forbids, and the exceptions never used. */
function descriptorViolations(
  sources: readonly Source[],
  exceptions: typeof DESCRIPTOR_EXCEPTIONS,
): string[] {
  const allowed = (use: DescriptorUse) =>
    exceptions.some(
      (exception) => exception.path === use.path && exception.names.includes(use.name),
    );
  const uses = sources.filter((source) => holdsDescriptors(source.path)).flatMap(descriptorUses);
  const stale = exceptions.flatMap((exception) =>
    exception.names
      .filter((name) => !uses.some((use) => use.path === exception.path && use.name === name))
      .map((name) => `${exception.path}: the exception for ${name} is no longer used; drop it`),
  );
  const forbidden = uses
    .filter((use) => !allowed(use))
    .map((use) => `${at(use.path, use.line)} ${use.detail}`);
  return [...forbidden, ...stale];
}

describe("rule 5: only src/store/ and src/platform/ hold file descriptors", () => {
  test("the checker sees descriptor calls, bun:ffi, node:fs whole and names fd", () => {
    const text = [
      'import { openSync as open, readFileSync } from "node:fs";',
      'import * as fs from "fs";',
      'import type { Pointer } from "bun:ffi";',
      'import { open as openFile } from "node:fs/promises";',
      "interface Share { readonly fd: number }",
      "const fd = open('x', 'r');",
      "function use(share: Share, { fd: other }: Share) { return share.fd + other; }",
      "class Held { #fd = 0; ['fd'] = 1 }",
      'const label = "fd";',
      'export const later = () => import("node:fs");',
    ].join("\n");
    const sources: Source[] = [
      { path: "src/x.ts", text },
      { path: "src/store/file.ts", text },
      { path: "src/platform/linux.ts", text },
    ];
    expect(descriptorViolations(sources, [])).toEqual([
      "src/x.ts:1 imports openSync from node:fs",
      "src/x.ts:2 import of all of fs",
      "src/x.ts:3 import type bun:ffi",
      "src/x.ts:4 imports open from node:fs/promises",
      "src/x.ts:5 fd (property)",
      "src/x.ts:6 fd (variable)",
      "src/x.ts:7 fd (destructured)",
      "src/x.ts:8 fd (property)",
      "src/x.ts:10 dynamic import of all of node:fs",
    ]);
    const exception = { path: "src/x.ts", names: ["fd", "writeSync"], reason: "a test" };
    const excepted = descriptorViolations(sources, [exception]);
    expect(excepted.filter((violation) => violation.includes(" fd ("))).toEqual([]);
    expect(excepted.at(-1)).toBe(
      "src/x.ts: the exception for writeSync is no longer used; drop it",
    );
    expect(DESCRIPTOR_CALLS.has("fsyncSync")).toBe(true);
  });

  test("src/ holds it", () => {
    expect(srcSources.filter((source) => holdsDescriptors(source.path)).length).toBeGreaterThan(30);
    expectNone(
      "descriptors held outside src/store/ and src/platform/ (node:fs descriptor calls, " +
        "bun:ffi, node:fs imported whole, anything named fd)",
      descriptorViolations(srcSources, DESCRIPTOR_EXCEPTIONS),
    );
  });
});
