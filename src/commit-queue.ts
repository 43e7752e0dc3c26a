/**
 * @module
 * `commit`, `syncAsync` and the blocking `sync` of one `Wal`: staging, barrier rounds and
 * back-pressure.
 *
 * Staging. `commit` frames its records here until they are written: every commit a thread
 * makes before its next barrier round starts (a loop, a `Promise.all`, many callers in one
 * tick) lands in one buffer, which the round writes with one reservation and one write, then
 * covers with one barrier. A write per commit cost more than the barrier it shared once hundreds of commits
 * shared it (each `pwrite` ~1.5 µs, ~3 µs beside a running `fdatasync`).
 *
 * A staged record has no LSN yet: it gets one when its batch is written. Every other call of
 * the same `Wal` writes the staged records first, so records still get LSNs in call order.
 */

import { type Appender, SCRATCH_PAYLOAD_SIZE } from "./appender.ts";
import type { Barrier, SharedLog } from "./commit.ts";
import type { Lifecycle } from "./lifecycle.ts";
import type { ResolvedOptions } from "./options.ts";
import { HEADER_SIZE, sealFrames, writeLength } from "./record.ts";
import type { StoreShare } from "./store/share.ts";
import type { WalStore } from "./store/store.ts";
import { SyncThread } from "./sync-thread.ts";

/**
 * One write's worth of staged commits. `lsn` is -1 until the batch is written, then the LSN of
 * its first record; a commit's LSN is `lsn` plus its offset in the batch.
 */
interface CommitBatch {
  lsn: number;
  /** The log's cut count when the batch was written (see `SharedLog.durableGoal`). */
  cuts: number;
  /** Set when writing the batch failed: every commit in it rejects with this. */
  error: unknown;
}

/** The most bytes of frames staged before they are written, whatever the round is doing. */
const COMMIT_STAGING_LIMIT = 4 * 1024 * 1024;

/** The frames of the commits staged since the last write, and the batch they will form. */
class CommitStaging {
  /** The staged frames, back to back, in `frames[0..bytes)`. */
  frames = new Uint8Array(0);
  bytes = 0;
  /** How many records are staged. */
  count = 0;
  /** The batch the staged records will be written as. */
  batch: CommitBatch = newBatch();

  /**
   * Lays out `payload`'s frame after the staged records (`flush` seals them all at once) and
   * returns its offset in the batch. The caller checked its size, and that it fits under
   * {@link COMMIT_STAGING_LIMIT} with the rest.
   */
  stage(payload: Uint8Array): number {
    const offset = this.bytes;
    const end = offset + HEADER_SIZE + payload.length;
    if (end > this.frames.length) {
      // Doubling: a burst of commits costs a logarithmic number of copies, then none.
      const grown = new Uint8Array(
        Math.min(COMMIT_STAGING_LIMIT, Math.max(end, this.frames.length * 2, 4096)),
      );
      grown.set(this.frames.subarray(0, offset));
      this.frames = grown;
    }
    this.frames.set(payload, offset + HEADER_SIZE);
    writeLength(this.frames, offset, payload.length);
    this.bytes = end;
    this.count++;
    return offset;
  }

  /** Starts a new batch after the staged one was written (or failed); keeps the buffer. */
  reset(): void {
    this.bytes = 0;
    this.count = 0;
    this.batch = newBatch();
  }
}

function newBatch(): CommitBatch {
  return { lsn: -1, cuts: 0, error: undefined };
}

/** What a commit queue needs of its `Wal`. */
export interface CommitQueueParts {
  readonly shared: SharedLog;
  readonly writer: number;
  readonly store: WalStore;
  readonly appender: Appender;
  readonly lifecycle: Lifecycle;
  /** Where a sync thread runs this log's barriers, or null for a store only this thread can. */
  readonly remoteBarrier: StoreShare | null;
  readonly maxPendingCommits: number;
  readonly onSlowSync: ResolvedOptions["onSlowSync"];
}

/**
 * One `Wal`'s durable calls. Every other call of the `Wal` runs {@link CommitQueue.flush}
 * first (it is part of the `Wal`'s precondition checks), so staged commits get their LSNs
 * before anything the thread does next.
 */
export class CommitQueue {
  private readonly staged = new CommitStaging();
  /** The barrier round of `commit`/`syncAsync` in flight, which later callers join. */
  private round: Promise<void> | undefined;
  /** `commit` calls of this `Wal` not yet settled, for `maxPendingCommits`. */
  private pendingCommits = 0;
  /** `syncAsync` calls of this `Wal` not yet settled, drained by `close` as commits are. */
  private pendingSyncs = 0;
  /** Runs async barriers of a file log off this thread; started on first use. */
  private syncThread: SyncThread | undefined;
  private slowSyncsReported = 0;
  /** `SharedLog.durable` as `isDurable` last read it, and the cut count then. */
  private durableSeen = -1;
  private durableSeenAtCuts = -1;
  /** The store's barrier, as the shared state's group commit runs it. */
  private readonly barrier: Barrier;

