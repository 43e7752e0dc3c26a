/**
 * @module
 * The segment table: what every thread that writes one segmented log shares about its files, in
 * a `SharedArrayBuffer`, so that Workers append into the same segments as the owner and take
 * turns rolling the log into the next one. The owner's store makes it; `Wal.share` hands its
 * buffer to other threads, whose stores attach to it. The owner uses it too, shared or not, so
 * there is one implementation of the roll, not two to keep in step.
 *
 * ## Why a table
 *
 * A segment is synced full before the next one exists (segmented.ts). With one writer that
 * holds by itself: the log is written in order. With writers in parallel, a write may reach
 * segment k + 1 while another thread is still writing bytes of segment k, so the roll must wait
 * until segment k is whole, and exactly one thread must make it.
 *
 * ## Cells
 *
 * - `HIGHEST`: the newest segment (the first one's index - 1 while there is none, counted full). Only ever one segment takes writes:
 *   the roll to k + 1 waits until every byte of k is written, so no write lands in k after it.
 * - `WRITTEN`: how many bytes of segment `HIGHEST` are written. Every byte is written once (the
 *   reservations of commit.ts never overlap), so `WRITTEN == S` means the segment is whole. An
 *   Int32, or for segments of 2 GiB or more a BigInt64.
 * - `ROLLER`: 0, or the id of the one thread making the next segment.
 * - `CHANGES`: bumped, with a wake-up, whenever `HIGHEST` moves, a segment fills, or the table
 *   breaks; writers waiting for a segment sleep on it.
 * - `BROKEN`: set when a write or a roll failed in some thread. A segment with a failed write
 *   never fills, so its waiters stop at once instead of at the stall timeout.
 * - `HEAD`: the log's first byte (the owner's `truncateBefore` moves it), for a roll in any
 *   thread to know when the old newest segment was kept only for being the newest.
 * - `KEEP`: the lowest segment an archiver (src/archive) has not uploaded yet, or a sentinel
 *   above every index while none runs. A deletion below the head (the owner's `truncateBefore`,
 *   or a roll in any thread) keeps it and every segment after it, so retention never deletes a
 *   segment before it is off the machine.
 * - `CREATED`, `DELETED`: segment files made and deleted, for `stats()`.
 * - Entries, a ring of {@link ENTRIES} by segment index: `INDEX` (-1 when empty), `FD` (the
 *   descriptor writes and barriers go through), `ROLL_FD` (a second descriptor, used once, by
 *   the roll that seals the segment; -1 after), and `PINS` (barriers running on `FD` now).
 *   Descriptors are numbers valid in every thread of the process, so no thread keeps its own.
 *
 * ## Rules (all through sequentially consistent `Atomics`)
 *
 * 1. A write into segment j waits until `HIGHEST` is j. If `HIGHEST` is j - 1 and its
 *    `WRITTEN` is S, it may take `ROLLER` and roll; otherwise it sleeps on `CHANGES`. A writer
 *    writes its pieces in LSN order, so the bytes it holds in a segment are written before it
 *    waits for the next one: every byte below `(HIGHEST + 1) * S` was reserved by a writer that
 *    is writing it or has, and the wait ends unless a writer died (it stalls, as a sync does).
 * 2. After each piece, the writer adds its length to `WRITTEN`; the one that makes it S wakes
 *    the waiters.
 * 3. The roller syncs segment k through its `ROLL_FD`, creates k + 1, syncs the directory, and
 *    opens both descriptors of k + 1 before any byte is written to it (DESIGN rule 7: a barrier
 *    hears of writeback errors only on a descriptor opened before them). It installs them, sets
 *    `WRITTEN` to 0 and then `HIGHEST` to k + 1, frees `ROLLER` and wakes the waiters.
 * 4. A barrier over bytes ending in segment m runs nothing when m < `HIGHEST` (the roll synced
 *    m whole), and otherwise runs on m's `FD`, pinned. Every barrier on `FD` runs under the
 *    log's token or its exclusive hold (commit.ts, rules 3 and 8), so a barrier that hears of
 *    an error poisons the log before any other barrier can run on the same open file and be
 *    told nothing. The roll's barrier runs on `ROLL_FD`, an open file of its own, so it and a
 *    concurrent barrier on `FD` are both told of the same error.
 * 5. An entry is reused for a new segment only after its `INDEX` is set to -1 and its `PINS`
 *    seen at 0: a barrier pins, then checks `INDEX` (Dekker's order), so a descriptor is never
 *    closed under a barrier. Writers need no pin: they write only into `HIGHEST`, whose entry
 *    is not reused before E more rolls, each of which waits for their writes.
 * 6. Truncations run in the owner under the exclusive hold, when no write or barrier is in
 *    flight: they close the entries of deleted segments and set `HIGHEST` and `WRITTEN` to the
 *    cut. A descriptor of a deleted or recreated file is therefore never written through.
 */

