/**
 * The search for the next valid record after damage (src/resync.ts) against the definition:
 * the first offset where a whole frame of at most maxRecordSize bytes has a matching CRC,
 * found by trying each offset with a full CRC. Images mix real frames, frames nested inside
 * other payloads, torn frames, zero runs and words that read as plausible lengths; the seed is
 * in each title and WAL_SEED replays another. WAL_RESYNC_IMAGES sizes the run (CI 300).
 */

import { expect, test } from "bun:test";
import { crc32c } from "../src/crc32c.ts";
import { MemoryStore } from "../src/index.ts";
import { readU32, sealFrame } from "../src/record.ts";
import { findNextRecord } from "../src/resync.ts";
import { sized } from "./support/knobs.ts";
import { mulberry32, randomBytes, seedFromEnv } from "./support/random.ts";

const SEED = seedFromEnv(0x5e5c);
const IMAGES = sized("WAL_RESYNC_IMAGES", 300);

function definition(image: Uint8Array, origin: number, maxRecordSize: number): number {
  for (let at = origin; at + 8 <= image.length; at++) {
    const length = readU32(image, at + 4);
    if (length > maxRecordSize || length > image.length - at - 8) continue;
    if (crc32c(image, at + 4, at + 8 + length) === readU32(image, at)) return at;
  }
  return image.length;
}

function frame(payload: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(8 + payload.length);
  bytes.set(payload, 8);
  sealFrame(bytes, payload.length);
  return bytes;
}

/** A seeded image of pieces: frames (some nested in payloads), torn frames, zeros, length-like words. */
function image(next: () => number): Uint8Array {
  const pieces: Uint8Array[] = [];
  const count = 1 + (next() % 12);
  for (let i = 0; i < count; i++) {
    const kind = next() % 6;
    const payload = randomBytes(next, next() % (next() % 8 === 0 ? 3000 : 80));
    if (kind === 0) pieces.push(frame(payload));
    else if (kind === 1)
      pieces.push(frame(frame(payload))); // a frame inside a payload
    else if (kind === 2)
      pieces.push(frame(payload).subarray(0, 1 + (next() % (payload.length + 7))));
    else if (kind === 3) pieces.push(new Uint8Array(next() % 600));
    else if (kind === 4) {
      const words = new Uint8Array(4 * (1 + (next() % 200)));
      const view = new DataView(words.buffer);
      const value = next() % 512;
      for (let at = 0; at < words.length; at += 4) view.setUint32(at, value, true);
      pieces.push(words);
    } else pieces.push(payload);
  }
  const total = pieces.reduce((sum, piece) => sum + piece.length, 0);
  const result = new Uint8Array(total);
  let at = 0;
  for (const piece of pieces) {
    result.set(piece, at);
    at += piece.length;
  }
  return result;
}

test(`finds what trying every offset with a full CRC finds, over ${IMAGES} images (WAL_SEED=${SEED})`, () => {
  const next = mulberry32(SEED);
  let found = 0;
  for (let i = 0; i < IMAGES; i++) {
    const bytes = image(next);
    const store = new MemoryStore(bytes);
    const maxRecordSize = next() % 4 === 0 ? 100 : 64 * 1024 * 1024;
    for (let trial = 0; trial < 4; trial++) {
      const origin = bytes.length === 0 ? 0 : next() % bytes.length;
      const expected = definition(bytes, origin, maxRecordSize);
      expect(findNextRecord(store, origin, bytes.length, maxRecordSize)).toBe(expected);
      if (expected < bytes.length) found++;
    }
  }
  // The images are built so that most searches find a record: the test exercises both outcomes.
  expect(found).toBeGreaterThan(IMAGES);
});

test("a store that holds fewer bytes than the range ends the search without a record", () => {
  const bytes = frame(new Uint8Array(100));
  const short = new MemoryStore(bytes.subarray(0, 50));
  expect(findNextRecord(short, 0, bytes.length, 1024)).toBe(bytes.length);
});

test(`images longer than the search's 64 KiB read chunk, searched from their start (WAL_SEED=${SEED})`, () => {
  const next = mulberry32(SEED + 1);
  for (let i = 0; i < 12; i++) {
    const parts: Uint8Array[] = [];
    let size = 0;
    while (size < 200_000) {
      // Mostly garbage, so the search runs across chunk boundaries before it finds a frame.
      const part = next() % 10 === 0 ? image(next) : randomBytes(next, 5000);
      parts.push(part);
      size += part.length;
    }
    const bytes = new Uint8Array(size);
    let at = 0;
    for (const part of parts) {
      bytes.set(part, at);
      at += part.length;
    }
    const store = new MemoryStore(bytes);
    for (const origin of [0, 65_000 + (next() % 2000), 131_000 + (next() % 2000)]) {
      expect(findNextRecord(store, origin, bytes.length, 1 << 20)).toBe(
        definition(bytes, origin, 1 << 20),
      );
    }
  }
});
