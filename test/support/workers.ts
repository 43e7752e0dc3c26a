/**
 * Records and threads for the multi-Worker tests. A record written by Worker `worker` as its
 * `seq`-th call has a payload fixed by (seed, worker, seq) alone: its size, its first 8 bytes
 * (worker, then seq, each u32 LE, cut short when the record is smaller) and a filler stream
 * after them. Any thread can rebuild the exact bytes any writer submitted and compare them byte
 * for byte; records of 8 bytes or more also say who wrote them. `WorkerThread` wraps a `Worker`
 * so a test awaits its replies in order and fails, rather than hangs, when it throws or exits.
 */

import { mulberry32 } from "./random.ts";

/** Bytes of a frame header (crc u32, length u32) before the payload: docs/ON_DISK_FORMAT.md. */
export const FRAME_HEADER_SIZE = 8;

/** Payload sizes, inclusive. */
export interface SizeRange {
  readonly min: number;
  readonly max: number;
}

/** Sizes of at least 8 bytes: every record of this range names its writer on disk. */
export const NAMED_RECORD_SIZES: SizeRange = { min: 8, max: 2048 };

/** Who wrote a record: the bytes at the start of every payload of 8 bytes or more. */
export interface RecordIdentity {
  readonly worker: number;
  readonly seq: number;
}

/** The PRNG seed of one record: distinct streams for distinct (seed, worker, seq). */
function recordSeed(seed: number, worker: number, seq: number): number {
  let h = seed ^ Math.imul(worker + 1, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h ^= Math.imul(seq + 1, 0xc2b2ae35);
  return Math.imul(h ^ (h >>> 13), 0x27d4eb2f) >>> 0;
}

/**
 * The payload Worker `worker` submits as its `seq`-th record in a run seeded with `seed`. One
 * size in eight falls in the first 16 sizes of the range, so empty and tiny records are common.
 */
export function recordPayload(
  seed: number,
  worker: number,
  seq: number,
  sizes: SizeRange,
): Uint8Array {
  const next = mulberry32(recordSeed(seed, worker, seq));
  const span =
    next() % 8 === 0 ? Math.min(16, sizes.max - sizes.min + 1) : sizes.max - sizes.min + 1;
  const payload = new Uint8Array(sizes.min + (next() % span));
  const identity = new Uint8Array(FRAME_HEADER_SIZE);
  const view = new DataView(identity.buffer);
  view.setUint32(0, worker, true);
  view.setUint32(4, seq, true);
  payload.set(identity.subarray(0, Math.min(identity.length, payload.length)));
  for (let i = identity.length; i < payload.length; i += 4) {
    let word = next();
    for (let j = i; j < Math.min(i + 4, payload.length); j++) {
      payload[j] = word & 0xff;
      word >>>= 8;
    }
  }
  return payload;
}

/** Who wrote `payload`, read from its first 8 bytes; null when it is shorter than that. */
export function recordIdentity(payload: Uint8Array): RecordIdentity | null {
  if (payload.length < 8) return null;
  const view = new DataView(payload.buffer, payload.byteOffset, 8);
  return { worker: view.getUint32(0, true), seq: view.getUint32(4, true) };
}

/** True when `a` and `b` hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A reply a Worker posts when its task threw: the test fails with this text. */
export interface FailedReply {
  readonly kind: "failed";
  readonly error: string;
}

/**
 * A Worker started from `test/<file>`, with its replies queued in arrival order. A reply of
 * kind "failed", an uncaught error in the Worker, or its exit turn the next `reply()` into a
 * rejection that names the file, so a broken Worker fails the test instead of hanging it.
 */
export class WorkerThread {
  readonly worker: Worker;
  private readonly inbox: unknown[] = [];
  private readonly waiters: { resolve: (value: unknown) => void; reject: (e: Error) => void }[] =
    [];
  private ending: Error | null = null;
  private readonly closed: Promise<void>;

  constructor(readonly file: string) {
    this.worker = new Worker(new URL(`../${file}`, import.meta.url).href);
    this.worker.addEventListener("message", (event) => {
      const data = (event as MessageEvent).data as { kind?: unknown; error?: unknown };
      if (data?.kind === "failed") this.end(new Error(`${file} failed: ${String(data.error)}`));
      else this.deliver(data);
    });
    this.worker.addEventListener("error", (event) => {
      this.end(new Error(`${file} threw: ${(event as ErrorEvent).message}`));
    });
    this.closed = new Promise((resolve) => {
      this.worker.addEventListener("close", () => {
        this.end(new Error(`${file} exited before replying`));
        resolve();
      });
    });
  }

  /** Sends `message` to the Worker (structured clone; SharedArrayBuffers are shared). */
  post(message: unknown): void {
    this.worker.postMessage(message);
  }

  /** The next reply, waiting for it if needed. */
  reply<T>(): Promise<T> {
    const queued = this.inbox.shift();
    if (queued !== undefined) return Promise.resolve(queued as T);
    if (this.ending !== null) return Promise.reject(this.ending);
    return new Promise<T>((resolve, reject) => {
      this.waiters.push({ resolve: resolve as (value: unknown) => void, reject });
    });
  }

  /** Resolves once the Worker has exited (by itself or by `terminate`). */
  exited(): Promise<void> {
    return this.closed;
  }

  /** Stops the Worker; resolves once it has exited. */
  terminate(): Promise<void> {
    this.worker.terminate();
    return this.closed;
  }

  private deliver(data: unknown): void {
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter.resolve(data);
    else this.inbox.push(data);
  }

  private end(error: Error): void {
    this.ending ??= error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(this.ending);
  }
}
