/**
 * A {@link WalStore} for the fuzz harness that forwards to a `MemoryStore` and meters every
 * read: how many calls, how many bytes, and the largest buffer one call asked to fill. The
 * largest read bounds what recovery allocated for a record (the scanner reads into the buffer
 * it allocated, whole), and the call count bounds its work.
 */

import { MemoryStore, type WalStore } from "../../src/index.ts";

/** What a {@link MeteredStore} has seen since it was made. */
export interface ReadMeter {
  reads: number;
  bytesRead: number;
  /** The largest `target.length` of any `read`. */
  largestRead: number;
}

export const newMeter = (): ReadMeter => ({ reads: 0, bytesRead: 0, largestRead: 0 });

/** A `MemoryStore` over a copy of `initial` whose reads are counted in `meter`. */
export class MeteredStore implements WalStore {
  readonly description = "metered memory";
  readonly inner: MemoryStore;

  constructor(
    initial: Uint8Array,
    readonly meter: ReadMeter,
  ) {
    this.inner = new MemoryStore(initial);
  }

  get size(): number {
    return this.inner.size;
  }

  read(target: Uint8Array, position: number): number {
    this.meter.reads++;
    this.meter.largestRead = Math.max(this.meter.largestRead, target.length);
    const count = this.inner.read(target, position);
    this.meter.bytesRead += count;
    return count;
  }

  write(source: Uint8Array, length: number, position: number): void {
    this.inner.write(source, length, position);
  }

  truncate(size: number): void {
    this.inner.truncate(size);
  }

  sync(): void {}

  close(): void {}
}

/**
 * The negative control's store: a {@link MeteredStore} whose reads throw a plain `Error`, the
 * kind of mistake the harness's "only WalError" property must catch.
 */
export class BrokenReadStore extends MeteredStore {
  override read(): number {
    throw new Error("broken store: read failed with a plain Error");
  }
}
