/**
 * A store whose async barrier is held until the test releases it, for tests of what `commit`
 * and `syncAsync` do while a barrier is in flight: the event loop must stay free, and nothing
 * may resolve before the barrier returns.
 *
 * Model: it wraps a MemoryStore. `syncAsync` counts the barrier, then waits until `release()`
 * (or `fail(errno)`, which rejects the held barrier with an IoError). Barriers started while
 * none is held are held too; `heldCount` says how many are waiting now.
 */

import { IoError, MemoryStore, type WalStore } from "../../src/index.ts";

export class HeldBarrierStore implements WalStore {
  readonly inner = new MemoryStore();
  /** Barriers started, through `sync` (recovery's, at open) or `syncAsync`. */
  barriers = 0;
  private held: { resolve: () => void; reject: (error: unknown) => void }[] = [];

  get description(): string {
    return "held";
  }

  get size(): number {
    return this.inner.size;
  }

  /** How many async barriers are waiting for `release` now. */
  get heldCount(): number {
    return this.held.length;
  }

  /** Lets every held barrier return. */
  release(): void {
    for (const barrier of this.held.splice(0)) barrier.resolve();
  }

  /** Makes every held barrier fail with `errno`. */
  fail(errno: string): void {
    for (const barrier of this.held.splice(0)) {
      const cause = Object.assign(new Error(`injected ${errno}`), { code: errno });
      barrier.reject(new IoError("fdatasync", this.description, errno, cause));
    }
  }

  read(target: Uint8Array, position: number): number {
    return this.inner.read(target, position);
  }

  write(source: Uint8Array, length: number, position: number): void {
    this.inner.write(source, length, position);
  }

  truncate(size: number): void {
    this.inner.truncate(size);
  }

  sync(): void {
    this.barriers++;
  }

  syncAsync(): Promise<void> {
    this.barriers++;
    return new Promise((resolve, reject) => this.held.push({ resolve, reject }));
  }

  close(): void {}
}

/** Resolves after every callback already queued on the event loop has run. */
export function turnOfTheEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Resolves once `condition` holds, checking on every turn of the event loop; never sleeps. */
export async function until(
  condition: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await turnOfTheEventLoop();
  }
}
