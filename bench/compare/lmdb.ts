/**
 * lmdb (lmdb-js) as a log: uint32 keys counting up, binary values, the durable defaults (no
 * `noSync`, no `noMetaSync`). A commit is `await db.put(key, value)`; lmdb-js gathers the
 * puts of one event turn into one transaction, its group commit.
 *
 * Two variants, because the documentation is of two minds about the default: `overlappingSync`
 * is on by default on Linux, and its README section says write promises then resolve when the
 * transaction is committed and visible, with the flush to disk following (only `db.flushed`
 * waits for it), while the `put` paragraph promises a durable commit. In lmdb-js 3.5.6 the
 * writer thread publishes TXN_COMMITTED only after `mdb_txn_commit` returns (src/writer.cpp),
 * and bench/audit.ts sees that commit's `fdatasync` and its O_DSYNC meta-page write inside
 * every commit's request and acknowledgement, in both variants. `overlappingSync: false` is
 * the plain LMDB commit. LMDB keeps no checksum per record, so the read-back checks none.
 */

import { join } from "node:path";
import { open } from "lmdb";
import type { Contender, Store } from "./protocol.ts";

/** lmdb with its default `overlappingSync` (true on Linux), or with it off. */
export function lmdb(overlappingSync: boolean): Contender {
  const openDb = (dir: string) =>
    open<Uint8Array, number>({
      path: join(dir, "lmdb"),
      keyEncoding: "uint32",
      encoding: "binary",
      // Left out when true, so the default is what runs, not an explicit copy of it.
      ...(overlappingSync ? {} : { overlappingSync: false }),
    });
  return {
    open(dir) {
      const db = openDb(dir);
      let key = 0;
      const commit = (payload: Uint8Array) => db.put(key++, payload);
      const store: Store = {
        commit,
        commitConcurrent: commit,
        async load(count, pool) {
          // One write transaction; its commit is the one barrier. `flushed` makes sure the
          // barrier is in the timer even when overlappingSync defers it.
          const mask = pool.length - 1;
          db.transactionSync(() => {
            for (let i = 0; i < count; i++) db.putSync(key++, pool[i & mask]!);
          });
          await db.flushed;
          return count;
        },
        close: () => db.close(),
      };
      return store;
    },
    async readBack(dir) {
      const db = openDb(dir);
      let touched = 0;
      for (const { value } of db.getRange()) touched += value.length + value[0]!;
      await db.close();
      return touched;
    },
  };
}
