/**
 * The measurements behind test/architecture.test.ts, on source text parsed with the TypeScript
 * compiler API: lines of a file and of its code, the size of every class and named function,
 * the import graph and its cycles, the files one file reaches, and what a file uses to hold a
 * file descriptor. Each takes plain `{ path, text }` sources, so a test can feed it a string.
 */

import { readdirSync, readFileSync } from "node:fs";
import { posix } from "node:path";
import ts from "typescript";

/** One file: its path relative to the repository root, with `/` separators, and its text. */
export interface Source {
  readonly path: string;
  readonly text: string;
}

/** A place in the sources, for a message: `src/wal.ts:12`. */
export function at(path: string, line: number): string {
  return `${path}:${line}`;
}

/**
 * Every file under `dirs` (relative to `root`, recursively), sorted by path; only those whose
 * name ends with one of `extensions` when it is given.
 */
export function readSources(
  root: string,
  dirs: readonly string[],
  extensions?: string[],
): Source[] {
  const found: Source[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(posix.join(root, dir), { withFileTypes: true })) {
      const path = posix.join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (extensions === undefined || extensions.some((end) => entry.name.endsWith(end))) {
        found.push({ path, text: readFileSync(posix.join(root, path), "utf8") });
      }
    }
  };
  for (const dir of dirs) walk(dir);
  return found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

const parsed = new Map<string, { text: string; file: ts.SourceFile }>();

/** `source` parsed (with parent links), cached by path and text. */
export function parse(source: Source): ts.SourceFile {
  const cached = parsed.get(source.path);
  if (cached !== undefined && cached.text === source.text) return cached.file;
  const file = ts.createSourceFile(source.path, source.text, ts.ScriptTarget.Latest, true);
  parsed.set(source.path, { text: source.text, file });
  return file;
}

/** The 1-based line of `position` in `file`. */
function lineOf(file: ts.SourceFile, position: number): number {
  return file.getLineAndCharacterOfPosition(position).line + 1;
}

/** Lines of `text` as `wc -l` counts them, plus a last line without its newline. */
export function lineCount(text: string): number {
  if (text === "") return 0;
  const newlines = text.split("\n").length - 1;
  return text.endsWith("\n") ? newlines : newlines + 1;
}

function isJsDoc(node: ts.Node): boolean {
  return node.kind >= ts.SyntaxKind.FirstJSDocNode && node.kind <= ts.SyntaxKind.LastJSDocNode;
}

/**
 * The lines of a file that are not comments: every line, less those a comment touches and no
 * token of code does. A blank line inside a block comment is comment; a blank line between
 * statements is not, and counts. A line with code and a trailing comment counts.
 */
export function nonCommentLineCount(source: Source): number {
  const file = parse(source);
  const code = new Set<number>();
  const comment = new Set<number>();
  const mark = (into: Set<number>, start: number, end: number) => {
    for (let line = lineOf(file, start); line <= lineOf(file, Math.max(start, end - 1)); line++) {
      into.add(line);
    }
  };
  // Comments are trivia: they sit between tokens, so they are found from each token's end.
  const gaps = [0];
  const visit = (node: ts.Node): void => {
    if (isJsDoc(node)) return; // trivia too, found with the other comments
    const children = node.getChildren(file);
    for (const child of children) visit(child);
    if (children.length > 0) return;
    const start = node.getStart(file);
    if (node.end > start) mark(code, start, node.end);
    gaps.push(node.end);
  };
  visit(file);
  for (const gap of gaps) {
    const ranges = [
      ...(ts.getTrailingCommentRanges(source.text, gap) ?? []),
      ...(ts.getLeadingCommentRanges(source.text, gap) ?? []),
    ];
    for (const range of ranges) mark(comment, range.pos, range.end);
  }
  let commentOnly = 0;
  for (const line of comment) if (!code.has(line)) commentOnly++;
  return lineCount(source.text) - commentOnly;
}

/** A class or a function and its size in lines, first line of its node to last, JSDoc left out. */
export interface Measured {
  readonly path: string;
  readonly line: number;
  readonly kind: "class" | "function";
  readonly name: string;
  readonly lines: number;
}

