/**
 * Temporary directories for tests: each test file makes its own under the OS temp dir and
 * removes it when the file's tests end, whatever they did.
 */

import { afterAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A fresh directory removed after the calling test file; call at the top level of a file. */
export function tempDir(prefix = "wal-db-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let counter = 0;

/** A path for a new log file inside `dir`, unique within this process. */
export function logPath(dir: string, name = "log"): string {
  counter++;
  return join(dir, `${name}-${counter}.wal`);
}
