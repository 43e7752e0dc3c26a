/**
 * bun:sqlite as a log: a table of (lsn INTEGER PRIMARY KEY, data BLOB), in WAL mode with
 * synchronous=FULL, the setting where SQLite syncs its WAL at every commit (NORMAL in WAL mode
 * only syncs at checkpoints, and a power loss may drop recent commits). A commit is one INSERT
 * in autocommit through a prepared statement. bun:sqlite is synchronous, so it has no group
 * commit: concurrent committers run one whole commit at a time. SQLite keeps no checksum per
 * row, so the read-back checks none.
 */

import { Database } from "bun:sqlite";
import { join } from "node:path";
import type { Contender, Store } from "./protocol.ts";

const dbPath = (dir: string) => join(dir, "log.sqlite");

export const sqlite: Contender = {
  open(dir) {
    const db = new Database(dbPath(dir), { create: true, strict: true });
    db.run("PRAGMA journal_mode = WAL");
    db.run("PRAGMA synchronous = FULL");
    db.run("CREATE TABLE log (lsn INTEGER PRIMARY KEY, data BLOB NOT NULL)");
    const insert = db.prepare("INSERT INTO log (data) VALUES (?)");
    const commit = (payload: Uint8Array) => {
      insert.run(payload);
      return undefined;
    };
    // W3: one transaction, so its COMMIT is the one barrier.
    const loadAll = db.transaction((count: number, pool: readonly Uint8Array[]) => {
      const mask = pool.length - 1;
      for (let i = 0; i < count; i++) insert.run(pool[i & mask]!);
    });
    const store: Store = {
      commit,
      commitConcurrent: async (payload) => commit(payload),
      load(count, pool) {
        loadAll(count, pool);
        return count;
      },
      close() {
        insert.finalize();
        db.close();
      },
    };
    return store;
  },
  readBack(dir) {
    const db = new Database(dbPath(dir), { readonly: true, strict: true });
    const select = db.prepare<{ data: Uint8Array }, []>("SELECT data FROM log ORDER BY lsn");
    let touched = 0;
    for (const { data } of select.iterate()) touched += data.length + data[0]!;
    select.finalize();
    db.close();
    return touched;
  },
};
