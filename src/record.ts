/**
 * @module
 * Record framing: the header layout, sealing a frame, reading its fields. The normative byte
 * layout is docs/ON_DISK_FORMAT.md; the constants below are the only place the code spells it
 * out, and both the writer (`Wal.append`) and the reader (`RecordScanner`, src/scan.ts) use
 * them. No I/O here: reading and checking frames in a store is src/scan.ts.
 *
 *   offset 0..4  crc     u32 LE  CRC-32C of bytes 4..end (the length field, then the payload)
 *   offset 4..8  length  u32 LE  payload length n
 *   offset 8..   payload n bytes
 */

import { Crc32cBatch, crc32c } from "./crc32c.ts";

/** Bytes in a record header: the CRC, then the length. */
export const HEADER_SIZE = 8;
/** Offset of the length field within a record; the CRC covers everything from here. */
export const LENGTH_OFFSET = 4;
/** The length field is a u32, so no payload can be longer than this. */
export const PAYLOAD_SIZE_LIMIT = 0xffff_ffff;
/** LSNs are JavaScript numbers, exact up to 2^53 - 1; the log never grows past that byte. */
export const LSN_LIMIT = Number.MAX_SAFE_INTEGER;

/**
 * Completes a frame starting at `frame[at]` whose payload is already in
 * `frame[at+8..at+8+length)`: writes the length and the CRC into the header. Framing in place
 * lets `append` copy the payload once, and `appendBatch` frame many records in one buffer.
 */
export function sealFrame(frame: Uint8Array, length: number, at = 0): void {
  writeU32(frame, at + LENGTH_OFFSET, length);
  writeU32(frame, at, crc32c(frame, at + LENGTH_OFFSET, at + HEADER_SIZE + length));
}

/**
 * Seals every frame in `frames[0..bytes)`, laid out back to back with their payloads and
 * length fields already written (by {@link writeLength}): computes all their CRCs in one call
 * (one native call costs less than a call per frame) and writes each into its header.
 */
export function sealFrames(frames: Uint8Array, bytes: number): void {
  const batch = sealBatch;
  batch.clear();
  for (let at = 0; at < bytes; ) {
    const end = at + HEADER_SIZE + readU32(frames, at + LENGTH_OFFSET);
    batch.add(at + LENGTH_OFFSET, end);
    at = end;
  }
  batch.run(frames);
  for (let i = 0; i < batch.count; i++) {
    writeU32(frames, batch.start(i) - LENGTH_OFFSET, batch.crc(i));
  }
}

/** The ranges and results of `sealFrames`. */
const sealBatch = new Crc32cBatch();

/** Writes the length field of the frame at `frame[at]`, for {@link sealFrames} to seal. */
export function writeLength(frame: Uint8Array, at: number, length: number): void {
  writeU32(frame, at + LENGTH_OFFSET, length);
}

/**
 * Writes the header of a frame whose payload lives elsewhere (`header` is 8 bytes).
 * The CRC continues over the separate payload, which equals the CRC of the contiguous frame.
 */
export function writeHeader(header: Uint8Array, payload: Uint8Array): void {
  writeU32(header, LENGTH_OFFSET, payload.length);
  const crcOfLength = crc32c(header, LENGTH_OFFSET, HEADER_SIZE);
  writeU32(header, 0, crc32c(payload, 0, payload.length, crcOfLength));
}

function writeU32(target: Uint8Array, offset: number, value: number): void {
  // A CRC of 2^31 or more arrives as a double: convert it to int32 once, not at each shift.
  const word = value | 0;
  target[offset] = word;
  target[offset + 1] = word >> 8;
  target[offset + 2] = word >> 16;
  target[offset + 3] = word >> 24;
}

/** The u32 LE at `source[offset]`. */
export function readU32(source: Uint8Array, offset: number): number {
  return (
    (source[offset]! |
      (source[offset + 1]! << 8) |
      (source[offset + 2]! << 16) |
      (source[offset + 3]! << 24)) >>>
    0
  );
}
