/**
 * @module
 * A store in memory: for tests, for logs that need no disk, and as the reference a fault
 * store wraps. Its `sync` is a no-op; nothing it holds survives the process.
 */

import { invalidArgument, ioErrorFrom } from "../errors.ts";
import type { WalStore } from "./store.ts";

/** A {@link WalStore} over a growable byte array. Not durable: `sync` does nothing. */
export class MemoryStore implements WalStore {
  readonly description = "memory";
  private bytes: Uint8Array;
  private currentSize: number;

  /**
   * @param initial - bytes to start from, copied; for example a snapshot of another store,
   * to "reopen" a log in tests.
   */
  constructor(initial: Uint8Array = new Uint8Array(0)) {
    this.bytes = new Uint8Array(Math.max(initial.length, 4096));
    this.bytes.set(initial);
    this.currentSize = initial.length;
  }

  get size(): number {
    return this.currentSize;
  }

  /** A copy of the bytes the store holds. */
  snapshot(): Uint8Array {
    return this.bytes.slice(0, this.currentSize);
  }

  read(target: Uint8Array, position: number): number {
    const count = Math.max(0, Math.min(target.length, this.currentSize - position));
    target.set(this.bytes.subarray(position, position + count));
    return count;
  }

  write(source: Uint8Array, length: number, position: number): void {
    const end = position + length;
    if (end > this.bytes.length) this.grow(end);
    this.bytes.set(source.subarray(0, length), position);
    this.currentSize = Math.max(this.currentSize, end);
  }

  truncate(size: number): void {
    if (size > this.currentSize) {
      throw invalidArgument(
        `cannot truncate memory store to ${size}: it holds ${this.currentSize} bytes`,
      );
    }
    // Zero the cut bytes so a later write past a gap never exposes them again.
    this.bytes.fill(0, size, this.currentSize);
    this.currentSize = size;
  }

  sync(): void {}

  close(): void {}

  private grow(minimum: number): void {
    try {
      const grown = new Uint8Array(Math.max(minimum, this.bytes.length * 2));
      grown.set(this.bytes.subarray(0, this.currentSize));
      this.bytes = grown;
    } catch (error) {
      throw ioErrorFrom(
        "write",
        this.description,
        Object.assign(new Error(String(error)), { code: "ENOMEM" }),
      );
    }
  }
}
