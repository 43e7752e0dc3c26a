/**
 * Unknown options (issue 21): still `INVALID_ARGUMENT` before anything is opened, but the
 * message says what was most likely meant. A misspelling of a known option (within two edits,
 * case, `_` and `-` aside) names that option; an option another storage library has
 * (bun:sqlite, lmdb-js, LevelDB) says what wal-db does instead, `readOnly` pointing to
 * `Wal.openReadOnly`; a name like neither gets no guess. Every message still lists the options.
 */

import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { MemoryStore, Wal, type WalOptions } from "../src/index.ts";
import { walErrorOf } from "./support/errors.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir("wal-db-options-hints-");

/** The error `Wal.open` throws for `options` on a new path, which it must not create. */
function openError(options: Record<string, unknown>) {
  const path = logPath(dir);
  const error = walErrorOf(() => Wal.open(path, options as WalOptions));
  expect(error.code).toBe("INVALID_ARGUMENT");
  expect(existsSync(path)).toBe(false);
  expect(error.message).toContain("known options: maxRecordSize, stallTimeout");
  return error;
}

describe("an option of another library", () => {
  test.each(["readOnly", "readonly", "read_only", "ReadOnly", "readwrite"])(
    "Wal.open(path, { %s: true }) points to Wal.openReadOnly",
    (name) => {
      const error = openError({ [name]: true });
      expect(error.message).toStartWith(`unknown option "${name}": `);
      expect(error.message).toContain("call Wal.openReadOnly(path, options) instead");
    },
  );

  test("Wal.openReadOnly(path, { readOnly: true }) is refused the same way, nothing opened", () => {
    const path = logPath(dir);
    const error = walErrorOf(() => Wal.openReadOnly(path, { readOnly: true } as WalOptions));
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toContain("Wal.openReadOnly(path, options)");
  });

  test.each(["sync", "fsync", "noSync", "syncWrites", "synchronous", "durable"])(
    "{ %s } says there is no sync mode and what makes records durable",
    (name) => {
      const error = openError({ [name]: true });
      expect(error.message).toContain("there is no sync mode");
      expect(error.message).toContain("wal.sync()");
      expect(error.message).toContain("await wal.commit(record)");
    },
  );

  test.each(["compression", "compress"])("{ %s } points to a codec", (name) => {
    expect(openError({ [name]: "lz4" }).message).toContain("compress them in a codec");
  });

  test.each(["encoding", "valueEncoding", "encoder"])(
    "{ %s } points to the codec option",
    (name) => {
      expect(openError({ [name]: "json" }).message).toContain("{ codec: codecs.json }");
    },
  );

  test("{ createIfMissing } points to create", () => {
    expect(openError({ createIfMissing: false }).message).toContain("the option is create");
  });

  test("{ path } says the path is Wal.open's first argument", () => {
    expect(openError({ path: "elsewhere.wal" }).message).toContain("first argument of Wal.open");
  });
});

describe("a misspelt option", () => {
  test.each([
    ["maxRecordsize", "maxRecordSize"],
    ["maxrecordsize", "maxRecordSize"],
    ["max_record_size", "maxRecordSize"],
    ["segment-size", "segmentSize"],
    ["segmentSise", "segmentSize"],
    ["stallTimout", "stallTimeout"],
    ["onCorruptions", "onCorruption"],
    ["onCorupt", "onCorrupt"],
    ["recover", "recovery"],
    ["preAllocate", "preallocate"],
    ["codce", "codec"],
    ["crate", "create"],
    ["slowSyncTreshold", "slowSyncThreshold"],
  ])("{ %s } asks: did you mean %s?", (typed, meant) => {
    const error = openError({ [typed]: 1 });
    expect(error.message).toStartWith(`unknown option "${typed}": did you mean "${meant}"?`);
  });

  test("a name that differs in case, _ or - only says option names are camelCase", () => {
    expect(openError({ SEGMENTSIZE: 4096 }).message).toContain(
      'did you mean "segmentSize"? (option names are camelCase)',
    );
    expect(openError({ recovery_: "skip", recovery: "skip" }).message).toContain(
      'unknown option "recovery_": did you mean "recovery"?',
    );
  });

  test("Wal.withStore() gives the same hint", () => {
    const error = walErrorOf(() =>
      Wal.withStore(new MemoryStore(), { maxRecordsize: 16 } as WalOptions),
    );
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toContain('did you mean "maxRecordSize"?');
  });
});

describe("a name like no option", () => {
  test.each(["banana", "x", "durability", "segments", "maxSize", "constructor", "toString"])(
    "{ %s } gets no guess, only the list of options",
    (name) => {
      const error = openError({ [name]: 1 });
      expect(error.message).toStartWith(`unknown option "${name}"; known options: `);
      expect(error.message).not.toContain("did you mean");
    },
  );

  test("a name of millions of characters: refused at once, its message cut short", () => {
    const name = "q".repeat(4_000_000);
    const rss = process.memoryUsage().rss;
    const error = openError({ [name]: 1 });
    // A guess that compared every character with every option would take gigabytes here.
    expect(process.memoryUsage().rss - rss).toBeLessThan(256 * 1024 * 1024);
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toStartWith(`unknown option "${"q".repeat(60)}…"; known options: `);
    expect(error.message.length).toBeLessThan(1000);
  });
});
