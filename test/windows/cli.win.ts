/**
 * The `wal-db` command on Windows: `verify` passes a good log with exit 0 and reports damage
 * with exit 1, naming where it is. Run under Wine by run.ts.
 */

import { expect, test } from "bun:test";
import { closeSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "bun";
import { Wal } from "../../src/index.ts";
import { logPath, tempDir } from "../support/temp.ts";
import { bunStderr } from "./noise.ts";

const dir = tempDir();
const MAIN = join(import.meta.dir, "..", "..", "src", "cli", "main.ts");
const verify = (path: string) => spawnSync([process.execPath, MAIN, "verify", path]);

test("verify passes a good log and fails a damaged one with exit 1", () => {
  const path = logPath(dir);
  const wal = Wal.open(path);
  const lsns = Array.from({ length: 20 }, (_, i) => wal.append(`checked ${i}`));
  wal.sync();
  wal.close();
  const good = verify(path);
  expect(good.stdout.toString()).toStartWith("OK ");
  expect(good.stdout.toString()).toContain(": 20 records");
  expect(bunStderr(good.stderr)).toBe("");
  expect(good.exitCode).toBe(0);

  // Flip one payload byte of the 11th record: its checksum no longer matches.
  const fd = openSync(path, "r+");
  writeSync(fd, new Uint8Array([0x58]), 0, 1, (lsns[10] as number) + 8);
  closeSync(fd);
  const bad = verify(path);
  expect(bad.exitCode).toBe(1);
  expect(`${bad.stdout}${bunStderr(bad.stderr)}`).toContain(`offset ${lsns[10]}`);
});
