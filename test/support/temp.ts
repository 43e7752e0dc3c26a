/**
 * Temporary directories for tests: each test file makes its own under the OS temp dir and
 * removes it when the file's tests end, whatever they did.
 */

import { afterAll } from "bun:test";
import { mkdtempSync, readdirSync, rmdirSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A fresh directory removed after the calling test file; call at the top level of a file. */
export function tempDir(prefix = "wal-db-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => removeTree(dir));
  return dir;
}

/**
 * Removes `dir` and everything in it. Bun's recursive `rmSync` fails with EFAULT on every
 * directory under Wine (the Windows suite, test/windows/), so there the tree is walked instead.
 */
export function removeTree(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch (error) {
    if (process.platform !== "win32") throw error;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) removeTree(path);
      else unlinkSync(path);
    }
    rmdirSync(dir);
  }
}

let counter = 0;

/** A path for a new log file inside `dir`, unique within this process. */
export function logPath(dir: string, name = "log"): string {
  counter++;
  return join(dir, `${name}-${counter}.wal`);
}
