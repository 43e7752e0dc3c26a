/**
 * classic-level (LevelDB) as a log: 4-byte big-endian keys counting up, byte values. A commit
 * is `await db.put(key, value, { sync: true })`, which makes LevelDB sync its log file before
 * the write returns; concurrent writers queue in LevelDB and share one log write and sync
 * (its group commit). The bulk load is `db.batch` of BULK_BATCH_RECORDS puts, only the last
 * with `sync: true`.
 *
 * `writeBufferSize` is raised to 1 GiB so that a bulk load stays in one log file: LevelDB's
 * sync covers only the current log, and a log rotated out when the memtable fills becomes
 * durable only once a background compaction has written its table, which nothing here waits
 * for. The read-back uses `nextv` (LevelDB's iterator in batches), and LevelDB checks block
 * checksums only when asked (`verify_checksums`, which classic-level does not expose), so it
 * checks none.
 */

import { join } from "node:path";
import { ClassicLevel } from "classic-level";
import { poolSlice } from "../harness.ts";
import type { Contender, Store } from "./protocol.ts";

/** Puts per `db.batch` in the bulk load, the same batch size as wal-db's `appendBatch`. */
const BULK_BATCH_RECORDS = 4096;
const WRITE_BUFFER_SIZE = 1 << 30;

function keyOf(index: number): Uint8Array {
  const key = new Uint8Array(4);
  new DataView(key.buffer).setUint32(0, index);
  return key;
}

async function openDb(dir: string) {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(join(dir, "level"), {
    keyEncoding: "view",
    valueEncoding: "view",
    writeBufferSize: WRITE_BUFFER_SIZE,
  });
  await db.open();
  return db;
}

export const classicLevel: Contender = {
  async open(dir) {
    const db = await openDb(dir);
    let key = 0;
    const commit = (payload: Uint8Array) => db.put(keyOf(key++), payload, { sync: true });
    const store: Store = {
      commit,
      commitConcurrent: commit,
      async load(count, pool) {
        for (let first = 0; first < count; first += BULK_BATCH_RECORDS) {
          const size = Math.min(BULK_BATCH_RECORDS, count - first);
          const operations = poolSlice(pool, first, size).map((value) => ({
            type: "put" as const,
            key: keyOf(key++),
            value,
          }));
          await db.batch(operations, { sync: first + size === count });
        }
        return count;
      },
      close: () => db.close(),
    };
    return store;
  },
  async readBack(dir) {
    const db = await openDb(dir);
    const iterator = db.iterator();
    let touched = 0;
    for (;;) {
      const entries = await iterator.nextv(BULK_BATCH_RECORDS);
      if (entries.length === 0) break;
      for (const [, value] of entries) touched += value.length + value[0]!;
    }
    await iterator.close();
    await db.close();
    return touched;
  },
};
