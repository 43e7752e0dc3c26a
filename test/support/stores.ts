/**
 * The stores a behaviour suite runs over. Each kind can open "the same log" again after close,
 * and can read and replace the raw bytes it holds, which is what a crash or a damaged disk
 * leaves behind. Tests written against this run unchanged over the file and memory stores.
 */

import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
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

/**
 * `options` with the zero-filled tail off unless they set `preallocate`. Anything but an object
 * passes unchanged, so that tests of bad options still see the bad value.
 */
export function withoutZeroFill(options: WalOptions | undefined): WalOptions | undefined {
  if (options === undefined) return { preallocate: 0 };
  if (typeof options !== "object" || options === null || Array.isArray(options)) return options;
  return { preallocate: 0, ...options };
}

/**
 * A store kind over log files in `dir`. Its logs keep no zero-filled tail (`preallocate: 0`)
 * unless a test asks for one, so that `bytes()` is exactly the log's records, as the tests
 * that damage them byte by byte expect; test/zero-tail.test.ts covers the tail.
 */
export function fileStoreKind(dir: string): StoreKind {
  return {
    name: "file",
    create() {
      const path = logPath(dir);
      writeFileSync(path, new Uint8Array(0));
      return {
        open: (options) => Wal.open(path, withoutZeroFill(options)),
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

/** The segment size of {@link segmentedStoreKind}'s logs unless a test picks another. */
export const SEGMENT_SIZE = 16 * 1024;

/**
 * A store kind over segmented logs in `dir`, with segments of `segmentSize` bytes: small by
 * default, so that records in every suite span segment boundaries (each roll costs two
 * barriers, so not smaller).
 */
export function segmentedStoreKind(dir: string, segmentSize = SEGMENT_SIZE): StoreKind {
  return {
    name: "segmented",
    create() {
      const path = logPath(dir, "segments");
      mkdirSync(path);
      const segments = () =>
        readdirSync(path)
          .filter((name) => name.endsWith(".wal"))
          .sort();
      return {
        // Options that are not an object go through as they are, for the tests that reject them.
        open: (options) =>
          Wal.open(
            path,
            (typeof options === "object" && options !== null) || options === undefined
              ? { ...options, segmentSize }
              : options,
          ),
        bytes: () => Buffer.concat(segments().map((name) => readFileSync(join(path, name)))),
        setBytes(bytes) {
          for (const name of segments()) rmSync(join(path, name));
          for (let at = 0; at < bytes.length; at += segmentSize) {
            const name = `${String(at / segmentSize).padStart(20, "0")}.wal`;
            writeFileSync(join(path, name), bytes.subarray(at, at + segmentSize));
          }
        },
      };
    },
  };
}

/** Every kind, for `describe.each`. */
export function allStoreKinds(dir: string): StoreKind[] {
  return [fileStoreKind(dir), memoryStoreKind, segmentedStoreKind(dir)];
}
