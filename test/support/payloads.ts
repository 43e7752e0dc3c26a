/**
 * Payloads that name themselves, for tests whose records are written by one process and
 * checked by another: record `index` of group `label` is the same bytes wherever it is built,
 * and differs from every other record and from zeros (the disk's answer for a lost block).
 */

const utf8 = new TextEncoder();

/** `size` bytes: `"<label> #<index>|"`, then a pattern of non-zero bytes drawn from both. */
export function payloadOf(label: string, index: number, size: number): Uint8Array {
  const payload = new Uint8Array(size);
  const { written } = utf8.encodeInto(`${label} #${index}|`, payload);
  let seed = index * 17;
  for (const char of label) seed = (seed * 31 + char.charCodeAt(0)) % 251;
  for (let at = written; at < size; at++) payload[at] = ((at * 31 + seed) % 251) + 1;
  return payload;
}

/** Whether two payloads hold the same bytes. */
export function samePayload(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, at) => byte === b[at]);
}