  constructor(private readonly parts: CommitQueueParts) {
    // A store that says nothing of its barrier has only the one (a memory or test store).
    this.barrier = (from, to) => parts.store.sync(from, to) ?? "full";
  }

  /** Whether a commit or `syncAsync` of this `Wal` is still pending. */
  get pending(): boolean {
    return this.pendingCommits + this.pendingSyncs > 0;
  }

  /**
   * Writes the commits staged in this thread, with one reservation and one write, so that they
   * get their LSNs before anything this thread does next. A failure poisons the log and fails
   * every commit of the batch.
   */
  flush(): void {
    const staged = this.staged;
    if (staged.count === 0) return;
    const { batch, frames, bytes, count } = staged;
    // Staging laid the frames out; their CRCs are computed here, all in one call.
    sealFrames(frames, bytes);
    staged.reset();
    try {
      batch.lsn = this.parts.appender.appendFrames(frames, bytes, count);
    } catch (error) {
      batch.error = error;
      throw error;
    }
    batch.cuts = this.parts.appender.cutsAtLastWrite;
  }

  /**
   * `Wal.commit`: refused as every write of a closed or poisoned log is; once fewer than
   * `maxPendingCommits` commits of this thread are pending (back-pressure), stages the payload
   * `payloadOf` makes and resolves with its LSN once it is durable. Without a wait, the payload
   * is staged before this returns its promise.
   */
  async commit(payloadOf: () => Uint8Array): Promise<number> {
    // Inside the async function: a refusal rejects, as the API says, rather than throws.
    this.parts.lifecycle.checkWritable("commit");
    while (this.pendingCommits >= this.parts.maxPendingCommits) await this.nextRound();
    const payload = payloadOf();
    const size = HEADER_SIZE + payload.length;
    if (size > SCRATCH_PAYLOAD_SIZE) return this.commitLarge(payload);
    const staged = this.staged;
    if (staged.bytes + size > COMMIT_STAGING_LIMIT) this.flush();
    const offset = staged.stage(payload);
    const batch = staged.batch;
    this.pendingCommits++;
    try {
      // The round writes what is staged before it reads its target; a round already past
      // that point resolves first, and the next one writes this batch.
      while (batch.lsn < 0) {
        if (batch.error !== undefined) throw batch.error;
        try {
          await this.nextRound();
        } catch (error) {
          // A round that failed or that `close` cut short fails this commit only when its
          // bytes are not durable; a batch whose write failed fails with that write's error.
          if (!this.isDurable(batch, offset + size)) throw batch.error ?? error;
        }
      }
      const lsn = batch.lsn + offset;
      // The common case: the round that wrote the batch made it durable. Checked here, so
      // such a commit makes no second promise.
      if (this.isDurable(batch, offset + size)) {
        this.reportSlowSyncs();
      } else {
        await this.durableAsync(lsn + size, batch.cuts);
      }
      return lsn;
    } finally {
      this.pendingCommits--;
    }
  }

  /** Whether the first `end` bytes of `batch` are written and durable. */
  private isDurable(batch: CommitBatch, end: number): boolean {
    if (batch.lsn < 0) return false;
    const shared = this.parts.shared;
    const goal = shared.durableGoal(batch.lsn + end, batch.cuts);
    // Every commit a round settles asks this: one read of the shared 64-bit cell serves them
    // all until a cut (the only thing that lowers it) or a goal past what was read.
    const cuts = shared.cuts;
    if (goal <= this.durableSeen && cuts === this.durableSeenAtCuts) return true;
    this.durableSeen = shared.durable;
    this.durableSeenAtCuts = cuts;
    return goal <= this.durableSeen;
  }

  /** `Wal.syncAsync`: resolves once everything reserved before the call is durable. */
  async syncAsync(): Promise<void> {
    this.pendingSyncs++;
    try {
      await this.durableAsync(this.parts.shared.reserved, null);
    } finally {
      this.pendingSyncs--;
    }
  }

  /**
   * Blocks until every byte below `target` is durable, sharing barriers with every thread.
   * `cuts` is null for "everything appended before the call", or the cut count noted with one
   * record ending at `target` (see `SharedLog.durableGoal`).
   */
  syncTo(target: number, cuts: number | null): void {
    const { shared, writer, lifecycle } = this.parts;
    try {
      shared.syncTo(target, cuts, writer, this.barrier);
    } catch (error) {
      throw lifecycle.noteFailure(error);
    }
    this.reportSlowSyncs();
  }

  /**
   * `close`'s drain: writes what is staged and, when a commit or `syncAsync` is pending, makes
   * everything this thread wrote durable. Returns why the rounds still in flight end: `CLOSED`,
   * or the drain's failure.
   */
  drain(reason: unknown): unknown {
    // Staged commits are written first, so that the drain covers them; if that fails, they
    // reject with the failure.
    try {
      this.flush();
    } catch {}
    if (!this.pending) return reason;
    // Everything this thread wrote: its pending commits lie below. A commit already durable
    // needs no barrier, and then `syncTo` issues none.
    try {
      this.syncTo(this.parts.appender.lastWriteEnd, null);
    } catch (error) {
      return error;
    }
    return reason;
  }