import { statSync } from "node:fs";
import { join } from "node:path";
import { invalidArgument, stalled, WalError } from "../errors.ts";
import { checkInteger } from "../options.ts";
import { isOpenOn } from "./file-system.ts";
import { segmentName } from "./segment-layout.ts";
import type { SegmentShare } from "./share.ts";

/** `KEEP` while no archiver runs: above every segment index (2^53 bytes over 1-byte segments). */
export const NO_HOLD = Number.MAX_SAFE_INTEGER;

/** Entries in the ring: segments whose descriptors stay open. Only the newest takes writes. */
export const ENTRIES = 4;

// Int32 cells.
const I_ROLLER = 0;
const I_CHANGES = 1;
const I_BROKEN = 2;
const I_NEXT_ID = 3;
const I_WRITTEN = 4;
const I_FD = 5;
const I_ROLL_FD = I_FD + ENTRIES;
const I_PINS = I_ROLL_FD + ENTRIES;
const INT32_CELLS = I_PINS + ENTRIES;
// BigInt64 cells, after the Int32 ones (8-byte aligned).
const BIG_OFFSET = Math.ceil((INT32_CELLS * 4) / 8) * 8;
const B_HIGHEST = 0;
const B_WRITTEN = 1;
const B_HEAD = 2;
const B_CREATED = 3;
const B_DELETED = 4;
const B_KEEP = 5;
const B_INDEX = 6;
const BIG_CELLS = B_INDEX + ENTRIES;
const BUFFER_SIZE = BIG_OFFSET + BIG_CELLS * 8;

/**
 * What a write does while it waits for other threads' writes into the segment before its own:
 * sleep on `cells[index]` while it holds `value`, at most `timeout` ms. The simulated disk's
 * tests, whose "threads" take turns in one thread, pass one that runs another of them instead.
 */
export type Idle = (cells: Int32Array, index: number, value: number, timeout: number) => void;

const sleepOnChanges: Idle = (cells, index, value, timeout) => {
  Atomics.wait(cells, index, value, timeout);
};

/** The two descriptors of one segment (see the entries above). */
export interface SegmentDescriptors {
  readonly fd: number;
  /** The roll's own descriptor; -1 when it is not needed (a read of the table at open). */
  readonly rollFd: number;
}

/** One segmented log's shared table, as one thread holds it. */
export class SegmentTable {
  private readonly i32: Int32Array;
  private readonly big: BigInt64Array;
  /**
   * Whether `WRITTEN` needs the BigInt64 cell: only for segments of 2 GiB or more. Every other
   * log counts in an Int32, which costs a write a fraction of what a BigInt does.
   */
  private readonly wide: boolean;
  /** This thread's name on `ROLLER`. */
  private readonly id: number;
  /** `HIGHEST` and its descriptor as this thread last saw them, valid while `CHANGES` is. */
  private seenChanges = -1;
  private seenHighest = -1;
  private seenFd = -1;

  private constructor(
    readonly buffer: SharedArrayBuffer,
    /** Bytes per segment. */
    readonly segmentSize: number,
    /** Closes a descriptor this table no longer holds (the store's file system). */
    private readonly closeFd: (fd: number) => void,
    /** How long a writer waits for a segment that makes no progress before STALLED. */
    private readonly stallTimeout: number,
    /** What a write does while it waits for other threads (see {@link Idle}). */
    private readonly idle: Idle = sleepOnChanges,
  ) {
    this.i32 = new Int32Array(buffer, 0, INT32_CELLS);
    this.big = new BigInt64Array(buffer, BIG_OFFSET, BIG_CELLS);
    this.id = Atomics.add(this.i32, I_NEXT_ID, 1) + 1;
    this.wide = segmentSize > 2 ** 31 - 1;
  }

