/**
 * The Windows suite: every `*.win.ts` in this folder, run by Bun's own Windows build under Wine
 * (see wine.ts), from the repository root. `bun run test:windows` runs it; `.ci/run` counts its
 * tests with the rest. Where Wine or Bun's Windows build cannot be had, it says why and runs
 * nothing, except under CI (`process.env.CI`), where that is a failure.
 */

import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { spawn } from "bun";
import { bunStderr } from "./noise.ts";
import { prepareWindowsBun } from "./wine.ts";

/** What a pass here does not show about a real Windows, printed with every run. */
const LIMITS = [
  "Wine runs Bun's Windows build over Linux files: a pass shows that wal-db's Windows calls are",
  "made right and answered as Windows documents. It cannot prove that the data is durable",
  "(FlushFileBuffers is Wine's, over a Linux file), nor the mandatory-lock semantics of a real",
  "Windows (Wine applies no byte-range lock to reads or writes, and refuses any second lock on a",
  "locked file whatever its range, so the lock's place is checked in the call itself), nor the",
  "failure mode of the real ucrtbase.dll (Wine's does not end the process; wal-db never calls it).",
];

const here = import.meta.dir;
const root = join(here, "..", "..");
const files = readdirSync(here)
  .filter((name) => name.endsWith(".win.ts"))
  .sort()
  .map((name) => `./${relative(root, join(here, name))}`);

const windows = prepareWindowsBun();
if ("reason" in windows) {
  const underCi = !!process.env.CI;
  console.log(`windows suite: ${underCi ? "failing (CI)" : "skipped"}: ${windows.reason}`);
  process.exit(underCi ? 1 : 0);
}
console.log(
  `windows suite: ${files.length} files under Wine with ${relative(root, windows.bunExe)}`,
);
for (const line of LIMITS) console.log(`windows suite: ${line}`);
// bun test reports on stderr; Bun's own resolver noise under Wine (noise.ts) is left out of it.
const run = spawn([windows.wine, windows.bunExe, "test", "--timeout", "60000", ...files], {
  cwd: root,
  env: windows.env,
  stdout: "inherit",
  stderr: "pipe",
  timeout: 10 * 60_000, // a Wine that hangs fails the suite instead of CI
});
let pending = "";
const decoder = new TextDecoder();
for await (const chunk of run.stderr) {
  pending += decoder.decode(chunk, { stream: true });
  const end = pending.lastIndexOf("\n") + 1;
  process.stderr.write(bunStderr(pending.slice(0, end)));
  pending = pending.slice(end);
}
process.stderr.write(bunStderr(pending));
process.exit((await run.exited) ?? 1);
