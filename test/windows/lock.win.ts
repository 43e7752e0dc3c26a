/**
 * Windows locks: a second opener of a live log gets LOCKED, in this process or another, while
 * readers (`Wal.openReadOnly` here and in another process, `wal-db verify`) read it freely,
 * because the lock is one byte past any data (src/platform/windows.ts) and Windows locks are
 * mandatory. Run under Wine by run.ts.
 */

import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "bun";
import { Wal } from "../../src/index.ts";
import { startFixture } from "../support/child.ts";
import { walErrorOf } from "../support/errors.ts";
import { logPath, tempDir } from "../support/temp.ts";
import { bunStderr } from "./noise.ts";

const dir = tempDir();
const MAIN = join(import.meta.dir, "..", "..", "src", "cli", "main.ts");

const layouts = [
  ["a single-file log", undefined],
  ["a segmented log", 4096],
] as const;

/** The open options and fixture arguments of a layout. */
const layout = (segmentSize: number | undefined) => ({
  options: segmentSize === undefined ? {} : { segmentSize },
  args: segmentSize === undefined ? [] : [String(segmentSize)],
});

describe.each(layouts)("%s", (_, segmentSize) => {
  const { options, args } = layout(segmentSize);

  test("a second opener in this process gets LOCKED; after close it opens", () => {
    const path = logPath(dir);
    const wal = Wal.open(path, options);
    expect(walErrorOf(() => Wal.open(path, options)).code).toBe("LOCKED");
    wal.close();
    Wal.open(path, options).close();
  });

  test("a second opener in another process gets LOCKED while this one holds the log", async () => {
    const path = logPath(dir);
    const wal = Wal.open(path, options);
    const other = startFixture("lock-fixture.ts", ["try", path, ...args]);
    expect(await other.line("")).toStartWith("ERROR LOCKED ");
    await other.exited();
    wal.close();
    const after = startFixture("lock-fixture.ts", ["try", path, ...args]);
    expect(await after.line("")).toBe("OPENED");
    await after.exited();
  });

  test("a process holding the log keeps this one out until it dies", async () => {
    const path = logPath(dir);
    const holder = startFixture("lock-fixture.ts", ["hold", path, ...args]);
    await holder.line("HOLDING");
    expect(walErrorOf(() => Wal.open(path, options)).code).toBe("LOCKED");
    holder.process.kill("SIGKILL");
    await holder.exited();
    const wal = Wal.open(path, options);
    expect([...wal.iter()].map(({ data }) => new TextDecoder().decode(data))).toEqual([
      "held by the fixture",
    ]);
    wal.close();
  });

  test("readers read the live, locked log: openReadOnly here and in another process", async () => {
    const path = logPath(dir);
    const wal = Wal.open(path, options);
    for (let i = 0; i < 200; i++) wal.append(`live ${i}`);
    wal.sync();
    const reader = Wal.openReadOnly(path, options);
    expect([...reader.iter()].length).toBe(200);
    reader.close();
    const other = startFixture("windows/reader-fixture.ts", [path, ...args]);
    expect(await other.line("")).toBe(`READ 200 "live 199"`);
    await other.exited();
    if (segmentSize === undefined) expect(readFileSync(path).length).toBeGreaterThan(200 * 14);
    wal.close();
  });

  test("wal-db verify in another process checks the live, locked log", () => {
    const path = logPath(dir);
    const wal = Wal.open(path, options);
    try {
      for (let i = 0; i < 50; i++) wal.append(`verified ${i}`);
      wal.sync();
      const sizeOption = segmentSize === undefined ? [] : ["--segment-size", String(segmentSize)];
      const run = spawnSync([process.execPath, MAIN, "verify", path, ...sizeOption]);
      expect(bunStderr(run.stderr)).toBe("");
      expect(run.stdout.toString()).toStartWith("OK ");
      expect(run.stdout.toString()).toContain(": 50 records");
      expect(run.exitCode).toBe(0);
    } finally {
      wal.close();
    }
  });
});
