/**
 * A store double that counts and fails operations, for tests of what the Wal does around them.
 *
 * Fault model: it wraps a real store (a MemoryStore unless given one) and forwards every call.
 * `failNext(operation, errno)` makes the next call of that operation throw an IoError with that
 * errno instead of forwarding it, so the inner store is left unchanged; a failed write can also
 * be made partial (`partialBytes`: that many bytes reach the inner store, then the error), which
 * models a short write on a full disk. Counters record how many calls of each operation were
 * forwarded, and how many failed as asked, so tests can assert how many barriers a sequence of
 * calls issued, and when an injected failure hit.
 */

import { IoError, MemoryStore, type WalStore } from "../../src/index.ts";

export type Operation = "read" | "write" | "truncate" | "sync";

export class FaultStore implements WalStore {
  readonly calls: Record<Operation, number> = { read: 0, write: 0, truncate: 0, sync: 0 };
  /** Calls of each operation that failed as `failNext` asked (not counted in `calls`). */
  readonly failed: Record<Operation, number> = { read: 0, write: 0, truncate: 0, sync: 0 };
  private readonly failures = new Map<Operation, { errno: string; partialBytes: number }>();

  constructor(readonly inner: WalStore = new MemoryStore()) {}

  get description(): string {
    return `fault(${this.inner.description})`;
  }

  get size(): number {
    return this.inner.size;
  }

  /** The next `operation` throws IoError(errno); a write may first pass `partialBytes` on. */
  failNext(operation: Operation, errno = "EIO", partialBytes = 0): void {
    this.failures.set(operation, { errno, partialBytes });
  }

  read(target: Uint8Array, position: number): number {
    this.check("read");
    this.calls.read++;
    return this.inner.read(target, position);
  }

  write(source: Uint8Array, length: number, position: number): void {
    const failure = this.failures.get("write");
    if (failure !== undefined && failure.partialBytes > 0) {
      this.inner.write(source, Math.min(failure.partialBytes, length), position);
    }
    this.check("write");
    this.calls.write++;
    this.inner.write(source, length, position);
  }

  truncate(size: number): void {
    this.check("truncate");
    this.calls.truncate++;
    this.inner.truncate(size);
  }

  sync(): void {
    this.check("sync");
    this.calls.sync++;
    this.inner.sync();
  }

  close(): void {
    this.inner.close();
  }

  private check(operation: Operation): void {
    const failure = this.failures.get(operation);
    if (failure === undefined) return;
    this.failures.delete(operation);
    this.failed[operation]++;
    const cause = Object.assign(new Error(`injected ${failure.errno}`), { code: failure.errno });
    throw new IoError(operation, this.description, failure.errno, cause);
  }
}
