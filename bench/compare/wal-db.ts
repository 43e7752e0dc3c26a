/**
 * wal-db, as its README tells a user to drive it: `appendAndSync` for a lone synchronous
 * caller (W1), `await commit` for concurrent ones (W2, group commit), `appendBatch` of
 * BULK_BATCH_RECORDS distinct records at a time and one `sync` for a bulk load (W3), and `Wal.open` with a
 * `replay` callback to read back (W4): every record's CRC-32C is checked once, in the open's
 * own recovery scan (`open` then `iter` reads and checks the log twice).
 */

import { join } from "node:path";
import { Wal } from "../../src/index.ts";
import { poolSlice } from "../harness.ts";
import type { Contender, Store } from "./protocol.ts";

/** Records per `appendBatch` call in the bulk load. */
const BULK_BATCH_RECORDS = 4096;

const walPath = (dir: string) => join(dir, "wal");

export const walDb: Contender = {
  open(dir) {
    const wal = Wal.open(walPath(dir));
    const store: Store = {
      commit: (payload) => wal.appendAndSync(payload),
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
    using _ = Wal.open(walPath(dir), {
      replay: (data) => {
        touched += data.length + data[0]!;
      },
    });
    return touched;
  },
};