/** A node's own name as text, when it has a plain one. */
function nameText(name: ts.Node | undefined): string | undefined {
  if (name === undefined) return undefined;
  if (ts.isIdentifier(name) || ts.isPrivateIdentifier(name)) return name.text;
  if (ts.isStringLiteral(name) || ts.isNumericLiteral(name)) return name.text;
  return name.getText();
}

/** Skips the wrappers an expression can sit in without changing what it is. */
function unwrapParent(node: ts.Node): { node: ts.Node; parent: ts.Node } {
  let inner = node;
  while (
    ts.isParenthesizedExpression(inner.parent) ||
    ts.isAsExpression(inner.parent) ||
    ts.isSatisfiesExpression(inner.parent) ||
    ts.isNonNullExpression(inner.parent) ||
    ts.isTypeAssertionExpression(inner.parent)
  ) {
    inner = inner.parent;
  }
  return { node: inner, parent: inner.parent };
}

/**
 * The name an expression (an arrow function, a function or class expression, an object
 * literal) is given where it stands: `const x = …`, `x = …`, `{ x: … }`, a class field; with
 * the name of the object literal or class around it. `undefined` when it has none (an
 * argument, a returned value).
 */
function assignedName(expression: ts.Node): string | undefined {
  const { node, parent } = unwrapParent(expression);
  if (ts.isVariableDeclaration(parent) && parent.initializer === node) {
    return nameText(parent.name);
  }
  if (ts.isPropertyDeclaration(parent) && parent.initializer === node) {
    return qualified(parent.parent, nameText(parent.name) ?? "?");
  }
  if (ts.isPropertyAssignment(parent) && parent.initializer === node) {
    return qualified(parent.parent, nameText(parent.name) ?? "?");
  }
  if (
    ts.isBinaryExpression(parent) &&
    parent.right === node &&
    parent.operatorToken.kind === ts.SyntaxKind.EqualsToken
  ) {
    return parent.left.getText();
  }
  return undefined;
}

/** `member` prefixed with the name of the class or object literal `container`, if it has one. */
function qualified(container: ts.Node, member: string): string {
  const owner =
    ts.isClassLike(container) && container.name !== undefined
      ? container.name.text
      : assignedName(container);
  return owner === undefined ? member : `${owner}.${member}`;
}

/** The name to report for a class or function node, or `undefined` when it is not measured. */
function measuredName(node: ts.Node): { kind: Measured["kind"]; name: string } | undefined {
  if (ts.isClassDeclaration(node) || ts.isClassExpression(node)) {
    return { kind: "class", name: node.name?.text ?? assignedName(node) ?? "(anonymous class)" };
  }
  if (ts.isFunctionDeclaration(node)) {
    return { kind: "function", name: node.name?.text ?? "(default export)" };
  }
  if (ts.isConstructorDeclaration(node)) {
    return { kind: "function", name: qualified(node.parent, "constructor") };
  }
  if (ts.isMethodDeclaration(node)) {
    return { kind: "function", name: qualified(node.parent, nameText(node.name) ?? "?") };
  }
  if (ts.isGetAccessorDeclaration(node) || ts.isSetAccessorDeclaration(node)) {
    const accessor = ts.isGetAccessorDeclaration(node) ? "get" : "set";
    return {
      kind: "function",
      name: `${accessor} ${qualified(node.parent, nameText(node.name) ?? "?")}`,
    };
  }
  if (ts.isArrowFunction(node) || ts.isFunctionExpression(node)) {
    const own = ts.isFunctionExpression(node) ? node.name?.text : undefined;
    const name = assignedName(node) ?? own;
    return name === undefined ? undefined : { kind: "function", name };
  }
  return undefined;
}

/**
 * Every class (declaration or expression) and every named function in `source`: function
 * declarations, methods, constructors, getters and setters, and arrow functions or function
 * expressions that are given a name (a variable, a property, a class field, an assignment) or
 * have their own. A function passed straight as an argument has no name and is measured only
 * as part of the function around it. Each spans the lines from its first token (after its
 * JSDoc and any other comment) to its last.
 */
