/**
 * @module
 * The records of the torture harness, shared by the writer it kills and the parent that
 * checks what survived. The `seq`-th record writer cycle `cycle` submits has a payload fixed
 * by (seed, cycle, seq) alone, so the parent rebuilds any record byte for byte without the
 * writer telling it more than an acknowledgement:
 *
 *   bytes 0..4  cycle (u32 LE)    bytes 4..8  seq (u32 LE)    bytes 8..  filler from a PRNG
 *
 * Sizes: one record in 16 of 8 to 23 bytes, one in 32 just over 64 KiB (written as a header
 * then a payload, two writes a kill can fall between), the rest 8 to 2 KiB; in a segmented
 * log many records straddle a segment boundary.
 */

/** The line a writer prints once its log is open: `READY`. */
export const READY_LINE = "READY";

/** An acknowledgement: printed by the writer once `appendAndSync` of the record returned. */
export interface Ack {
  readonly seq: number;
  readonly lsn: number;
  readonly length: number;
  readonly hash: string;
}

/** The line acknowledging a record: `ACK <seq> <lsn> <length> <hash>`. */
export function formatAck(ack: Ack): string {
  return `ACK ${ack.seq} ${ack.lsn} ${ack.length} ${ack.hash}`;
}

/** The acknowledgement on `line`, or null when it is not an ACK line. */
export function parseAck(line: string): Ack | null {
  const match = /^ACK (\d+) (\d+) (\d+) ([0-9a-f]+)$/.exec(line);
  if (match === null) return null;
  return {
    seq: Number(match[1]),
    lsn: Number(match[2]),
    length: Number(match[3]),
    hash: match[4]!,
  };
}

/** The hash an ACK line carries: Bun's 64-bit wyhash of the payload, in hex. */
export function payloadHash(payload: Uint8Array): string {
  return Bun.hash(payload).toString(16);
}

/** The exact payload the writer of `cycle` submits as its `seq`-th record in a run of `seed`. */
export function torturePayload(seed: number, cycle: number, seq: number): Uint8Array {
  const next = mulberry32(mix(seed, cycle, seq));
  const roll = next() % 32;
  const size =
    roll === 0
      ? 64 * 1024 + 1 + (next() % 4096)
      : roll % 2 === 1 && roll < 4
        ? 8 + (next() % 16)
        : 8 + (next() % 2041);
  const payload = new Uint8Array(size);
  const view = new DataView(payload.buffer);
  view.setUint32(0, cycle, true);
  view.setUint32(4, seq, true);
  for (let i = 8; i < size; i += 4) {
    let word = next();
    for (let j = i; j < Math.min(i + 4, size); j++) {
      payload[j] = word & 0xff;
      word >>>= 8;
    }
  }
  return payload;
}

/** One 32-bit seed per (seed, cycle, seq): distinct streams for distinct records. */
function mix(seed: number, cycle: number, seq: number): number {
  let h = seed ^ Math.imul(cycle + 1, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h ^= Math.imul(seq + 1, 0xc2b2ae35);
  return Math.imul(h ^ (h >>> 13), 0x27d4eb2f) >>> 0;
}

/** mulberry32: a small, fast, seedable PRNG of 32-bit unsigned integers. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}
