/**
 * @module
 * `LogArchiver`: ships a segmented log's durable bytes to an S3-compatible store as it grows
 * (layout.ts names the objects), so a new machine can restore it (restore.ts). It runs in the
 * owner's thread, beside the log, one cycle at a time: every sealed segment once, as soon as
 * it is durable, the durable part of the active one at most every `interval`, the head when it
 * moves. Nothing past the durable LSN leaves the machine, a failed upload only delays the next
 * cycle, and retention keeps every segment it has not uploaded yet (the segment table's `KEEP`
 * cell). See docs/ARCHIVE.md.
 */

import { crc32c } from "../crc32c.ts";
import { invalidArgument, messageOf, WalError } from "../errors.ts";
import { checkInteger } from "../options.ts";
import { NO_HOLD } from "../store/segment-table.ts";
import type { SegmentedStore } from "../store/segmented.ts";
import { type ArchiveBucket, openBucket, type S3Settings } from "./bucket.ts";
import { archiveKeys, dataEnd, parseArchiveKey, planRestore } from "./layout.ts";
import { type ArchivedPartial, reconcileArchive } from "./reconcile.ts";
import { RecordEnds } from "./record-ends.ts";

/** How {@link LogArchiver} archives, and to where. */
export interface ArchiveOptions extends S3Settings {
  /** The archive: `s3://bucket/prefix`. */
  readonly to: string;
  /**
   * How often, at most, in ms, the durable part of the active segment is uploaded. A sealed
   * segment does not wait for it: it goes within 50 ms of being durable, and the head when it
   * moves. `flush()` uploads everything durable at once.
   * @default 1000
   */
  readonly interval?: number;
  /**
   * The longest wait, in ms, between attempts while uploads fail (the wait doubles from
   * `interval` after each failure); at least `interval`.
   * @default 30000, or `interval` when that is longer
   */
  readonly maxBackoff?: number;
  /** Told each time `archivedLsn` moves. */
  readonly onArchived?: (archivedLsn: number) => void;
  /** Told of each failed cycle; the archiver retries, and the log is not affected. */
  readonly onError?: (error: WalError) => void;
}

/** What the archiver reads of the log it archives, and the calls of its `Wal` it makes. */
export interface ArchivedLog {
  readonly store: SegmentedStore;
  /** The log's durable LSN: everything below it is on stable storage. */
  durable(): number;
  /** Throws `CLOSED` once the log is closed. */
  checkOpen(): void;
  /** Where `truncateAfter(lsn)` would cut, for a record below the durable LSN. */
  cutAfter(lsn: number): number;
  /** `Wal.truncateAfter`. */
  truncateAfter(lsn: number): void;
  /** Deletes the segments below the head that retention kept for the archiver. */
  releaseLeftovers(): void;
  /** The archiver started: the `Wal` consults it before every `truncateAfter`. */
  attach(archiver: LogArchiver): void;
  /** The archiver stopped: the `Wal` no longer consults it. */
  detach(archiver: LogArchiver): void;
}

const DEFAULT_INTERVAL = 1000;
/**
 * How often, in ms, the archiver looks for a segment sealed and durable since its last cycle
 * (a load of the durable LSN): a sealed segment goes at once, not at the next `interval`.
 */
const SEALED_POLL = 50;
/** How much of the log {@link LogArchiver} reads at once to find a record end. */
const RECORD_SCAN_CHUNK = 1 << 20;
const DEFAULT_MAX_BACKOFF = 30_000;

/**
 * A running archive of one segmented log, made by `Wal.archive`. Every record below
 * {@link LogArchiver.archivedLsn} is in the object store.
 * @example
 * await using archiver = await wal.archive({ to: "s3://backups/orders" });
 * await wal.commit("a change");
 * await archiver.flush(); // the change is off the machine
 */
export class LogArchiver {
  readonly #log: ArchivedLog;
  readonly #bucket: ArchiveBucket;
  readonly #options: ArchiveOptions;
  readonly #interval: number;
  readonly #maxBackoff: number;
  /** The archive holds every byte of the log from its head to here. */
  #next = 0;
  /** Follows the records through the bytes uploaded: `archivedLsn` stands only at a record's end. */
  #records = new RecordEnds(0);
  /** One past the newest byte an object holds or an upload in flight may write. */
  #claimed = Number.MAX_SAFE_INTEGER;
  #remoteHead = 0;
  /** The log's head, to upload before anything else: the archive restarts there (a gap). */
  #restartAt: number | null = null;
  /** Partials a sealed segment superseded, deleted at the end of a cycle. */
  #superseded: string[] = [];
  /** The partials in the archive that no sealed segment superseded yet. */
  #partials: ArchivedPartial[] = [];
  #archived = 0;
  /** When the active segment last had its turn (`performance.now()`): the next waits `interval`. */
  #partialAt = Number.NEGATIVE_INFINITY;
  #lastError: WalError | undefined;
  #failures = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** The cycles, flushes and cuts, one after another. */
  #chain: Promise<unknown> = Promise.resolve();

