/**
 * The stores a behaviour suite runs over. Each kind can open "the same log" again after close,
 * and can read and replace the raw bytes it holds, which is what a crash or a damaged disk
 * leaves behind. Tests written against this run unchanged over the file and memory stores.
 */

import { readFileSync, writeFileSync } from "node:fs";
import { MemoryStore, Wal, type WalOptions } from "../../src/index.ts";
import { logPath } from "./temp.ts";

/** One log, reopenable, over some store. */
export interface LogUnderTest {
  /** Opens the log (again): recovery runs over whatever bytes the store holds now. */
  open(options?: WalOptions): Wal;
  /** The raw bytes the log's store holds now. Close the log first for the file store. */
  bytes(): Uint8Array;
  /** Replaces the raw bytes, as a crash or a damaged disk would. */
  setBytes(bytes: Uint8Array): void;
}

/** A way to make logs for a suite. */
export interface StoreKind {
  readonly name: string;
  /** A new, empty log. */
  create(): LogUnderTest;
}

/** A store kind over log files in `dir`. */
export function fileStoreKind(dir: string): StoreKind {
  return {
    name: "file",
    create() {
      const path = logPath(dir);
      writeFileSync(path, new Uint8Array(0));
      return {
        open: (options) => Wal.open(path, options),
        bytes: () => new Uint8Array(readFileSync(path)),
        setBytes: (bytes) => writeFileSync(path, bytes),
      };
    },
  };
}

/** A store kind in memory: "reopening" starts a new MemoryStore from the last one's bytes. */
export const memoryStoreKind: StoreKind = {
  name: "memory",
  create() {
    let latest = new MemoryStore();
    return {
      open(options) {
        latest = new MemoryStore(latest.snapshot());
        return Wal.withStore(latest, options);
      },
      bytes: () => latest.snapshot(),
      setBytes(bytes) {
        latest = new MemoryStore(bytes);
      },
    };
  },
};

/** Both kinds, for `describe.each`. */
export function allStoreKinds(dir: string): StoreKind[] {
  return [fileStoreKind(dir), memoryStoreKind];
}