  /** A table for a log whose newest segment is `start.highest`, as open found it. */
  static create(
    start: {
      readonly segmentSize: number;
      /** The newest segment; the first segment's index - 1 while there is none. */
      readonly highest: number;
      /** Bytes of it written: the segment size while there is none, so the first write rolls. */
      readonly written: number;
      readonly head: number;
    },
    closeFd: (fd: number) => void,
    stallTimeout: number,
    idle?: Idle,
  ): SegmentTable {
    const buffer = new SharedArrayBuffer(BUFFER_SIZE);
    const table = new SegmentTable(buffer, start.segmentSize, closeFd, stallTimeout, idle);
    for (let entry = 0; entry < ENTRIES; entry++) {
      Atomics.store(table.big, B_INDEX + entry, -1n);
      Atomics.store(table.i32, I_FD + entry, -1);
      Atomics.store(table.i32, I_ROLL_FD + entry, -1);
    }
    Atomics.store(table.big, B_HIGHEST, BigInt(start.highest));
    table.setWritten(start.written);
    Atomics.store(table.big, B_HEAD, BigInt(start.head));
    Atomics.store(table.big, B_KEEP, BigInt(NO_HOLD));
    return table;
  }

  /**
   * The table `share` carries (another thread's), checked to be that of the log in its
   * directory: its newest segment's descriptor is open on that segment's file.
   * @throws WalError `INVALID_ARGUMENT` when it is not.
   */
  static join(
    share: SegmentShare,
    closeFd: (fd: number) => void,
    stallTimeout: number,
  ): SegmentTable {
    const { table: buffer, segmentSize, path } = share;
    const table =
      buffer instanceof SharedArrayBuffer && buffer.byteLength === BUFFER_SIZE
        ? new SegmentTable(buffer, segmentSize, closeFd, stallTimeout)
        : null;
    if (table === null || !table.holdsNewestSegmentOf(path)) {
      throw invalidArgument(`the segment table is not that of the log in ${path}`);
    }
    return table;
  }

  /**
   * The {@link SegmentShare} in `fields` (a handle's, received from another thread), checked
   * for its shape only: whether the table is that of the log in `path` is `join`'s check, made
   * once the caller knows the owner has not closed the log (which closes the table's
   * descriptors). `what` names the fields' owner in messages ("the handle's store").
   * @throws WalError `INVALID_ARGUMENT` for a field that is not what `SegmentedStore.shareable`
   * makes.
   */
  static checkShare(fields: Readonly<Record<string, unknown>>, what: string): SegmentShare {
    if (typeof fields.path !== "string") throw invalidArgument(`${what}'s path is missing`);
    const segmentSize = checkInteger(
      `${what}'s segmentSize`,
      fields.segmentSize,
      1,
      Number.MAX_SAFE_INTEGER,
    );
    const table = fields.table;
    if (!(table instanceof SharedArrayBuffer) || table.byteLength !== BUFFER_SIZE) {
      throw invalidArgument(`${what}'s segment table is not a wal-db segment table`);
    }
    return { layout: "segments", path: fields.path, segmentSize, table };
  }

  /** The newest segment; the first segment's index - 1 while there is none. */
  get highest(): number {
    return Number(Atomics.load(this.big, B_HIGHEST));
  }

  /**
   * The newest segment's start plus the bytes written into it: the end of the log whenever no
   * write is in flight (under the owner's exclusive hold, at open), since the bytes written
   * then are contiguous.
   */
  get end(): number {
    return this.highest * this.segmentSize + this.written();
  }

  /** The log's first byte. */
  get head(): number {
    return Number(Atomics.load(this.big, B_HEAD));
  }

  /** The owner moved the log's first byte to `head` (under the exclusive hold, rule 6). */
  set head(head: number) {
    Atomics.store(this.big, B_HEAD, BigInt(head));
  }

  /**
   * The lowest segment no deletion below the head may remove: the first one an archiver has
   * not uploaded yet; {@link NO_HOLD} while no archiver runs.
   */
  get keep(): number {
    return Number(Atomics.load(this.big, B_KEEP));
  }

  /** The archiver moved `KEEP` (forward as it uploads, or back when its log is cut). */
  set keep(index: number) {
    Atomics.store(this.big, B_KEEP, BigInt(index));
  }

  /** Segment files made and deleted by every thread, for `stats()`. */
  get created(): number {
    return Number(Atomics.load(this.big, B_CREATED));
  }
  get deleted(): number {
    return Number(Atomics.load(this.big, B_DELETED));
  }
  countCreated(): void {
    Atomics.add(this.big, B_CREATED, 1n);
  }
  countDeleted(): void {
    Atomics.add(this.big, B_DELETED, 1n);
  }