  private constructor(log: ArchivedLog, bucket: ArchiveBucket, options: ArchiveOptions) {
    this.#log = log;
    this.#bucket = bucket;
    this.#options = options;
    this.#interval = checkInteger("interval", options.interval ?? DEFAULT_INTERVAL, 1, 2 ** 31 - 1);
    this.#maxBackoff = checkInteger(
      "maxBackoff",
      options.maxBackoff ?? Math.max(DEFAULT_MAX_BACKOFF, this.#interval),
      this.#interval,
      2 ** 31 - 1,
    );
  }

  /**
   * Starts archiving `log` (what `Wal.archive` calls). Retention holds every segment file the
   * log has before anything is awaited, so none can go before the archive says what it holds.
   * @throws WalError as `Wal.archive`.
   */
  static async start(
    log: ArchivedLog,
    options: ArchiveOptions,
    bucket?: ArchiveBucket,
  ): Promise<LogArchiver> {
    if (options === null || typeof options !== "object")
      throw invalidArgument("archive takes options: { to: 's3://bucket/prefix', ... }");
    const archiver = new LogArchiver(log, bucket ?? openBucket(options.to, options), options);
    const { store } = log;
    const lowest = Math.min(...store.segmentIndices(), Math.floor(store.head / store.segmentSize));
    store.archiveHold = lowest;
    // Until the listing says what the archive holds, every cut of the log is refused.
    log.attach(archiver);
    try {
      const start = await reconcileArchive(archiver.#bucket, store, log.durable(), lowest);
      archiver.#next = start.next;
      archiver.#records = recordsUpTo(store, start.next, start.endsAtRecord ? start.next : 0);
      archiver.#archived = Math.min(archiver.#records.end, start.next);
      archiver.#claimed = start.claimed;
      archiver.#remoteHead = start.remoteHead;
      archiver.#superseded = [...start.superseded];
      archiver.#partials = [...start.partials];
      if (start.gap) archiver.#restartAt = store.head;
      else store.archiveHold = Math.max(lowest, Math.floor(start.next / store.segmentSize));
    } catch (error) {
      archiver.#stop();
      throw error;
    }
    // The backlog goes at once, and any flush is queued behind it.
    archiver.#tick();
    return archiver;
  }

  /**
   * Every record below this LSN is in the object store. It only moves forward, but for
   * {@link LogArchiver.truncateAfter}, which cuts the archive too.
   */
  get archivedLsn(): number {
    return this.#archived;
  }

  /** The error of the last cycle, or undefined once one succeeds. */
  get lastError(): WalError | undefined {
    return this.#lastError;
  }

  /** `s3://bucket/prefix`. */
  get url(): string {
    return this.#bucket.url;
  }

  /**
   * Uploads everything durable at the call (`sync` or `commit` first for what was only
   * appended), and resolves with `archivedLsn` once it is in the store.
   * @throws (rejects with) WalError `ARCHIVE` when an upload fails (the archiver goes on
   * retrying); `CLOSED` once the archiver or the log is closed.
   */
  flush(): Promise<number> {
    return this.#serial(() => this.#attempt(true)).then(() => this.#archived);
  }

  /**
   * `Wal.truncateAfter(lsn)` for an archived log: deletes the archive's objects past the cut
   * first, newest first, so the archive is a prefix of the log at every moment, then cuts the
   * log. `archivedLsn` moves back to what the archive still holds: the one case where it does.
   * @throws WalError as `Wal.truncateAfter`, with nothing changed; `ARCHIVE` when a delete
   * fails (the log is not cut then; call again).
   */
  truncateAfter(lsn: number): Promise<void> {
    return this.#serial(async () => {
      this.#checkRunning();
      const durable = this.#log.durable();
      if (lsn < durable) await this.#cutArchive(this.#log.cutAfter(lsn));
      this.#log.truncateAfter(lsn);
    });
  }

  /**
   * Stops archiving once the cycle in flight ends, uploading nothing more (`flush()` first for
   * a clean stop). Retention no longer holds segments for the archive. Idempotent.
   */
  async close(): Promise<void> {
    if (!this.#closed) this.#stop();
    await this.#chain;
  }

  /** `await using archiver = await wal.archive(...)`: {@link LogArchiver.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Refuses a cut of the log below bytes the archive holds or may yet hold: the archive would
   * keep records the log dropped (`Wal.truncateAfter` calls it).
   */
  checkCut(cut: number): void {
    if (this.#closed || cut >= this.#claimed) return;
    throw invalidArgument(
      `truncateAfter would cut the log at ${cut}, below what its archive at ${this.url} holds ` +
        `(${this.#claimed}): call the archiver's truncateAfter, which cuts the archive first`,
    );
  }

  /** The log closed: stop at once, without touching it (`Wal.close` calls it). */
  detached(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #stop(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    try {
      this.#log.checkOpen();
      this.#log.store.archiveHold = NO_HOLD;
    } catch {
      // The log is closed: its retention is gone with it.
    }
    this.#log.detach(this);
  }

  #serial<T>(run: () => Promise<T>): Promise<T> {
    const result = this.#chain.then(run);
    this.#chain = result.catch(() => undefined);
    return result;
  }

  #schedule(delay: number): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#tick(), delay);
    // A process with nothing else to do may exit: what is durable is not lost with it.
    this.#timer.unref?.();
  }

  /** Runs a cycle after whatever is queued, then sets the timer for the next one. */
  #tick(): void {
    this.#serial(() => this.#attempt(false)).then(
      () => this.#schedule(Math.min(this.#interval, SEALED_POLL)),
      () => this.#schedule(this.#backoff()),
    );
  }

  #backoff(): number {
    return Math.min(this.#maxBackoff, this.#interval * 2 ** Math.min(this.#failures, 30));
  }

  /** One cycle, its failure recorded and reported (and rethrown, for a flush). */
  async #attempt(flush: boolean): Promise<void> {
    this.#checkRunning();
    try {
      await this.#cycle(flush);
      this.#failures = 0;
      this.#lastError = undefined;
    } catch (error) {
      const failure =
        error instanceof WalError
          ? error
          : new WalError("ARCHIVE", messageOf(error), { cause: error });
      if (this.#closed && failure.code === "CLOSED") throw failure;
      this.#failures++;
      this.#lastError = failure;
      this.#tell(() => this.#options.onError?.(failure));
      throw failure;
    }
  }

  #checkRunning(): void {
    if (this.#closed) throw new WalError("CLOSED", `the archiver of ${this.url} is closed`);
    try {
      this.#log.checkOpen();
    } catch (error) {
      this.detached();
      throw error;
    }
  }

  /**
   * Uploads what became durable since the last cycle: the head first where the archive
   * restarts, then each sealed segment, the durable part of the active one (on a flush, or
   * once `interval` has passed since the last), the head.
   */
  async #cycle(flush: boolean): Promise<void> {
    const { store } = this.#log;
    const head = store.head;
    const durable = this.#log.durable();
    const holdBefore = store.archiveHold;
    if (this.#restartAt !== null) {
      // The archive cannot go on from where it ends: the log no longer has those bytes. Its
      // head goes first, so a restore meanwhile gets the log from there, not a gap.
      await this.#put(archiveKeys.head(head), new Uint8Array(0), this.#claimed);
      this.#remoteHead = head;
      const restart = Math.floor(this.#restartAt / store.segmentSize);
      this.#next = restart * store.segmentSize;
      this.#records = new RecordEnds(head);
      store.archiveHold = restart;
      this.#restartAt = null;
    }
    const size = store.segmentSize;
    for (let index = Math.floor(this.#next / size); (index + 1) * size <= durable; index++) {
      await this.#uploadSealed(index);
    }
    // The active segment's turn comes every `interval`, whether or not it grew meanwhile.
    if (flush || performance.now() - this.#partialAt >= this.#interval) {
      this.#partialAt = performance.now();
      if (this.#next < durable) await this.#uploadPartial(durable);
    }
    if (head > this.#remoteHead) {
      await this.#put(archiveKeys.head(head), new Uint8Array(0), this.#claimed);
      this.#remoteHead = head;
    }
    if (store.archiveHold > holdBefore) this.#releaseLeftovers();
    await this.#deleteSuperseded();
  }

  /**
   * The archive holds every byte below `#next`: `archivedLsn` moves to the last record end
   * in them, and says so.
   */
  #advance(): void {
    const archivable = Math.min(this.#records.end, this.#next);
    if (archivable <= this.#archived) return;
    this.#archived = archivable;
    const archived = this.#archived;
    this.#tell(() => this.#options.onArchived?.(archived));
  }

  /** Uploads segment `index`, sealed and durable, whole; `archivedLsn` moves once it lands. */
  async #uploadSealed(index: number): Promise<void> {
    const { store } = this.#log;
    const start = index * store.segmentSize;
    const bytes = readDurable(store, start, store.segmentSize);
    await this.#put(archiveKeys.segment(index, crc32c(bytes)), bytes, start + bytes.length);
    this.#supersedePartialsOf(index);
    this.#records.feed(bytes, start);
    this.#next = start + bytes.length;
    store.archiveHold = index + 1;
    this.#advance();
  }

  /** Uploads the active segment's bytes from `#next` to `durable`, a record's end. */
  async #uploadPartial(durable: number): Promise<void> {
    const bytes = readDurable(this.#log.store, this.#next, durable - this.#next);
    const key = archiveKeys.partial(this.#next, durable, crc32c(bytes));
    await this.#put(key, bytes, durable);
    this.#partials.push({ key, start: this.#next });
    this.#records.feed(bytes, this.#next);
    this.#next = durable;
    this.#advance();
  }

  /** Puts one object; `end` is the newest byte it holds, claimed before the request. */
  async #put(key: string, bytes: Uint8Array, end: number): Promise<void> {
    this.#claimed = Math.max(this.#claimed, end);
    await this.#bucket.put(key, bytes);
  }

  /** Segment `index` is in the archive sealed: its partials are not needed any more. */
  #supersedePartialsOf(index: number): void {
    const size = this.#log.store.segmentSize;
    const inside = (partial: ArchivedPartial) => Math.floor(partial.start / size) === index;
    for (const partial of this.#partials.filter(inside)) this.#superseded.push(partial.key);
    this.#partials = this.#partials.filter((partial) => !inside(partial));
  }

  async #deleteSuperseded(): Promise<void> {
    while (this.#superseded.length > 0) {
      await this.#bucket.delete(this.#superseded[0]!);
      this.#superseded.shift();
    }
  }

  /** Deletes the segments retention kept for the archive below the head, now uploaded. */
  #releaseLeftovers(): void {
    const { store } = this.#log;
    const below = Math.min(store.archiveHold, Math.floor(store.head / store.segmentSize));
    if (!store.segmentIndices().some((index) => index < below)) return;
    try {
      this.#log.releaseLeftovers();
    } catch (error) {
      // Only disk space: the archive is complete, and the next raise of the hold tries again.
      const failure = error instanceof WalError ? error : new WalError("IO", messageOf(error));
      this.#tell(() => this.#options.onError?.(failure));
    }
  }

  /**
   * Deletes every object holding bytes at or past `cut`, newest first, and moves the archive's
   * end (and `archivedLsn`, and the hold) back to what is left.
   */
  async #cutArchive(cut: number): Promise<void> {
    // A request given up on may still land: wait, so none lands after the deletes.
    await this.#bucket.settled();
    const size = this.#log.store.segmentSize;
    const listing = await this.#bucket.list();
    const doomed = listing
      .map(({ key }) => ({ key, end: dataEnd(parseArchiveKey(key), size) ?? 0 }))
      .filter(({ end }) => end > cut)
      .sort((a, b) => b.end - a.end);
    for (const { key } of doomed) await this.#bucket.delete(key);
    const left = listing.filter(({ key }) => !doomed.some((object) => object.key === key));
    this.#next = Math.min(this.#next, planRestore(left, size).end);
    this.#claimed = this.#next;
    // What the archive still holds below the old archivedLsn, a record's end, is whole.
    const known = this.#archived <= this.#next ? this.#archived : 0;
    this.#records = recordsUpTo(this.#log.store, this.#next, known);
    this.#archived = Math.min(this.#archived, this.#records.end, this.#next);
    const remains = (key: string) => left.some((object) => object.key === key);
    this.#superseded = this.#superseded.filter(remains);
    this.#partials = this.#partials.filter((partial) => remains(partial.key));
    const hold = Math.floor(this.#next / size);
    if (hold < this.#log.store.archiveHold) this.#log.store.archiveHold = hold;
    const archived = this.#archived;
    this.#tell(() => this.#options.onArchived?.(archived));
  }

  /** Runs a user's callback; what it throws does not stop the archiver. */
  #tell(callback: () => void): void {
    try {
      callback();
    } catch {
      // The callback's own failure: the archiver's state is already what it reports.
    }
  }
}

/**
 * Follows the log's records through its bytes below `lsn`, from `recordStart` (a record's start
 * known below `lsn`, or 0 for none) or the head if that is later, read from the disk a MiB at a
 * time. Where the archive ends at a sealed segment and no record end is known near it, the
 * walk goes from the head, as the log's own open did.
 */
function recordsUpTo(store: SegmentedStore, lsn: number, recordStart: number): RecordEnds {
  const from = Math.max(recordStart, store.head);
  const records = new RecordEnds(from);
  for (let at = from; at < lsn; at += RECORD_SCAN_CHUNK) {
    records.feed(readDurable(store, at, Math.min(RECORD_SCAN_CHUNK, lsn - at)), at);
  }
  return records;
}

/** `length` bytes of the log at `position`, all of them durable: fewer is an `IO` error. */
function readDurable(store: SegmentedStore, position: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  const got = store.read(bytes, position);
  if (got !== length) {
    throw new WalError(
      "IO",
      `the archiver read ${got} of the ${length} durable bytes at LSN ${position} of ` +
        `${store.description}`,
    );
  }
  return bytes;
}
