/**
 * `wal.follow()`: a live tail. What must hold:
 * - it yields the durable records from its start, then each new record once it is durable, in
 *   LSN order, exactly once, and never a record that is only appended;
 * - records a Worker appends and syncs reach a follower in the owning thread, and the owner's
 *   `close` ends the loop;
 * - it starts at any record boundary, decodes with the log's codec, and fails with
 *   `TRUNCATED` when `truncateAfter` cuts records it already yielded.
 */

import { describe, expect, test } from "bun:test";
import { codecs, Wal, WalError } from "../src/index.ts";
import { seedFromEnv } from "./support/random.ts";
import { logPath, tempDir } from "./support/temp.ts";
import { recordPayload, sameBytes, WorkerThread } from "./support/workers.ts";
import type { WriterReply, WriterTask } from "./workers-writer.ts";

const dir = tempDir();
const SEED = seedFromEnv(0xf0110);
const text = new TextDecoder();

/** Collects what `wal.follow(from)` yields, in the background, until it ends. */
function collect(wal: Wal, from?: number) {
  const seen: { lsn: number; data: string }[] = [];
  const ended = (async () => {
    for await (const { lsn, data } of wal.follow(from)) seen.push({ lsn, data: text.decode(data) });
  })();
  return { seen, ended };
}

/** Resolves once `condition` holds, checking on every turn of the event loop (test side only). */
async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(1);
  }
}

describe("Wal.follow", () => {
  test("yields durable records, then each new one once it is durable, never one only appended", async () => {
    using wal = Wal.open(logPath(dir));
    const first = wal.appendAndSync("one");
    wal.appendAndSync("two");
    const { seen, ended } = collect(wal);
    await until(() => seen.length === 2, "the existing records");
    const three = wal.append("three"); // appended, not durable
    await Bun.sleep(200); // several of the follower's wake-up checks
    expect(seen.map((r) => r.data)).toEqual(["one", "two"]);
    wal.sync();
    await until(() => seen.length === 3, "the synced record");
    await wal.commit("four");
    await until(() => seen.length === 4, "the committed record");
    expect(seen[0]!.lsn).toBe(first);
    expect(seen[2]).toEqual({ lsn: three, data: "three" });
    expect(seen.map((r) => r.data)).toEqual(["one", "two", "three", "four"]);
    wal.close();
    await ended; // close ends the loop
    expect(seen).toHaveLength(4);
  });

  // On 4 KiB segments the Worker rolls the log every few records, into segments the owner's
  // reads have never seen.
  test.each([
    ["a single file", undefined],
    ["4 KiB segments", 4096],
  ])(
    "receives what a Worker appends and syncs, in order, and ends on the owner's close: %s",
    async (_layout, segmentSize) => {
      const count = 300;
      const sizes = { min: 0, max: 600 };
      const wal = Wal.open(logPath(dir), segmentSize === undefined ? {} : { segmentSize });
      const received: { lsn: number; data: Uint8Array }[] = [];
      const following = (async () => {
        for await (const record of wal.follow()) received.push(record);
      })();
      const writer = new WorkerThread("workers-writer.ts");
      try {
        const gate = new Int32Array(new SharedArrayBuffer(4));
        const task: WriterTask = {
          kind: "durable",
          handle: wal.share(),
          gate,
          worker: 0,
          count,
          seed: SEED,
          sizes,
        };
        writer.post(task);
        expect((await writer.reply<WriterReply>()).kind).toBe("ready");
        Atomics.store(gate, 0, 1);
        Atomics.notify(gate, 0);
        const done = await writer.reply<Extract<WriterReply, { kind: "done" }>>();
        expect(done.kind).toBe("done");
        // Every call the Worker made returned durable, so every record must arrive.
        await until(() => received.length === count, `${count} records from the Worker`);
        expect(received.map((r) => r.lsn)).toEqual(done.lsns);
        received.forEach((record, seq) => {
          const expected = recordPayload(SEED, 0, seq, sizes);
          if (!sameBytes(record.data, expected))
            throw new Error(`WAL_SEED=${SEED}: record ${seq} differs`);
        });
      } finally {
        await writer.terminate();
        wal.close();
      }
      await following;
      expect(received).toHaveLength(count);
    },
    60_000,
  );

  test("starts at any record boundary; anything else is INVALID_ARGUMENT", async () => {
    using wal = Wal.open(logPath(dir));
    const lsns = wal.appendBatch(["a", "bb", "ccc"]);
    wal.sync();
    const { seen, ended } = collect(wal, lsns[1]);
    await until(() => seen.length === 2, "the records from the second");
    expect(seen.map((r) => r.data)).toEqual(["bb", "ccc"]);
    const fromEnd = collect(wal, wal.len);
    wal.appendAndSync("dddd");
    await until(() => fromEnd.seen.length === 1, "the record after the end");
    expect(fromEnd.seen[0]!.data).toBe("dddd");
    const error = await wal
      .follow(lsns[1]! + 1)
      .next()
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(WalError);
    expect((error as WalError).code).toBe("INVALID_ARGUMENT");
    wal.close();
    await Promise.all([ended, fromEnd.ended]);
  });

  test("decodes with the log's codec", async () => {
    using wal = Wal.open<{ n: number }>(logPath(dir), { codec: codecs.json });
    wal.appendAndSync({ n: 1 });
    const values: number[] = [];
    for await (const { data } of wal.follow()) {
      values.push(data.n);
      if (data.n === 1) await wal.commit({ n: 2 });
      else break; // leaving the loop ends the follower
    }
    expect(values).toEqual([1, 2]);
  });

  test("truncateAfter below what it yielded fails it with TRUNCATED", async () => {
    using wal = Wal.open(logPath(dir));
    const [, second] = wal.appendBatch(["a", "b", "c"]);
    wal.sync();
    const iterator = wal.follow();
    for (let i = 0; i < 3; i++) expect((await iterator.next()).done).toBe(false);
    const next = iterator.next(); // waiting for a record past the end
    wal.truncateAfter(second!);
    const error = await next.then(
      () => null,
      (e: unknown) => e,
    );
    expect((error as WalError).code).toBe("TRUNCATED");
  });
});