  /**
   * The descriptor to write segment `index` through, once it is the newest (rule 1): rolls the
   * log into it with `roll` when that falls to this thread. `roll(index)` makes the segment and
   * returns its descriptors; it runs while this thread holds `ROLLER`.
   * @throws `roll`'s error; `IO` when another thread's write or roll failed; `STALLED` when the
   * segment before makes no progress for the stall timeout.
   */
  writable(index: number, roll: (index: number) => SegmentDescriptors): number {
    const changes = Atomics.load(this.i32, I_CHANGES);
    if (changes === this.seenChanges && index === this.seenHighest) return this.seenFd;
    let deadline = Number.NaN;
    let seenChanges = changes;
    let seenWritten = -1;
    for (;;) {
      this.throwIfBroken();
      const highest = this.highest;
      if (highest === index) return this.remember(changes, index);
      if (highest > index) {
        throw new WalError("IO", `segment ${index} was sealed before every write into it ran`);
      }
      const written = this.written();
      if (highest === index - 1 && written === this.segmentSize) {
        if (Atomics.compareExchange(this.i32, I_ROLLER, 0, this.id) === 0) {
          this.rollInto(index, roll);
          continue;
        }
      }
      // Progress is a segment filling or moving, or bytes written into it: the stall rule of
      // commit.ts (rule 6) for a writer that died holding bytes of the segment before.
      const now = performance.now();
      const signalled = Atomics.load(this.i32, I_CHANGES);
      if (signalled !== seenChanges || written !== seenWritten) {
        seenChanges = signalled;
        seenWritten = written;
        deadline = now + this.stallTimeout;
      } else if (now >= deadline) {
        this.breakTable();
        throw stalled(Math.max(0, highest) * this.segmentSize + written, this.stallTimeout);
      }
      this.idle(this.i32, I_CHANGES, signalled, Math.min(deadline - now, 20));
    }
  }

  /** `length` bytes of the newest segment were written (rule 2). */
  wrote(length: number): void {
    const before = this.wide
      ? Number(Atomics.add(this.big, B_WRITTEN, BigInt(length)))
      : Atomics.add(this.i32, I_WRITTEN, length);
    if (before + length === this.segmentSize) this.signal();
  }

  /** A write or roll failed: no segment will fill, and every waiter stops. */
  breakTable(): void {
    Atomics.store(this.i32, I_BROKEN, 1);
    this.signal();
  }

  /**
   * Runs `action` on the descriptor of segment `index`, pinned so that no roll closes it meanwhile
   * (rule 5); returns null without running it when the table no longer holds the segment.
   */
  pinned<T>(index: number, action: (fd: number) => T): T | null {
    const entry = index % ENTRIES;
    Atomics.add(this.i32, I_PINS + entry, 1);
    try {
      if (Atomics.load(this.big, B_INDEX + entry) !== BigInt(index)) return null;
      return action(Atomics.load(this.i32, I_FD + entry));
    } finally {
      Atomics.sub(this.i32, I_PINS + entry, 1);
    }
  }

  /** The descriptors the table holds for segment `index`, or null. */
  descriptors(index: number): SegmentDescriptors | null {
    const entry = index % ENTRIES;
    if (Atomics.load(this.big, B_INDEX + entry) !== BigInt(index)) return null;
    return {
      fd: Atomics.load(this.i32, I_FD + entry),
      rollFd: Atomics.load(this.i32, I_ROLL_FD + entry),
    };
  }

  /**
   * The roll's own descriptor of segment `index`, handed over once: the caller syncs and closes
   * it. -1 when there is none (the segment was made by a writer that did not open one).
   */
  takeRollFd(index: number): number {
    const entry = index % ENTRIES;
    if (Atomics.load(this.big, B_INDEX + entry) !== BigInt(index)) return -1;
    return Atomics.exchange(this.i32, I_ROLL_FD + entry, -1);
  }

  /**
   * Puts segment `index`'s descriptors in its entry, first closing the ones of the segment that
   * held it once no barrier has them pinned (rule 5).
   */
  install(index: number, descriptors: SegmentDescriptors): void {
    this.release(index % ENTRIES);
    const entry = index % ENTRIES;
    Atomics.store(this.i32, I_FD + entry, descriptors.fd);
    Atomics.store(this.i32, I_ROLL_FD + entry, descriptors.rollFd);
    Atomics.store(this.big, B_INDEX + entry, BigInt(index));
  }

