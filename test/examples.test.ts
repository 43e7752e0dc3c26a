/**
 * The runnable programs in examples/ (the README shows them): each must exit 0. They check
 * what they print and throw otherwise, so an example that stops being true fails here.
 * A `*-worker.ts` file is a Worker's code that another example starts; it is not run alone.
 */

import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";

const dir = join(import.meta.dir, "..", "examples");

const programs = readdirSync(dir).filter(
  (name) => name.endsWith(".ts") && !name.endsWith("-worker.ts"),
);

test.each(programs)(
  "examples/%s runs and exits 0",
  (name) => {
    const run = Bun.spawnSync([process.execPath, join(dir, name)], { stderr: "pipe" });
    expect(run.stderr.toString()).toBe("");
    expect(run.exitCode).toBe(0);
  },
  30_000,
);
