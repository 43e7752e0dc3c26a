/**
 * The records archive-kill-writer.ts commits: record `index` is its index (8 bytes, little
 * endian) then a filler of a length and bytes that depend on it, so a restored record either is
 * one the writer made, byte for byte, or shows it is not.
 */

/** The payload of record `index`. */
export function archivedPayload(index: number): Uint8Array {
  const bytes = new Uint8Array(8 + ((index * 131) % 700));
  new DataView(bytes.buffer).setBigUint64(0, BigInt(index), true);
  for (let i = 8; i < bytes.length; i++) bytes[i] = (index * 31 + i) & 0xff;
  return bytes;
}

/** The index a payload claims, when it is exactly that record's payload; else null. */
export function indexOfPayload(data: Uint8Array): number | null {
  if (data.length < 8) return null;
  const index = Number(new DataView(data.buffer, data.byteOffset, 8).getBigUint64(0, true));
  const expected = archivedPayload(index);
  return expected.length === data.length && expected.every((byte, i) => byte === data[i])
    ? index
    : null;
}