  /** Closes the descriptors the table holds for segment `index`, if any (it is deleted). */
  forget(index: number): void {
    const entry = index % ENTRIES;
    if (Atomics.load(this.big, B_INDEX + entry) === BigInt(index)) this.release(entry);
  }

  /**
   * Under the owner's exclusive hold, after a cut or at open: `highest` is the newest segment
   * and `written` bytes of it are written (rule 6).
   */
  reset(highest: number, written: number): void {
    this.setWritten(written);
    Atomics.store(this.big, B_HIGHEST, BigInt(highest));
    this.signal();
  }

  /**
   * Closes every descriptor the table holds, each one even when another's close fails.
   * @returns the first error a close threw, or undefined.
   */
  closeAll(): unknown {
    let failure: unknown;
    for (let entry = 0; entry < ENTRIES; entry++) {
      try {
        this.release(entry);
      } catch (error) {
        failure ??= error;
      }
    }
    return failure;
  }

  private rollInto(index: number, roll: (index: number) => SegmentDescriptors): void {
    try {
      // Checked again as the roller: another roller may have finished meanwhile.
      if (this.highest !== index - 1) return;
      const made = roll(index);
      this.install(index, made);
      this.countCreated();
      this.reset(index, 0);
    } catch (error) {
      this.breakTable();
      throw error;
    } finally {
      Atomics.store(this.i32, I_ROLLER, 0);
      this.signal();
    }
  }

  private remember(changes: number, index: number): number {
    const fd = Atomics.load(this.i32, I_FD + (index % ENTRIES));
    this.seenChanges = changes;
    this.seenHighest = index;
    this.seenFd = fd;
    return fd;
  }

  /** Empties `entry`: no barrier may pin it from here, and its descriptors are closed. */
  private release(entry: number): void {
    Atomics.store(this.big, B_INDEX + entry, -1n);
    // Pinned barriers run for one fdatasync at most; they never wait on this thread.
    while (Atomics.load(this.i32, I_PINS + entry) !== 0) {
      Atomics.wait(this.i32, I_PINS + entry, Atomics.load(this.i32, I_PINS + entry), 1);
    }
    const fd = Atomics.exchange(this.i32, I_FD + entry, -1);
    const rollFd = Atomics.exchange(this.i32, I_ROLL_FD + entry, -1);
    try {
      if (fd >= 0) this.closeFd(fd);
    } finally {
      if (rollFd >= 0) this.closeFd(rollFd);
    }
  }

  /** Whether the descriptor of the newest segment is open on that file in `directory`. */
  private holdsNewestSegmentOf(directory: string): boolean {
    // Rolls in other threads may close the descriptor it read (four segments on); each bumps
    // CHANGES, so look again while that moves. A table not this log's fails with it still.
    for (let attempt = 0; attempt < 1000; attempt++) {
      const changes = Atomics.load(this.i32, I_CHANGES);
      if (this.newestSegmentIsIn(directory)) return true;
      if (Atomics.load(this.i32, I_CHANGES) === changes) return false;
    }
    return false;
  }

  private newestSegmentIsIn(directory: string): boolean {
    const highest = this.highest;
    const newest = this.descriptors(highest);
    if (newest !== null) return isOpenOn(newest.fd, join(directory, segmentName(highest)));
    try {
      return statSync(directory).isDirectory();
    } catch {
      return false;
    }
  }

  /** `WRITTEN`, from the cell this segment size counts in. */
  private written(): number {
    return this.wide
      ? Number(Atomics.load(this.big, B_WRITTEN))
      : Atomics.load(this.i32, I_WRITTEN);
  }

  private setWritten(written: number): void {
    if (this.wide) Atomics.store(this.big, B_WRITTEN, BigInt(written));
    else Atomics.store(this.i32, I_WRITTEN, written);
  }

  private throwIfBroken(): void {
    if (Atomics.load(this.i32, I_BROKEN) !== 0) {
      throw new WalError("IO", "another thread's write into the log's segments failed");
    }
  }

  private signal(): void {
    Atomics.add(this.i32, I_CHANGES, 1);
    Atomics.notify(this.i32, I_CHANGES);
  }
}
