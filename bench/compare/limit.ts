/**
 * The limit: what this disk allows for commits made one at a time, with no library in the way.
 * Before the timer, the log file is zero-filled to hold every record the workload will commit
 * (rounded up to ZERO_CHUNK) and made durable: `fdatasync` of the file, then `fsync` of its
 * directory, so its size, its extents and its name are on stable storage already. Each commit
 * is then one positioned `writeSync` of its frame (hand-rolled's header: `Bun.hash.crc32`,
 * length; 264 bytes) over those zeros, and one `fdatasyncSync`, whose barrier has no
 * allocation or size to journal, only the block to write and the device cache to flush. A log
 * library cannot commit one record at a time faster on this disk: it has at least this write
 * and this barrier to make. W1 and W2 only (concurrent committers run one whole commit at a
 * time, as hand-rolled's do); it has no bulk load and no read-back.
 */

import { closeSync, fdatasyncSync, fsyncSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { PAYLOAD_SIZE } from "../harness.ts";
import { commitFrame, HEADER_SIZE } from "./hand-rolled.ts";
import type { Contender, Store } from "./protocol.ts";

/** The zero fill is written in chunks of this size, and the file rounded up to one. */
const ZERO_CHUNK = 1 << 20;

const unsupported = (what: string) => () => {
  throw new Error(`limit: ${what} is not one of its workloads (W1 and W2 only)`);
};

export const limit: Contender = {
  open(dir, records) {
    const capacity =
      Math.max(1, Math.ceil((records * (HEADER_SIZE + PAYLOAD_SIZE)) / ZERO_CHUNK)) * ZERO_CHUNK;
    const fd = openSync(join(dir, "log"), "w+");
    const zeros = new Uint8Array(ZERO_CHUNK);
    for (let at = 0; at < capacity; at += ZERO_CHUNK) writeSync(fd, zeros, 0, ZERO_CHUNK, at);
    fdatasyncSync(fd);
    const dirFd = openSync(dir, "r");
    fsyncSync(dirFd);
    closeSync(dirFd);
    const frame = new Uint8Array(HEADER_SIZE + PAYLOAD_SIZE);
    const view = new DataView(frame.buffer);
    let position = 0;
    const commit = (payload: Uint8Array) => {
      if (position + HEADER_SIZE + payload.length > capacity) {
        throw new Error("limit: past the zero-filled space");
      }
      position += commitFrame(fd, frame, view, payload, position);
      return undefined;
    };
    const store: Store = {
      commit,
      commitConcurrent: async (payload) => commit(payload),
      load: unsupported("a bulk load"),
      close: () => closeSync(fd),
    };
    return store;
  },
  readBack: unsupported("a read-back"),
};