  /** `await using`'s drain: as `drain`, with the barrier off this thread. Never rejects. */
  async drainAsync(): Promise<void> {
    const { shared, lifecycle, appender } = this.parts;
    try {
      while (!lifecycle.isClosed && !shared.isClosed && this.pending) {
        this.flush();
        const end = appender.lastWriteEnd;
        if (shared.durable >= shared.durableGoal(end, null)) break;
        await this.durableAsync(end, null);
      }
    } catch {
      // The commits that waited for the failed barrier reject with its error; the log is
      // poisoned, and closing it is all that is left to do.
    }
  }

  /** Ends the sync thread, failing what it still runs with `reason`. */
  stop(reason: unknown): void {
    this.syncThread?.stop(reason);
  }

  /** Resolves once every byte below `target` is durable, joining this thread's barrier rounds. */
  async durableAsync(target: number, cuts: number | null): Promise<void> {
    const shared = this.parts.shared;
    const durable = () => shared.durable >= shared.durableGoal(target, cuts);
    while (!durable()) {
      this.parts.lifecycle.checkWritable("sync");
      await this.joinRound(durable);
    }
    this.reportSlowSyncs();
  }

  /** A commit too large to stage: written on its own, after whatever is staged. */
  private async commitLarge(payload: Uint8Array): Promise<number> {
    this.flush();
    const lsn = this.parts.appender.append(payload);
    this.pendingCommits++;
    try {
      const { lastWriteEnd, cutsAtLastWrite } = this.parts.appender;
      await this.durableAsync(lastWriteEnd, cutsAtLastWrite);
    } finally {
      this.pendingCommits--;
    }
    return lsn;
  }

  /** Calls `onSlowSync` when a barrier since the last call took at least the threshold. */
  private reportSlowSyncs(): void {
    const { onSlowSync, shared } = this.parts;
    if (onSlowSync === undefined) return;
    const slowSyncs = shared.slowSyncs;
    if (slowSyncs === this.slowSyncsReported) return;
    this.slowSyncsReported = slowSyncs;
    onSlowSync(shared.lastSlowSync);
  }

  /**
   * Waits for this thread's next barrier round. A round that fails, or that `close` cut short,
   * still fails its caller only when `durable()` says the caller's bytes are not durable: a
   * round stopped by `close` after close's own barrier covered them has done its job.
   */
  private async joinRound(durable: () => boolean): Promise<void> {
    try {
      await this.nextRound();
    } catch (error) {
      if (!durable()) throw error;
    }
  }

  /**
   * The round in flight, or a new one: one barrier for every caller waiting in this thread.
   * A new round starts a microtask later, so every commit made in the same synchronous run
   * (a loop, a `Promise.all`) has appended before the round reads its target.
   */
  private nextRound(): Promise<void> {
    this.round ??= Promise.resolve()
      .then(() => this.runRound())
      .finally(() => {
        this.round = undefined;
      });
    return this.round;
  }

  /** Makes everything reserved so far durable without blocking this thread. */
  private async runRound(): Promise<void> {
    const { lifecycle, shared, remoteBarrier } = this.parts;
    // A round due after `close` has nothing left to do: close made durable what it drained,
    // and the store may be closed.
    if (lifecycle.isClosed) throw lifecycle.closeReason;
    try {
      this.flush();
      const target = shared.reserved;
      if (remoteBarrier !== null) {
        this.syncThread ??= new SyncThread({
          buffer: shared.buffer,
          stallTimeout: shared.stallTimeout,
          target: remoteBarrier,
        });
        await this.syncThread.run(target);
      } else if (this.parts.store.syncAsync === undefined) {
        // A store only this thread reaches (an injected platform or file system, as the
        // simulated disk is) runs the very step the sync thread runs, token and all, here:
        // the power-loss simulation tests the path production commits take, all but the thread.
        shared.syncTo(target, null, this.parts.writer, this.barrier);
      } else {
        await this.asyncStoreRound();
      }
    } catch (error) {
      throw lifecycle.noteFailure(error);
    }
    if (lifecycle.isClosed) throw lifecycle.closeReason;
  }

  /**
   * A round for a store with a barrier of its own that does not block (`WalStore.syncAsync`:
   * memory and test stores): it lives in this thread, so no other thread can write it, and
   * no token is needed.
   */
  private async asyncStoreRound(): Promise<void> {
    const { shared, store } = this.parts;
    const upTo = shared.written();
    const syncAsync = store.syncAsync?.bind(store);
    if (upTo <= shared.durable || syncAsync === undefined) return;
    await shared.barrierThenDurableAsync(upTo, async () => {
      await syncAsync();
      return "full";
    });
  }
}
