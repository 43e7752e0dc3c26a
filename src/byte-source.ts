/**
 * @module
 * What reading records reads from: the one method of a store that the scanner (src/scan.ts)
 * and the search after damage (src/resync.ts) call. Declared here by its shape, so that
 * reading the format depends on no store; every `WalStore` is a `ByteSource`.
 */

/** Bytes readable at any offset: a `WalStore`, or anything with the same `read`. */
export interface ByteSource {
  /**
   * Copies bytes from `position` into `target` until it is full or the source ends.
   * @returns how many bytes were copied; fewer than `target.length` only at the end.
   */
  read(target: Uint8Array, position: number): number;
}
