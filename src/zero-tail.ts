/**
 * @module
 * The zero-filled tail of a single-file log. A writer keeps `preallocate` bytes of zeros
 * written past its last record (rule 9 in commit.ts says who writes them and when), because a
 * barrier after a write into space the file already holds is markedly cheaper than one after
 * a write that grows it: the file's size and block allocation are already on stable storage,
 * so only the data goes out.
 *
 * Zeros are only written again after a barrier (rule 9): a log appended to without syncs gains
 * nothing from them and would write every byte twice.
 *
 * The zeros are an optimisation, never a condition: a disk with room for the record but not for
 * the zeros after it (ENOSPC, EDQUOT, EFBIG) gets the record without them. Whatever part of the
 * zeros a short write left is cut again first, since on a full disk those pages are the ones
 * the record itself needs. Any other error of the zero write is an I/O failure like any other,
 * and poisons the log.
 *
 * Recovery reads the zeros as the end of the log: an all-zero header is never a valid record
 * (the CRC-32C of a zero length field is 0x48674BC7, not 0), and the Rust crate's reader stops
 * there too. A tail that is zero to the last byte is kept as it is; anything else after the
 * last valid record is damage, handled (and cut) like any other.
 */

import { IoError } from "./errors.ts";
import type { WalStore } from "./store/store.ts";

/** The filled end is rounded up to a whole page: the file system allocates in pages. */
const PAGE = 4096;
/**
 * Zeros are written from one shared buffer, in pieces of at most this size: the default fill
 * (1 MiB, rounded up to a page) takes one write.
 */
const ZERO_PIECE = 1024 * 1024 + PAGE;

/** How much of the tail `zeroTailStart` reads at a time. */
const PROBE_SIZE = 64 * 1024;

let zeros: Uint8Array | undefined;

/** The errnos that say the disk has no room: a zero fill that meets one is given up. */
const NO_ROOM = new Set(["ENOSPC", "EDQUOT", "EFBIG"]);

/**
 * Writes zeros over `[from, to)` of `store`, growing it, where nothing is written at or past
 * `from` (rule 9 in commit.ts: the caller is the one writer raising `FILLED` from below `from`).
 * When the store has no room for them, gives the fill up instead: cuts whatever zeros reached
 * it (the store then ends at `from` at most) and writes none.
 * @returns where the zeros end: `to`, or `from` when the fill was given up.
 * @throws WalError any other error of the write, or an error of the cut; the caller's write
 * then fails and the log is poisoned.
 */
export function fillZeros(store: WalStore, from: number, to: number): number {
  zeros ??= new Uint8Array(ZERO_PIECE);
  try {
    for (let at = from; at < to; at += ZERO_PIECE) {
      store.write(zeros, Math.min(ZERO_PIECE, to - at), at);
    }
    return to;
  } catch (error) {
    if (!(error instanceof IoError && NO_ROOM.has(error.errno))) throw error;
  }
  // Only zeros lie at or past `from`: the cut takes nothing but the pages they took.
  if (store.size > from) store.truncate(from);
  return from;
}

/** `end + ahead`, rounded up to a whole page: where a fill after a write ending at `end` stops. */
export function fillTarget(end: number, ahead: number): number {
  return Math.ceil((end + ahead) / PAGE) * PAGE;
}

/**
 * Where the run of zeros that ends `store` at `end` begins, searching no lower than `from`:
 * `end` when the last byte is not zero. No record starts at or past it (every header holds a
 * non-zero byte), so recovery reads it as the end of the log and never searches it for
 * records. Reads backwards in 64 KiB pieces into one buffer, however long the run.
 */
export function zeroTailStart(store: WalStore, from: number, end: number): number {
  // Sized by the bytes the store holds, like every buffer recovery allocates.
  const probe = new Uint8Array(Math.min(PROBE_SIZE, Math.max(0, end - from)));
  const probeWords = new Int32Array(probe.buffer, 0, probe.length >>> 2);
  for (let pieceEnd = end; pieceEnd > from; ) {
    const length = Math.min(probe.length, pieceEnd - from);
    const pieceStart = pieceEnd - length;
    // A store that holds fewer bytes than `end` has no zeros there: nothing past them is kept.
    if (store.read(probe.subarray(0, length), pieceStart) < length) return end;
    // The bytes past the last whole word first, one by one; then four bytes at a time from
    // the piece's end (not as float64 words: a sign bit alone reads as -0, which equals 0).
    const whole = length >>> 2;
    const tailBytes = length - (whole << 2);
    for (let byte = length - 1; byte >= length - tailBytes; byte--) {
      if (probe[byte] !== 0) return pieceStart + byte + 1;
    }
    for (let word = whole - 1; word >= 0; word--) {
      if (probeWords[word] !== 0) {
        let byte = (word << 2) + 3;
        while (probe[byte] === 0) byte--;
        return pieceStart + byte + 1;
      }
    }
    pieceEnd = pieceStart;
  }
  return from;
}
