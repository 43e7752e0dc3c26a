/**
 * Following the log: a consumer reads every durable record as it lands, without polling.
 *
 *   bun examples/follow.ts
 *
 * `wal.follow()` is an async iterator: it yields the records already in the log, then waits for
 * new ones, and yields each once it is durable (appended and synced, by this thread or by a
 * Worker attached to the log). It ends when the `Wal` closes. Here a consumer loop (a replica,
 * an index builder, a change feed) runs while a producer commits; closing the log ends the loop.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { codecs, Wal } from "wal-db";

const EVENTS = 5;

const dir = mkdtempSync(join(tmpdir(), "wal-db-follow-"));
try {
  const wal = Wal.open<string>(join(dir, "events.wal"), { codec: codecs.utf8 });
  wal.appendAndSync("already in the log when the consumer starts");

  const seen: string[] = [];
  const caughtUp = Promise.withResolvers<void>();
  const consumer = (async () => {
    for await (const { lsn, data } of wal.follow()) {
      console.log(`consumer: LSN ${String(lsn).padStart(3)}: ${data}`);
      seen.push(data);
      if (seen.length === EVENTS + 1) caughtUp.resolve();
    }
    console.log("consumer: the log closed; the loop ended");
  })();

  for (let i = 0; i < EVENTS; i++) {
    const lsn = await wal.commit(`event ${i}`); // durable, so the consumer may see it now
    console.log(`producer: committed event ${i} at LSN ${lsn}`);
  }

  // A condition, not a sleep: the consumer has every event (or it ended early, and the check
  // below says so).
  await Promise.race([caughtUp.promise, consumer]);
  wal.close();
  await consumer;

  const expected = [
    "already in the log when the consumer starts",
    ...Array.from({ length: EVENTS }, (_, i) => `event ${i}`),
  ];
  if (JSON.stringify(seen) !== JSON.stringify(expected)) {
    throw new Error(`the consumer saw ${JSON.stringify(seen)}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