export function measureDeclarations(source: Source): Measured[] {
  const file = parse(source);
  const found: Measured[] = [];
  const visit = (node: ts.Node): void => {
    const measured = measuredName(node);
    if (measured !== undefined) {
      const line = lineOf(file, node.getStart(file));
      const lines = lineOf(file, node.getEnd() - 1) - line + 1;
      found.push({ path: source.path, line, ...measured, lines });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

/** How a file names another module. */
export type ImportKind = "import" | "import type" | "export from" | "dynamic import";

/** One module specifier in a file, where it is and how it is used. */
export interface ModuleReference {
  readonly line: number;
  readonly specifier: string;
  readonly kind: ImportKind;
  /** The statement, for the checks that need the names it imports. */
  readonly node: ts.Node;
}

/**
 * Every module `source` names: `import` declarations (type-only ones marked), `export … from`,
 * and `import("…")` calls with a literal specifier. `import("…")` types and `require` are not
 * looked for: the codebase is ESM and uses neither.
 */
export function moduleReferences(source: Source): ModuleReference[] {
  const file = parse(source);
  const found: ModuleReference[] = [];
  const add = (node: ts.Node, specifier: ts.Expression | undefined, kind: ImportKind) => {
    if (specifier === undefined || !ts.isStringLiteralLike(specifier)) return;
    found.push({ line: lineOf(file, node.getStart(file)), specifier: specifier.text, kind, node });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      add(node, node.moduleSpecifier, node.importClause?.isTypeOnly ? "import type" : "import");
    } else if (ts.isExportDeclaration(node)) {
      add(node, node.moduleSpecifier, "export from");
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node, node.arguments[0], "dynamic import");
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

/** An edge of the import graph: the file imported, and the line of the import. */
export interface ImportEdge {
  readonly target: string;
  readonly line: number;
  readonly kind: ImportKind;
}

/** The relative imports among a set of sources, and those that name no file at all. */
export interface ImportGraph {
  readonly edges: ReadonlyMap<string, readonly ImportEdge[]>;
  /** Relative specifiers that resolve to no source and no file on disk: `file:line specifier`. */
  readonly unresolved: readonly string[];
}

/**
 * The graph of relative imports among `sources` (bare specifiers such as `node:fs` are
 * packages, not edges). A specifier resolves as Bun's bundler resolution does for this
 * codebase: the path itself, `.js` read as `.ts`, then `.ts` and `/index.ts` appended. An edge
 * to a file outside `sources` that `exists` (a JSON file, a test helper) is left out;
 * one that resolves to nothing is reported.
 */
export function importGraph(
  sources: readonly Source[],
  exists: (path: string) => boolean,
  kinds: readonly ImportKind[] = ["import", "import type", "export from"],
): ImportGraph {
  const known = new Set(sources.map((source) => source.path));
  const edges = new Map<string, ImportEdge[]>();
  const unresolved: string[] = [];
  for (const source of sources) {
    const list: ImportEdge[] = [];
    for (const reference of moduleReferences(source)) {
      if (!reference.specifier.startsWith(".") || !kinds.includes(reference.kind)) continue;
      const base = posix.normalize(posix.join(posix.dirname(source.path), reference.specifier));
      const candidates = [
        base,
        base.replace(/\.js$/, ".ts"),
        `${base}.ts`,
        posix.join(base, "index.ts"),
      ];
      const target = candidates.find((candidate) => known.has(candidate));
      if (target !== undefined) list.push({ target, line: reference.line, kind: reference.kind });
      else if (!candidates.some(exists)) {
        unresolved.push(`${at(source.path, reference.line)} ${reference.specifier}`);
      }
    }
    edges.set(source.path, list);
  }
  return { edges, unresolved };
}

/** The strongly connected components of `graph` with a cycle in them (Tarjan's algorithm). */
function cyclicComponents(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  let next = 0;
  const connect = (node: string): void => {
    index.set(node, next);
    low.set(node, next);
    next++;
    stack.push(node);
    onStack.add(node);
    for (const { target } of graph.edges.get(node) ?? []) {
      if (!index.has(target)) {
        connect(target);
        low.set(node, Math.min(low.get(node)!, low.get(target)!));
      } else if (onStack.has(target)) {
        low.set(node, Math.min(low.get(node)!, index.get(target)!));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    const selfLoop = (graph.edges.get(node) ?? []).some((edge) => edge.target === node);
    if (component.length > 1 || selfLoop) components.push(component.sort());
  };
  for (const node of [...graph.edges.keys()].sort()) if (!index.has(node)) connect(node);
  return components;
}

/** One step of a chain: a file, and the import in it that leads to the next (none at the end). */
interface Step {
  readonly path: string;
  readonly via?: { readonly line: number; readonly kind: ImportKind };
}

/**
 * The shortest chain of imports from `from` to a file `to` accepts, through files `allowed`
 * accepts (breadth first, so the result does not depend on the order of imports in a file),
 * starting with `from`; `undefined` when there is none.
 */
function shortestPath(
  graph: ImportGraph,
  from: string,
  to: (node: string) => boolean,
  allowed: (node: string) => boolean,
): Step[] | undefined {
  const cameFrom = new Map<string, { node: string; edge: ImportEdge }>();
  const queue: string[] = [from];
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head]!;
    for (const edge of graph.edges.get(node) ?? []) {
      if (cameFrom.has(edge.target)) continue;
      if (to(edge.target)) {
        const steps: Step[] = [{ path: edge.target }];
        // Every file queued but `from` has the edge it was reached by, so this ends at `from`.
        let step = { node, edge };
        for (;;) {
          steps.unshift({ path: step.node, via: { line: step.edge.line, kind: step.edge.kind } });
          if (step.node === from) return steps;
          step = cameFrom.get(step.node)!;
        }
      }
      if (allowed(edge.target)) {
        cameFrom.set(edge.target, { node, edge });
        queue.push(edge.target);
      }
    }
  }
  return undefined;
}

/** A chain as text: each file with the line of the import that leads on, `a.ts:3 → b.ts`. */
function chainText(steps: readonly Step[]): string {
  return steps
    .map(({ path, via }) => {
      if (via === undefined) return path;
      return via.kind === "import" ? at(path, via.line) : `${at(path, via.line)} (${via.kind})`;
    })
    .join(" → ");
}

/**
 * The import cycles of `graph`, each as a chain `a.ts:3 → b.ts:7 → a.ts` (each file with the
 * line of the import that leads to the next, and the kind of import when it is not a plain
 * one). For every strongly connected component, one shortest cycle through each of its files
 * not yet on a chain listed: every file caught in a cycle shows up, without listing every
 * cycle of a tangle.
 */
export function importCycles(graph: ImportGraph): string[] {
  const chains: string[] = [];
  for (const component of cyclicComponents(graph)) {
    const members = new Set(component);
    const covered = new Set<string>();
    for (const start of component) {
      if (covered.has(start)) continue;
      const steps = shortestPath(
        graph,
        start,
        (node) => node === start,
        (node) => members.has(node) && node !== start,
      )!;
      for (const step of steps) covered.add(step.path);
      chains.push(chainText(steps));
    }
  }
  return chains;
}

/**
 * For each file of `from`, the files `forbidden` accepts that it reaches through `graph`,
 * each with the shortest chain to it: `a.ts:3 → b.ts:5 → store/x.ts`. The search does not go
 * on through a forbidden file, so each chain names the first one on its way. With
 * `transitive` false, only what each file of `from` imports itself.
 */
export function forbiddenReach(
  graph: ImportGraph,
  from: readonly string[],
  forbidden: (path: string) => boolean,
  transitive: boolean,
): string[] {
  const chains: string[] = [];
  for (const start of from) {
    const reached = new Set<string>();
    for (;;) {
      const steps = shortestPath(
        graph,
        start,
        (node) => forbidden(node) && !reached.has(node),
        (node) => transitive && !forbidden(node) && node !== start,
      );
      if (steps === undefined) break;
      reached.add(steps.at(-1)!.path);
      chains.push(chainText(steps));
    }
  }
  return chains;
}

/** Something in a file through which it could hold a file descriptor. */
export interface DescriptorUse {
  readonly path: string;
  readonly line: number;
  /** What is used: a call's name (`openSync`), `fd`, `bun:ffi`, `node:fs *`. */
  readonly name: string;
  readonly detail: string;
}

/** The node:fs calls that open, use or close a descriptor (callback and sync forms). */
export const DESCRIPTOR_CALLS: ReadonlySet<string> = new Set(
  ["open", "close", "fstat", "ftruncate", "read", "write", "fsync", "fdatasync"]
    .flatMap((call) => [call, `${call}Sync`])
    .concat(["readv", "readvSync", "writev", "writevSync", "fchmod", "fchmodSync"]),
);

const FS_MODULES = new Set(["fs", "node:fs"]);
const FS_PROMISES_MODULES = new Set(["fs/promises", "node:fs/promises"]);

/** What a module reference brings in that can hold a descriptor. */
function descriptorImports(reference: ModuleReference): { name: string; detail: string }[] {
  const { specifier, node } = reference;
  if (specifier === "bun:ffi") return [{ name: "bun:ffi", detail: `${reference.kind} bun:ffi` }];
  const fs = FS_MODULES.has(specifier);
  if (!fs && !FS_PROMISES_MODULES.has(specifier)) return [];
  const whole = { name: `${specifier} *`, detail: `${reference.kind} of all of ${specifier}` };
  if (!ts.isImportDeclaration(node) || node.importClause === undefined) {
    // `import("node:fs")`, `export * from "node:fs"` or a named re-export: treated as the lot.
    return ts.isImportDeclaration(node) ? [] : [whole];
  }
  const clause = node.importClause;
  const found: { name: string; detail: string }[] = [];
  if (clause.name !== undefined) found.push(whole);
  const bindings = clause.namedBindings;
  if (bindings !== undefined && ts.isNamespaceImport(bindings)) found.push(whole);
  if (bindings !== undefined && ts.isNamedImports(bindings)) {
    for (const element of bindings.elements) {
      const imported = (element.propertyName ?? element.name).text;
      if (fs ? DESCRIPTOR_CALLS.has(imported) : imported === "open") {
        found.push({ name: imported, detail: `imports ${imported} from ${specifier}` });
      }
    }
  }
  return found;
}

/** What a node named `fd` is, for the message. */
function roleOf(node: ts.Node): string {
  const parent = node.parent;
  if (ts.isPropertyAccessExpression(parent) && parent.name === node) return "property read";
  if (ts.isVariableDeclaration(parent)) return "variable";
  if (ts.isParameter(parent)) return "parameter";
  if (ts.isPropertySignature(parent) || ts.isPropertyDeclaration(parent)) return "property";
  if (ts.isPropertyAssignment(parent) || ts.isShorthandPropertyAssignment(parent)) {
    return "property in an object literal";
  }
  if (ts.isBindingElement(parent)) return "destructured";
  return "use";
}

/**
 * What `source` holds or could hold a file descriptor with: imports of `bun:ffi` (any kind,
 * type-only too), of the descriptor calls of node:fs ({@link DESCRIPTOR_CALLS}) or of
 * node:fs whole (default, namespace, dynamic or re-exported), of `open` from
 * node:fs/promises; and every identifier, private name or quoted property named `fd`
 * (declared or used), one per line.
 */
export function descriptorUses(source: Source): DescriptorUse[] {
  const file = parse(source);
  const found: DescriptorUse[] = [];
  for (const reference of moduleReferences(source)) {
    for (const use of descriptorImports(reference)) {
      found.push({ path: source.path, line: reference.line, ...use });
    }
  }
  const lines = new Set<number>();
  const visit = (node: ts.Node): void => {
    const named =
      ((ts.isIdentifier(node) || ts.isStringLiteral(node)) && node.text === "fd") ||
      (ts.isPrivateIdentifier(node) && node.text === "#fd");
    const quoted = ts.isStringLiteral(node);
    const asName =
      !quoted ||
      ts.isPropertyAssignment(node.parent) ||
      ts.isPropertySignature(node.parent) ||
      ts.isElementAccessExpression(node.parent);
    if (named && asName) {
      const line = lineOf(file, node.getStart(file));
      if (!lines.has(line)) {
        lines.add(line);
        found.push({ path: source.path, line, name: "fd", detail: `fd (${roleOf(node)})` });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found.sort((a, b) => a.line - b.line);
}
