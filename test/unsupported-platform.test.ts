/**
 * An OS wal-db knows no barrier for (FreeBSD, Android, anything but linux, darwin, win32):
 * every open that needs the platform's barrier throws `UNSUPPORTED_PLATFORM`, naming the OS,
 * before it touches the disk (no file, directory or LOCK is created), while a `MemoryStore`, or
 * a store over a platform the caller brings, keeps working. The opens run in a child that sets
 * `process.platform` before loading wal-db (test/unsupported-platform-fixture.ts).
 */

import { describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { platformFor } from "../src/platform/index.ts";
import { startFixture } from "./support/child.ts";
import { walErrorOf } from "./support/errors.ts";
import { tempDir } from "./support/temp.ts";

const dir = tempDir();
const unsupported = ["freebsd", "openbsd", "android", "aix", "sunos", "haiku"];

describe("platformFor()", () => {
  test.each(unsupported)("platformFor(%p) throws UNSUPPORTED_PLATFORM naming it", (name) => {
    const error = walErrorOf(() => platformFor(name));
    expect(error.code).toBe("UNSUPPORTED_PLATFORM");
    expect(error.message).toContain(`"${name}"`);
  });

  test("platformFor() of this OS binds its table", () => {
    const platform = platformFor(process.platform);
    expect(Object.keys(platform).sort()).toEqual([
      "barrier",
      "dropCache",
      "syncDirectory",
      "tryLockExclusive",
    ]);
  });
});

describe.each(["freebsd", "android"])("on %s", (name) => {
  test("Wal.open(), Wal.openReadOnly() and FileStore.open() throw UNSUPPORTED_PLATFORM and create nothing; a MemoryStore and an own platform work", async () => {
    const empty = mkdtempSync(join(dir, `${name}-empty-`));
    const scratch = mkdtempSync(join(dir, `${name}-scratch-`));
    const child = await startFixture("unsupported-platform-fixture.ts", [
      name,
      empty,
      scratch,
    ]).exited();
    expect(child.stderr).toBe("");
    expect(child.code).toBe(0);
    const result = JSON.parse(child.stdout.at(-1)!) as {
      opens: { call: string; code: string | null; message: string }[];
      memory: string[];
      injected: string[];
    };
    expect(result.opens.map((open) => open.call)).toHaveLength(6);
    for (const open of result.opens) {
      expect({ call: open.call, code: open.code }).toEqual({
        call: open.call,
        code: "UNSUPPORTED_PLATFORM",
      });
      expect(open.message).toContain(`platform "${name}"`);
    }
    // Refused before the disk: no log file, no directory, no LOCK, no head.
    expect(readdirSync(empty)).toEqual([]);
    expect(result.memory).toEqual(["on any OS"]);
    expect(result.injected).toEqual(["on any OS"]);
    expect(readdirSync(scratch)).toEqual(["own.wal"]);
  });
});
