/**
 * A child that runs wal-db as if on another OS: it sets `process.platform` to the name it is
 * given before wal-db is loaded, then tries every open that needs the platform's barrier on
 * paths inside `<empty dir>`, and the opens that must work on any OS (a `MemoryStore`, and a
 * `FileStore` over a platform of the caller's own, in `<scratch dir>`). It prints one JSON line:
 * `{ "opens": [{ "call", "code", "message" }], "memory": [...], "injected": [...] }`.
 *
 * Usage: bun test/unsupported-platform-fixture.ts <platform> <empty dir> <scratch dir>
 */

import { closeSync, fsyncSync, openSync } from "node:fs";
import { join } from "node:path";

const [platformName, empty, scratch] = process.argv.slice(2) as [string, string, string];
// Before wal-db is imported: nothing of it may have seen the real name.
Object.defineProperty(process, "platform", { value: platformName });
const { FileStore, MemoryStore, Wal, WalError } = await import("../src/index.ts");
type Platform = import("../src/index.ts").Platform;
type Log = import("../src/index.ts").Wal;

const opens: { call: string; code: string | null; message: string }[] = [];
function attempt(call: string, open: () => { close(): void }): void {
  try {
    open().close();
    opens.push({ call, code: null, message: "opened" });
  } catch (error) {
    const code = error instanceof WalError ? error.code : "UNTYPED";
    opens.push({ call, code, message: error instanceof Error ? error.message : String(error) });
  }
}
const file = join(empty, "app.wal");
const segments = join(empty, "segments");
attempt("Wal.open(file)", () => Wal.open(file));
attempt("Wal.open(file, { create: false })", () => Wal.open(file, { create: false }));
attempt("Wal.open(dir, { segmentSize })", () => Wal.open(segments, { segmentSize: 4096 }));
attempt("Wal.openReadOnly(file)", () => Wal.openReadOnly(file));
attempt("Wal.openReadOnly(dir, { segmentSize })", () =>
  Wal.openReadOnly(segments, { segmentSize: 4096 }),
);
attempt("FileStore.open(file)", () => FileStore.open(file));

/** What a log over `open()` reads back after an append and a sync. */
function roundTrip(open: () => Log): string[] {
  const wal = open();
  try {
    wal.appendAndSync("on any OS");
    return [...wal.iter()].map((record) => new TextDecoder().decode(record.data));
  } finally {
    wal.close();
  }
}
const memory = roundTrip(() => Wal.withStore(new MemoryStore()));

// A platform of the caller's own: wal-db must not ask for its own one when it is given this.
const ownPlatform: Platform = {
  barrier: (fd) => {
    fsyncSync(fd);
    return "full";
  },
  syncDirectory: (path) => {
    const fd = openSync(path, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return "full";
  },
  tryLockExclusive: () => true,
  dropCache: () => {},
};
const injected = roundTrip(() =>
  Wal.withStore(FileStore.open(join(scratch, "own.wal"), { platform: ownPlatform })),
);

console.log(JSON.stringify({ opens, memory, injected }));
