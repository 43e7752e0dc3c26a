/**
 * Every `ts` code block in docs/API.md and README.md runs as its own program, in an empty
 * temporary directory, and must exit 0: the examples assert what they show, so a doc that
 * drifts from the code fails here. A block whose first line is `// file: <name>` is not run:
 * it is saved as `<name>` next to the programs, for a later example to load (a Worker's code).
 */

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CREDENTIALS, type LocalS3, startLocalS3 } from "./support/s3.ts";
import { tempDir } from "./support/temp.ts";

const root = join(import.meta.dir, "..");
const dir = tempDir();

// The archive examples reach an S3-compatible store through Bun's standard variables, as a
// user's program would: here, an s3rver on 127.0.0.1 with the bucket "examples".
let s3: LocalS3 | undefined;
beforeAll(async () => {
  s3 = await startLocalS3("examples");
});
afterAll(() => s3?.close());
const s3Environment = () => ({
  S3_ENDPOINT: s3!.endpoint,
  S3_BUCKET: s3!.bucket,
  S3_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
  S3_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
  S3_REGION: CREDENTIALS.region,
});

/** The `ts` blocks of a Markdown file, with the heading each sits under. */
function examples(file: string): { title: string; code: string }[] {
  const found: { title: string; code: string }[] = [];
  let heading = file;
  const lines = readFileSync(join(root, file), "utf8").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith("#")) heading = line.replace(/^#+\s*/, "");
    if (line.trim() === "```ts") {
      const end = lines.indexOf("```", i + 1);
      found.push({ title: `${file} › ${heading}`, code: lines.slice(i + 1, end).join("\n") });
      i = end;
    }
  }
  return found;
}

// The programs live inside the package, so `import ... from "wal-db"` resolves to this package
// as it does for a user; they run with an empty temporary directory as their working directory.
const programs = join(root, ".tmp", `docs-${process.pid}`);
mkdirSync(programs, { recursive: true });
afterAll(() => {
  rmSync(programs, { recursive: true, force: true });
  try {
    rmdirSync(join(root, ".tmp")); // only when no other run is using it
  } catch {}
});

test("docs/API.md names every export of the package", () => {
  const index = readFileSync(join(root, "src", "index.ts"), "utf8");
  const names = [...index.matchAll(/export (?:type )?\{([^}]*)\}/g)].flatMap((list) =>
    list[1]!
      .split(",")
      .map((name) => name.replace(/^\s*type\s+/, "").trim())
      .filter(Boolean),
  );
  expect(names.length).toBeGreaterThan(20);
  const api = readFileSync(join(root, "docs", "API.md"), "utf8");
  const undocumented = names.filter((name) => !new RegExp(`\`${name}[\\s\`<.(]`).test(api));
  expect(undocumented).toEqual([]);
});

describe.each(["docs/API.md", "README.md"])("%s", (file) => {
  const blocks = examples(file);

  test("has examples", () => {
    expect(blocks.length).toBeGreaterThan(0);
  });

  const companion = /^\/\/ file: (\S+)/;
  for (const block of blocks) {
    const name = block.code.match(companion)?.[1];
    if (name !== undefined) writeFileSync(join(programs, name), block.code);
  }
  const runnable = blocks.filter((block) => !companion.test(block.code));

  test.each(runnable.map((block, i) => [block.title, i, block.code] as const))(
    "%s (example %d) runs",
    async (_title, index, code) => {
      const program = join(programs, `${file.replace(/\W/g, "_")}-${index}.ts`);
      writeFileSync(program, code);
      const cwd = mkdtempSync(join(dir, "example-"));
      const child = Bun.spawn([process.execPath, program], {
        cwd,
        env: { ...process.env, ...s3Environment() },
        stdout: "pipe",
        stderr: "pipe",
      });
      const [stderr, exitCode] = await Promise.all([
        new Response(child.stderr).text(),
        child.exited,
      ]);
      rmSync(program);
      expect(stderr).toBe("");
      expect(exitCode).toBe(0);
    },
  );
});
