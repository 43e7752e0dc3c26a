/**
 * @module
 * The append path: a record's frame is built (in a reused scratch buffer when it is small),
 * then written into space reserved in the log's shared state by {@link Appender.writeReserved},
 * the one place that runs the write protocol of commit.ts: take a write slot, reserve the
 * bytes, note the cut count, claim the zero-fill frontier, write, then release the slot (or
 * abandon it and poison the log when the write fails). `append`, `appendBatch` and the commit
 * batches of commit-queue.ts all write through it.
 */

import { assert } from "./assert.ts";
import type { RecordBoundaries } from "./boundaries.ts";
import type { SharedLog } from "./commit.ts";
import { describeValue, invalidArgument, recordTooLarge } from "./errors.ts";
import type { Lifecycle } from "./lifecycle.ts";
import {
  HEADER_SIZE,
  LENGTH_OFFSET,
  readU32,
  sealFrame,
  sealFrames,
  writeHeader,
  writeLength,
} from "./record.ts";
import type { WalStore } from "./store/store.ts";
import { fillTarget, fillZeros } from "./zero-tail.ts";

/**
 * Payloads up to this size are framed in a reused buffer and written with one call; larger
 * ones are written header then payload, so the payload is never copied.
 */
export const SCRATCH_PAYLOAD_SIZE = 64 * 1024;

/**
 * The most bytes of frames `appendBatch` builds before writing them: one write for a typical
 * batch, a bounded buffer for a huge one.
 */
const BATCH_STAGING_SIZE = 4 * 1024 * 1024;

const utf8 = new TextEncoder();

/** One thread's writer into the log: frames records and writes them where it reserved. */
export class Appender {
  /** Frame under construction: header, then payload; reused by every small append. */
  private readonly scratch = new Uint8Array(HEADER_SIZE + SCRATCH_PAYLOAD_SIZE);
  private readonly scratchPayload = this.scratch.subarray(HEADER_SIZE);
  /** Where `appendBatch` frames records; grows on demand up to `BATCH_STAGING_SIZE`. */
  private batchFrames = new Uint8Array(0);
  /**
   * Below `zeroedEnd` no other writer's zero fill can land on this writer's bytes (rule 9 of
   * commit.ts), as long as the cut count is still `zeroedAtCuts`.
   */
  private zeroedEnd = 0;
  private zeroedAtCuts = -1;
  /** The end of this writer's last write, and the cut count noted when it reserved it. */
  private writeEnd = 0;
  private writeCuts = 0;
  /** The size of the frame in `scratch`, for `writeScratch`. */
  private scratchSize = 0;
  /** Writes the frame in `scratch` at `lsn`: bound once, so an append allocates no closure. */
  private readonly writeScratch = (lsn: number): void =>
    this.store.write(this.scratch, this.scratchSize, lsn);

  /**
   * @param shared - the log's shared state: offsets, slots, the zero-fill frontier.
   * @param writer - this thread's writer id in it.
   * @param store - where the bytes go.
   * @param index - the record boundaries this `Wal` has seen; every record written is noted.
   * @param lifecycle - poisoned when a write fails.
   * @param maxRecordSize - the largest payload accepted.
   * @param preallocate - the zero fill kept past the records (`WalOptions.preallocate`).
   */
  constructor(
    private readonly shared: SharedLog,
    private readonly writer: number,
    private readonly store: WalStore,
    private readonly index: RecordBoundaries,
    private readonly lifecycle: Lifecycle,
    readonly maxRecordSize: number,
    private readonly preallocate: number,
  ) {}

  /** Where this writer's last write ended: a durable call waits for exactly that. */
  get lastWriteEnd(): number {
    return this.writeEnd;
  }

  /** The log's cut count when this writer reserved its last write (see `SharedLog.durableGoal`). */
  get cutsAtLastWrite(): number {
    return this.writeCuts;
  }

  /** Appends `data`, bytes or a string (already encoded by the codec, if any); its LSN. */
  append(data: unknown): number {
    // One UTF-16 unit never takes more than three UTF-8 bytes.
    if (typeof data === "string" && data.length * 3 <= SCRATCH_PAYLOAD_SIZE) {
      const { written } = utf8.encodeInto(data, this.scratchPayload);
      this.checkSize(written);
      return this.appendScratch(written);
    }
    if (data instanceof Uint8Array && data.length <= SCRATCH_PAYLOAD_SIZE) {
      this.checkSize(data.length);
      this.scratchPayload.set(data);
      return this.appendScratch(data.length);
    }
    const payload = this.payloadOf(data, "append");
    const size = HEADER_SIZE + payload.length;
    return this.noted(
      this.writeReserved(size, 1, (lsn) => this.writeHeaderThenPayload(payload, lsn)),
      size,
    );
  }

  /**
   * Appends `records`, each stored as `encode` makes it (its codec's encoding, or itself),
   * with one reservation and (up to 4 MiB of frames) one write; their LSNs, consecutive and in
   * order. Every record is checked before anything is written.
   */
  appendBatch(
    records: readonly unknown[],
    encode: (value: unknown, index: number) => unknown,
  ): number[] {
    const count = records.length;
    const payloads: Uint8Array[] = new Array(count);
    let total = 0;
    for (let index = 0; index < count; index++) {
      const data = encode(records[index], index);
      // The common case inline; payloadOf encodes strings and names what is wrong.
      const payload =
        data instanceof Uint8Array && data.length <= this.maxRecordSize
          ? data
          : this.payloadOf(data, `appendBatch element ${index}`);
      payloads[index] = payload;
      total += HEADER_SIZE + payload.length;
    }
    if (count === 0) return [];
    if (this.batchFrames.length < BATCH_STAGING_SIZE && this.batchFrames.length < total) {
      this.batchFrames = new Uint8Array(Math.min(BATCH_STAGING_SIZE, total));
    }
    const lsns: number[] = new Array(count);
    this.writeReserved(total, count, (start) => {
      const frames = this.batchFrames;
      let staged = 0;
      let at = start;
      // Frames are laid out, then sealed all at once just before each write.
      const flush = () => {
        sealFrames(frames, staged);
        this.store.write(frames, staged, at - staged);
        staged = 0;
      };
      for (let index = 0; index < count; index++) {
        const payload = payloads[index] as Uint8Array;
        const size = HEADER_SIZE + payload.length;
        lsns[index] = at;
        if (staged + size > frames.length && staged > 0) flush();
        if (size <= frames.length) {
          frames.set(payload, staged + HEADER_SIZE);
          writeLength(frames, staged, payload.length);
          staged += size;
        } else {
          this.writeHeaderThenPayload(payload, at);
        }
        this.index.observe(at, at + size);
        at += size;
      }
      if (staged > 0) flush();
    });
    return lsns;
  }

