/**
 * @module
 * The seam between the log and its bytes. A `Wal` never touches a file descriptor: it reads,
 * writes, cuts and syncs through a {@link WalStore}. Tests put fault-injecting stores here, and
 * `MemoryStore` plugs in for logs that need no disk.
 */

import type { BarrierStrength } from "../platform/platform.ts";
import type { StoreShare } from "./share.ts";

/**
 * A flat, growable byte space with a durability barrier.
 *
 * Contract every implementation keeps:
 * - `write` writes every byte or throws; it never reports success for a partial write.
 * - Bytes written are visible to `read` at once; they are on stable storage only after a
 *   later `sync` returns.
 * - `sync` is the real barrier; it throws if the platform reports failure, and must not be
 *   retried by the store, since a failed flush may already have dropped the data.
 * - `truncate` is durable when it returns.
 * - Errors thrown are `WalError`s (an `IoError` for OS failures).
 */
export interface WalStore {
  /** What the store holds, for error messages: a path, or "memory". */
  readonly description: string;
  /** The number of bytes the store holds: one past the last byte written or kept. */
  readonly size: number;
  /**
   * Copies bytes from `position` into `target` until it is full or the store ends.
   * @returns how many bytes were copied; fewer than `target.length` only at the end.
   */
  read(target: Uint8Array, position: number): number;
  /** Writes `source[0..length)` at `position`, growing the store if needed. All or throw. */
  write(source: Uint8Array, length: number, position: number): void;
  /** Cuts the store to `size` bytes (never grows it) and makes the cut durable. */
  truncate(size: number): void;
  /**
   * The durability barrier: every byte written before the call is on stable storage. When the
   * log passes `[from, to)`, only those bytes need it (the rest is durable already); a store
   * may flush more, and without a range it flushes everything.
   *
   * @returns what the barrier was, for a store over a platform that can fall back (see
   * `BarrierStrength`): `"fsync"` when a file system under the store refused the full barrier,
   * so some of the bytes were made durable by plain `fsync`. Without a range (recovery's
   * barrier, at open) it reports the weakest barrier the open ran, directory syncs included.
   * A store with one barrier returns nothing, which counts as `"full"`.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a store with one barrier returns nothing, as every store written before barriers had strengths does
  sync(from?: number, to?: number): BarrierStrength | void;
  /**
   * Optional, for stores that can drop a prefix: the first byte the store holds. Absent means 0.
   */
  readonly head?: number;
  /**
   * Optional: makes `head` the first byte of the store, durably, and may then release the
   * bytes below it. The log calls it with every byte written already durable and `head` a
   * record boundary. Without it, `truncateBefore` changes nothing.
   */
  truncateBefore?(head: number): void;
  /**
   * Optional: the same barrier without blocking the calling thread, for `commit` and
   * `syncAsync`. Without it they run `sync` on the calling thread. (A store whose
   * `remoteBarrier` returns one never gets this call: its async barriers run in a sync thread.)
   */
  syncAsync?(): Promise<void>;
  /**
   * Optional, for the library's stores over files: how another thread of this process runs
   * this store's barrier, as plain data it can be sent (see store/share.ts). When it
   * returns one, `commit` and `syncAsync` run their barriers on a sync thread of their own;
   * null (a read-only store, an injected platform or file system) or absent, they use
   * `syncAsync` or `sync`. A store of your own leaves it out.
   */
  remoteBarrier?(): StoreShare | null;
  /**
   * Optional, for stores over files: drops the store's clean pages from the OS page cache, so
   * that the next reads come from the disk. Recovery calls it right after its barrier (see
   * `Platform.dropCache`). Without it, reads are trusted as they are.
   */
  dropCache?(): void;
  /** Releases the store's resources and its lock. Idempotent. */
  close(): void;
}
