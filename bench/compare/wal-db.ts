/**
 * wal-db, as its README tells a user to drive it: `appendAndSync` for a lone synchronous
 * caller (W1), `await commit` for concurrent ones (W2, group commit), `appendBatch` of
 * BULK_BATCH_RECORDS distinct records at a time and one `sync` for a bulk load (W3), and
 * `Wal.open` then `for (const record of wal.iter())` to read back (W4): the open's recovery
 * scan checks every record's CRC-32C, and `iter` checks each again as it reads it.
 *
 * The variant `wal-db (await commit)` differs only in W1: its lone committer makes each commit
 * with `await wal.commit`, as code written for many committers does when only one is running.
 * Its W2 would be wal-db's, so it runs W1 only.
 */

import { join } from "node:path";
import { Wal } from "../../src/index.ts";
import { poolSlice } from "../harness.ts";
import type { Contender, Store } from "./protocol.ts";

/** Records per `appendBatch` call in the bulk load. */
const BULK_BATCH_RECORDS = 4096;

const walPath = (dir: string) => join(dir, "wal");

/** wal-db, its lone committer calling `appendAndSync`, or `await commit` when `awaitCommit`. */
export function walDb(awaitCommit: boolean): Contender {
  return {
    open(dir) {
      const wal = Wal.open(walPath(dir));
      const store: Store = {
        commit: awaitCommit ? (payload) => wal.commit(payload) : (p) => wal.appendAndSync(p),
        commitConcurrent: (payload) => wal.commit(payload),
        load(count, pool) {
          let lastLsn = 0;
          for (let first = 0; first < count; first += BULK_BATCH_RECORDS) {
            const size = Math.min(BULK_BATCH_RECORDS, count - first);
            lastLsn = wal.appendBatch(poolSlice(pool, first, size)).at(-1)!;
          }
          wal.sync();
          return lastLsn;
        },
        close: () => wal.close(),
      };
      return store;
    },
    readBack(dir) {
      let touched = 0;
      using wal = Wal.open(walPath(dir));
      for (const record of wal.iter()) touched += record.data.length + record.data[0]!;
      return touched;
    },
  };
}