  /**
   * Writes `count` frames already sealed back to back in `frames[0..bytes)` (a commit batch);
   * the LSN of the first.
   */
  appendFrames(frames: Uint8Array, bytes: number, count: number): number {
    const start = this.writeReserved(bytes, count, (lsn) => this.store.write(frames, bytes, lsn));
    for (let at = 0; at < bytes; ) {
      const next = at + HEADER_SIZE + readU32(frames, at + LENGTH_OFFSET);
      this.index.observe(start + at, start + next);
      at = next;
    }
    return start;
  }

  /**
   * The bytes `data` stands for, checked against the size limit; `what` names the call in
   * errors.
   */
  payloadOf(data: unknown, what: string): Uint8Array {
    if (typeof data === "string") {
      // Each unit takes at least one byte: reject a huge string before encoding it, then
      // check the encoded size, which may be up to three times the unit count.
      this.checkSize(data.length);
      const encoded = utf8.encode(data);
      this.checkSize(encoded.length);
      return encoded;
    }
    if (!(data instanceof Uint8Array)) {
      throw invalidArgument(
        `${what} takes the record as a Uint8Array or a string (stored as UTF-8), got ` +
          `${describeValue(data)}; to log other values, open the log with a codec`,
      );
    }
    this.checkSize(data.length);
    return data;
  }

  /**
   * The write protocol, once for every kind of append: reserves `size` bytes for `count`
   * records, makes room for them, runs `write(lsn)`, and releases the slot, or abandons it when
   * the write throws, which poisons the log for every thread. Returns the LSN reserved.
   */
  private writeReserved(size: number, count: number, write: (lsn: number) => void): number {
    // Every frame was checked against the size limit before it was framed.
    assert(
      size >= count * HEADER_SIZE && size - count * HEADER_SIZE <= count * this.maxRecordSize,
      "a write's frames must fit the record size limit",
    );
    const slot = this.shared.takeWriteSlot(this.writer);
    const lsn = this.shared.reserve(slot, size);
    this.writeCuts = this.shared.cuts;
    try {
      this.claimZeroFill(lsn, size);
      write(lsn);
    } catch (error) {
      this.shared.abandon(slot, lsn, error);
      throw this.lifecycle.poisonWith(error);
    }
    this.shared.releaseWriteSlot(slot, count);
    this.writeEnd = lsn + size;
    return lsn;
  }

  /** Writes the frame already built in `scratch` around a payload of `length` bytes. */
  private appendScratch(length: number): number {
    const size = HEADER_SIZE + length;
    sealFrame(this.scratch, length);
    this.scratchSize = size;
    return this.noted(this.writeReserved(size, 1, this.writeScratch), size);
  }

  /** Notes the record of `size` bytes just written at `lsn` in the index; returns `lsn`. */
  private noted(lsn: number, size: number): number {
    this.index.observe(lsn, lsn + size);
    return lsn;
  }

  /**
   * Before this writer writes the `size` bytes it reserved at `lsn`: makes sure no other
   * writer's zeros can land on them (rule 9 in commit.ts), filling zeros past them when this
   * writer is the one to move `FILLED`. A large write gets no zeros after it: they would cost
   * a write of their own and spare its single barrier little. Zeros the disk has no room for
   * are given up, not the write (see `fillZeros`).
   */
  private claimZeroFill(lsn: number, size: number): void {
    // The common case: below the zeroed end this writer last saw, with no cut since.
    if (lsn + size <= this.zeroedEnd && this.writeCuts === this.zeroedAtCuts) return;
    this.zeroedAtCuts = this.writeCuts;
    if (this.preallocate === 0) {
      this.zeroedEnd = Number.POSITIVE_INFINITY;
      return;
    }
    const ahead = size * 4 <= this.preallocate ? this.preallocate : 0;
    const end = lsn + size;
    this.zeroedEnd = this.shared.fill(
      end,
      ahead === 0 ? end : fillTarget(end, ahead),
      this.writer,
      (from, to) => fillZeros(this.store, from, to),
    );
  }

  /** Writes the frame of `payload` at `lsn` as two writes, header then payload. */
  private writeHeaderThenPayload(payload: Uint8Array, lsn: number): void {
    // Bytes another thread can change while we write are copied first, so the bytes on disk
    // are exactly the bytes the CRC covers: a racing caller must not corrupt the log.
    const stable = payload.buffer instanceof SharedArrayBuffer ? payload.slice() : payload;
    writeHeader(this.scratch, stable);
    this.store.write(this.scratch, HEADER_SIZE, lsn);
    this.store.write(stable, stable.length, lsn + HEADER_SIZE);
  }

  private checkSize(size: number): void {
    if (size > this.maxRecordSize) throw recordTooLarge(size, this.maxRecordSize);
  }
}
