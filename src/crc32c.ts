/**
 * @module
 * CRC-32C (Castagnoli) in TypeScript: reflected polynomial 0x82F63B78, init and final xor
 * 0xFFFFFFFF, so `crc32c("123456789") === 0xE3069283`. See docs/ON_DISK_FORMAT.md.
 *
 * Slicing-by-16: sixteen 256-entry tables let the loop fold sixteen input bytes per step with
 * independent table loads instead of one byte per dependent step. Measured here (bench/run.ts)
 * at about 2 GB/s on large buffers, against ~0.5 GB/s for the one-table loop.
 */

const POLYNOMIAL_REFLECTED = 0x82f63b78;
const SLICES = 16;

/** `tables[s * 256 + b]`: the CRC of byte b followed by s zero bytes. */
const tables = buildTables();

function buildTables(): Int32Array {
  const result = new Int32Array(256 * SLICES);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 1 ? (crc >>> 1) ^ POLYNOMIAL_REFLECTED : crc >>> 1;
    result[byte] = crc;
  }
  for (let byte = 0; byte < 256; byte++) {
    let crc = result[byte]!;
    for (let slice = 1; slice < SLICES; slice++) {
      crc = result[crc & 0xff]! ^ (crc >>> 8);
      result[slice * 256 + byte] = crc;
    }
  }
  return result;
}

/**
 * CRC-32C of `bytes[start..end)`, continuing from `previous` (the CRC of the bytes before).
 * `crc32c(b, 0, b.length, crc32c(a))` equals the CRC of `a` followed by `b`.
 *
 * @param bytes - the input.
 * @param start - first byte offset, inclusive. @default 0
 * @param end - last byte offset, exclusive. @default bytes.length
 * @param previous - CRC of the preceding bytes; 0 to start fresh. @default 0
 * @returns the CRC as an unsigned 32-bit number.
 * @example crc32c(new TextEncoder().encode("123456789")) === 0xe3069283
 */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length, previous = 0): number {
  const t = tables;
  let crc = ~previous;
  let i = start;
  // The index arithmetic below stays inside bytes[start..end) by the loop bound; typed-array
  // reads out of range would yield undefined and corrupt the CRC silently, so keep the bound.
  for (const last = end - 16; i <= last; i += 16) {
    const word =
      crc ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    crc =
      t[3840 + (word & 0xff)]! ^
      t[3584 + ((word >>> 8) & 0xff)]! ^
      t[3328 + ((word >>> 16) & 0xff)]! ^
      t[3072 + (word >>> 24)]! ^
      t[2816 + bytes[i + 4]!]! ^
      t[2560 + bytes[i + 5]!]! ^
      t[2304 + bytes[i + 6]!]! ^
      t[2048 + bytes[i + 7]!]! ^
      t[1792 + bytes[i + 8]!]! ^
      t[1536 + bytes[i + 9]!]! ^
      t[1280 + bytes[i + 10]!]! ^
      t[1024 + bytes[i + 11]!]! ^
      t[768 + bytes[i + 12]!]! ^
      t[512 + bytes[i + 13]!]! ^
      t[256 + bytes[i + 14]!]! ^
      t[bytes[i + 15]!]!;
  }
  for (; i < end; i++) crc = t[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
