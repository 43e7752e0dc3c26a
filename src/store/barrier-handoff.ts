/**
 * @module
 * A one-slot mailbox in shared memory through which a segmented store hands the sync thread a
 * descriptor of its newest segment, opened before any write it will cover (DESIGN rule 7).
 *
 * Why: Linux tells a descriptor about a writeback error only if it was open before the error,
 * or if no descriptor has seen the error yet. A sync thread that opened the segment for its
 * barrier would get success after any other process (a backup tool, `wal-db verify`) had
 * fsynced the file first, and `commit` would resolve over lost records. So the store opens a
 * second descriptor of each segment that takes writes as soon as the segment is opened or
 * created, and posts it here; the sync thread (through remote-barrier.ts) takes it before its
 * next barrier and owns it from then on (it closes the one it held before). A descriptor of
 * its own, not a `dup`: a dup shares the file's error cursor with the store's descriptor, so a
 * roll's barrier on the store side could consume the error the sync thread must see.
 *
 * Cells (Int32, all through `Atomics`; the lock guards the three after it):
 * - `LOCK`: 0 free, 1 held by the store's `post` or the sync thread's `take` for a few loads
 *   and stores; neither side blocks inside it.
 * - `FD`: the posted descriptor not yet taken, or -1.
 * - `INDEX_HIGH`, `INDEX_LOW`: the segment index it was opened on (two halves: indices pass
 *   2^31 long before LSNs pass 2^53).
 */

const LOCK = 0;
const FD = 1;
const INDEX_HIGH = 2;
const INDEX_LOW = 3;
const CELLS = 4;
const HALF = 2 ** 31;

/** A descriptor of a segment, as posted. */
export interface SegmentDescriptor {
  readonly fd: number;
  readonly index: number;
}

/** The mailbox; the store posts, the sync thread takes. */
export class BarrierHandoff {
  private readonly cells: Int32Array;

  private constructor(readonly buffer: SharedArrayBuffer) {
    this.cells = new Int32Array(buffer);
  }

  /** An empty mailbox. */
  static create(): BarrierHandoff {
    const handoff = new BarrierHandoff(new SharedArrayBuffer(CELLS * 4));
    Atomics.store(handoff.cells, FD, -1);
    return handoff;
  }

  /** The mailbox behind `buffer` (from {@link BarrierHandoff.buffer}, in another thread). */
  static attach(buffer: SharedArrayBuffer): BarrierHandoff {
    return new BarrierHandoff(buffer);
  }

  /**
   * Posts `fd`, a descriptor of segment `index`. Returns the descriptor it replaces if the
   * sync thread never took it (the caller closes it), or -1.
   */
  post(fd: number, index: number): number {
    this.lock();
    try {
      const replaced = Atomics.exchange(this.cells, FD, fd);
      Atomics.store(this.cells, INDEX_HIGH, Math.floor(index / HALF));
      Atomics.store(this.cells, INDEX_LOW, index % HALF);
      return replaced;
    } finally {
      Atomics.store(this.cells, LOCK, 0);
    }
  }

  /** Takes the posted descriptor, which the caller then owns; null when there is none. */
  take(): SegmentDescriptor | null {
    this.lock();
    try {
      const fd = Atomics.exchange(this.cells, FD, -1);
      if (fd < 0) return null;
      const index =
        Atomics.load(this.cells, INDEX_HIGH) * HALF + Atomics.load(this.cells, INDEX_LOW);
      return { fd, index };
    } finally {
      Atomics.store(this.cells, LOCK, 0);
    }
  }

  /** Spins for the lock: the other side holds it for a handful of instructions, never longer. */
  private lock(): void {
    while (Atomics.compareExchange(this.cells, LOCK, 0, 1) !== 0) {
      // Held across no call that can block: a short spin always ends.
    }
  }
}
