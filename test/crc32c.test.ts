/**
 * CRC-32C (Castagnoli) pinned to published vectors, and cross-checked against a bit-at-a-time
 * reference for every length that reaches a different mix of the slicing-by-16 loop and its
 * byte-at-a-time tail. Random inputs come from a seeded PRNG; the seed is in each title, and
 * WAL_SEED replays another one.
 */

import { describe, expect, test } from "bun:test";
import { crc32c, crc32cCombine } from "../src/crc32c.ts";
import { mulberry32, randomBytes, seedFromEnv } from "./support/random.ts";

const utf8 = new TextEncoder();
const SEED = seedFromEnv(0xc0ffee);

/**
 * The definition, one bit at a time: reflected polynomial 0x82F63B78, init and final xor
 * 0xFFFFFFFF. Slow and obviously right; shares no table or code with src/crc32c.ts.
 */
function referenceCrc32c(bytes: Uint8Array, previous = 0): number {
  let crc = ~previous >>> 0;
  for (const byte of bytes) {
    crc = (crc ^ byte) >>> 0;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

const hex = (value: number) => `0x${value.toString(16).padStart(8, "0")}`;

describe("crc32c() known vectors", () => {
  test('crc32c("123456789") is the check value 0xE3069283', () => {
    expect(hex(crc32c(utf8.encode("123456789")))).toBe(hex(0xe3069283));
  });

  test("crc32c() of empty input is 0", () => {
    expect(crc32c(new Uint8Array(0))).toBe(0);
    expect(crc32c(utf8.encode("abc"), 2, 2)).toBe(0);
  });

  test("crc32c() of four zero bytes is 0x48674BC7 (why an all-zero header is never valid)", () => {
    expect(hex(crc32c(new Uint8Array(4)))).toBe(hex(0x48674bc7));
  });

  // RFC 3720 (iSCSI), appendix B.4, and other widely published CRC-32C values. Each was also
  // checked against the bit-at-a-time reference below when this file was written.
  const vectors: [string, Uint8Array, number][] = [
    ["32 bytes of 0x00 (RFC 3720 B.4)", new Uint8Array(32), 0x8a9136aa],
    ["32 bytes of 0xFF (RFC 3720 B.4)", new Uint8Array(32).fill(0xff), 0x62a8ab43],
    [
      "32 bytes ascending 0..31 (RFC 3720 B.4)",
      Uint8Array.from({ length: 32 }, (_, i) => i),
      0x46dd794e,
    ],
    [
      "32 bytes descending 31..0 (RFC 3720 B.4)",
      Uint8Array.from({ length: 32 }, (_, i) => 31 - i),
      0x113fdb5c,
    ],
    [
      "an iSCSI read command PDU (RFC 3720 B.4)",
      Uint8Array.from([
        0x01, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x14, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 0,
        0x14, 0, 0, 0, 0x18, 0x28, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0,
      ]),
      0xd9963a56,
    ],
    ['"a"', utf8.encode("a"), 0xc1d04330],
    [
      '"The quick brown fox jumps over the lazy dog"',
      utf8.encode("The quick brown fox jumps over the lazy dog"),
      0x22620404,
    ],
    // DESIGN.md section 3: the head file for head = 320 is u64 LE 320, then this CRC.
    [
      "the u64 LE 320 (the head-file example)",
      Uint8Array.from([0x40, 1, 0, 0, 0, 0, 0, 0]),
      0xfe2b5570,
    ],
    // DESIGN.md section 3: the CRC of the "a state change" frame covers its length, then payload.
    [
      'length 14 then "a state change" (the record example)',
      Uint8Array.from([14, 0, 0, 0, ...utf8.encode("a state change")]),
      0x59c53e37,
    ],
  ];

  test.each(vectors)("crc32c() of %s", (_name, bytes, expected) => {
    expect(hex(crc32c(bytes))).toBe(hex(expected));
    expect(hex(referenceCrc32c(bytes))).toBe(hex(expected));
  });
});

describe("crc32c() offsets and continuation", () => {
  test("crc32c(bytes, start, end) equals the CRC of the subarray", () => {
    const next = mulberry32(SEED);
    const bytes = randomBytes(next, 1000);
    for (let i = 0; i < 500; i++) {
      const start = next() % (bytes.length + 1);
      const end = start + (next() % (bytes.length - start + 1));
      const context = `seed ${SEED}, [${start}, ${end})`;
      expect(crc32c(bytes, start, end), context).toBe(crc32c(bytes.slice(start, end)));
      expect(crc32c(bytes, start, end), context).toBe(referenceCrc32c(bytes.subarray(start, end)));
    }
  });

  test("crc32c(b, 0, b.length, crc32c(a)) equals the CRC of a followed by b", () => {
    const next = mulberry32(SEED ^ 0x5a5a5a5a);
    for (let i = 0; i < 300; i++) {
      const whole = randomBytes(next, next() % 700);
      const split = next() % (whole.length + 1);
      const a = whole.slice(0, split);
      const b = whole.slice(split);
      const context = `seed ${SEED}, length ${whole.length}, split at ${split}`;
      expect(crc32c(b, 0, b.length, crc32c(a)), context).toBe(crc32c(whole));
      // Continuing over offsets of one buffer is the same thing.
      expect(crc32c(whole, split, whole.length, crc32c(whole, 0, split)), context).toBe(
        crc32c(whole),
      );
    }
  });

  test("crc32c() continued over many pieces equals the CRC of the whole", () => {
    const next = mulberry32(SEED ^ 0x1234567);
    const whole = randomBytes(next, 5000);
    let crc = 0;
    for (let at = 0; at < whole.length; ) {
      const end = Math.min(whole.length, at + (next() % 40));
      crc = crc32c(whole, at, end, crc);
      at = end;
    }
    expect(hex(crc), `seed ${SEED}`).toBe(hex(crc32c(whole)));
    expect(hex(crc), `seed ${SEED}`).toBe(hex(referenceCrc32c(whole)));
  });
});

describe("crc32c() against the bit-at-a-time reference", () => {
  test(`crc32c() of random buffers of every length 0..300 (seed ${SEED})`, () => {
    const next = mulberry32(SEED ^ 0x0badf00d);
    for (let length = 0; length <= 300; length++) {
      const bytes = randomBytes(next, length);
      expect(hex(crc32c(bytes)), `seed ${SEED}, length ${length}`).toBe(
        hex(referenceCrc32c(bytes)),
      );
      // The same bytes at an odd offset inside a larger buffer, with a continued CRC.
      const padded = new Uint8Array(length + 7);
      padded.set(bytes, 3);
      expect(hex(crc32c(padded, 3, 3 + length, 0x9e3779b9)), `seed ${SEED}, length ${length}`).toBe(
        hex(referenceCrc32c(bytes, 0x9e3779b9)),
      );
    }
  });

  test(`crc32c() of large random buffers (seed ${SEED})`, () => {
    const next = mulberry32(SEED ^ 0x7777);
    for (const length of [4095, 4096, 4097, 65_536 + 13, 1024 * 1024 + 5]) {
      const bytes = randomBytes(next, length);
      expect(hex(crc32c(bytes)), `seed ${SEED}, length ${length}`).toBe(
        hex(referenceCrc32c(bytes)),
      );
    }
  });

  test("crc32c() of all-0xFF and all-zero buffers of every length 0..64 matches", () => {
    for (let length = 0; length <= 64; length++) {
      for (const fill of [0x00, 0xff]) {
        const bytes = new Uint8Array(length).fill(fill);
        expect(hex(crc32c(bytes)), `fill ${fill}, length ${length}`).toBe(
          hex(referenceCrc32c(bytes)),
        );
      }
    }
  });
});

describe(`crc32cCombine() (WAL_SEED=${SEED})`, () => {
  test("the CRC of A then B, from the CRCs of A and B, for lengths across the operator powers", () => {
    const next = mulberry32(SEED);
    const lengths = [0, 1, 2, 3, 7, 8, 255, 256, 257, 4096, 65_537, 1 << 20];
    for (const lengthB of lengths) {
      const a = randomBytes(next, next() % 100);
      const b = randomBytes(next, lengthB);
      const both = new Uint8Array(a.length + b.length);
      both.set(a);
      both.set(b, a.length);
      expect(hex(crc32cCombine(crc32c(a), crc32c(b), lengthB))).toBe(hex(referenceCrc32c(both)));
    }
  });

  test("the CRC of a range from two running CRCs: C(b) ^ combine(C(a), 0, b - a)", () => {
    const next = mulberry32(SEED + 1);
    const bytes = randomBytes(next, 10_000);
    for (let trial = 0; trial < 200; trial++) {
      const a = next() % bytes.length;
      const b = a + (next() % (bytes.length - a + 1));
      const range = (crc32c(bytes, 0, b) ^ crc32cCombine(crc32c(bytes, 0, a), 0, b - a)) >>> 0;
      expect(hex(range)).toBe(hex(crc32c(bytes, a, b)));
    }
  });
});
