/**
 * The baseline every row is a ratio to: the log a Bun user would write by hand with node:fs.
 * Each record is one frame, an 8-byte header [CRC-32 u32 LE][length u32 LE] and the payload,
 * written with one positioned `writeSync`; a commit is that write and an `fdatasyncSync`. The
 * CRC is `Bun.hash.crc32` (native zlib CRC-32): the cheapest checksum a hand-rolled log would
 * reach for, not wal-db's CRC-32C. It has no group commit: concurrent committers run one
 * whole commit at a time, because each is synchronous and JavaScript runs one call at a time,
 * so no mutex is needed to serialise them.
 */

import { closeSync, fdatasyncSync, openSync, readSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Contender, Store } from "./protocol.ts";

export const HEADER_SIZE = 8;
/** Read and staging buffer size: 1 MiB, the chunk a hand-rolled reader or batcher would pick. */
const CHUNK_SIZE = 1 << 20;

const logPath = (dir: string) => join(dir, "log");

/** Frames `payload` at `offset` in `target`; returns the frame's size. */
export function frameInto(target: Uint8Array, view: DataView, offset: number, payload: Uint8Array) {
  view.setUint32(offset, Bun.hash.crc32(payload), true);
  view.setUint32(offset + 4, payload.length, true);
  target.set(payload, offset + HEADER_SIZE);
  return HEADER_SIZE + payload.length;
}

/**
 * One durable commit of the hand-rolled kind at `position` of `fd`: the frame built in `frame`,
 * one positioned `writeSync`, one `fdatasyncSync`. Returns the frame's size. The limit
 * contender (limit.ts) commits the same way, over space zero-filled first.
 */
export function commitFrame(
  fd: number,
  frame: Uint8Array,
  view: DataView,
  payload: Uint8Array,
  position: number,
): number {
  const size = frameInto(frame, view, 0, payload);
  writeSync(fd, frame, 0, size, position);
  fdatasyncSync(fd);
  return size;
}

/**
 * The hand-rolled log. `staged` changes only the bulk load (W3): frames are gathered in a
 * 1 MiB buffer and written a buffer at a time, instead of one `writeSync` per frame.
 */
export function handRolled(staged: boolean): Contender {
  return {
    open(dir) {
      const fd = openSync(logPath(dir), "w+");
      const chunk = new Uint8Array(CHUNK_SIZE);
      const view = new DataView(chunk.buffer);
      let position = 0;
      const commit = (payload: Uint8Array) => {
        position += commitFrame(fd, chunk, view, payload, position);
        return undefined;
      };
      const store: Store = {
        commit,
        commitConcurrent: async (payload) => commit(payload),
        load(count, pool) {
          const mask = pool.length - 1;
          const frameSize = HEADER_SIZE + pool[0]!.length;
          let filled = 0;
          for (let i = 0; i < count; i++) {
            filled += frameInto(chunk, view, filled, pool[i & mask]!);
            if (!staged || filled + frameSize > CHUNK_SIZE || i === count - 1) {
              writeSync(fd, chunk, 0, filled, position);
              position += filled;
              filled = 0;
            }
          }
          fdatasyncSync(fd);
          return position;
        },
        close: () => closeSync(fd),
      };
      return store;
    },
    readBack(dir) {
      const fd = openSync(logPath(dir), "r");
      const chunk = new Uint8Array(CHUNK_SIZE);
      const view = new DataView(chunk.buffer);
      let position = 0;
      // Bytes at the front of `chunk` carried over from the last read: a frame cut in two.
      let carried = 0;
      let touched = 0;
      for (;;) {
        const read = readSync(fd, chunk, carried, CHUNK_SIZE - carried, position);
        if (read === 0) break;
        position += read;
        const filled = carried + read;
        let offset = 0;
        while (offset + HEADER_SIZE <= filled) {
          const length = view.getUint32(offset + 4, true);
          const end = offset + HEADER_SIZE + length;
          if (end > filled) break;
          const payload = chunk.subarray(offset + HEADER_SIZE, end);
          if (Bun.hash.crc32(payload) !== view.getUint32(offset, true)) {
            throw new Error(`hand-rolled log: CRC mismatch at ${position - filled + offset}`);
          }
          touched += payload.length + payload[0]!;
          offset = end;
        }
        chunk.copyWithin(0, offset, filled);
        carried = filled - offset;
      }
      closeSync(fd);
      if (carried !== 0) throw new Error(`hand-rolled log: ${carried} bytes of torn tail`);
      return touched;
    },
  };
}
