/**
 * `wal.follow(fromLsn)` from an LSN the log has not reached yet, or has reached but not made
 * durable. What must hold:
 * - it never yields a record below `fromLsn`;
 * - past the end, a record that later starts exactly at `fromLsn` is yielded, then every one
 *   after it; one that runs over `fromLsn` fails the iteration with `INVALID_ARGUMENT` once it
 *   is durable (the promise `wal-db tail --from` makes too);
 * - a boundary that is written but not yet durable is waited for, not taken for a cut;
 * - a cut below the follower's reading position before it yielded anything is no error.
 */

import { describe, expect, test } from "bun:test";
import { Wal, WalError } from "../src/index.ts";
import { walRejectionOf } from "./support/errors.ts";
import { turnOfTheEventLoop, until } from "./support/held-store.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();
const text = new TextDecoder();

/** A payload that makes a record of `size` bytes, header included. */
const recordOf = (size: number) => "r".repeat(size - 8);

/** Collects what `wal.follow(from)` yields, in the background, until it ends or throws. */
function collect(wal: Wal, from?: number) {
  const seen: { lsn: number; data: string }[] = [];
  const ended = (async () => {
    for await (const { lsn, data } of wal.follow(from)) seen.push({ lsn, data: text.decode(data) });
  })();
  ended.catch(() => {});
  return { seen, ended };
}

describe("Wal.follow(fromLsn) past the end", () => {
  test("yields nothing below fromLsn; the records from it on, once appended and durable", async () => {
    using wal = Wal.open(logPath(dir));
    wal.appendAndSync("a"); // 9 bytes
    expect(wal.len).toBe(9);
    const { seen, ended } = collect(wal, 109);
    expect(wal.appendAndSync(recordOf(100))).toBe(9); // 9..109: below fromLsn, never yielded
    expect(wal.appendAndSync("at 109")).toBe(109);
    const after = wal.append("after");
    await wal.commit("committed");
    await until(() => seen.length >= 3, "the records from 109 on");
    expect(seen.map((r) => r.lsn)).toEqual([109, after, seen[2]!.lsn]);
    expect(seen.map((r) => r.data)).toEqual(["at 109", "after", "committed"]);
    wal.close();
    await ended;
    expect(seen).toHaveLength(3);
  });

  test("fails with INVALID_ARGUMENT once a durable record runs over fromLsn", async () => {
    using wal = Wal.open(logPath(dir));
    wal.appendAndSync("a");
    const { seen, ended } = collect(wal, 109);
    wal.append(recordOf(200)); // 9..209: runs over 109, but not durable yet
    await turnOfTheEventLoop();
    expect(seen).toEqual([]);
    wal.sync();
    let settled = false;
    const settle = () => {
      settled = true;
    };
    ended.then(settle, settle);
    await until(() => settled || seen.length > 0, "the iteration to fail");
    expect(seen).toEqual([]);
    const error = await walRejectionOf(ended);
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toContain("follow(109)");
    expect(error.message).toContain("the record at 9 runs over it to 209");
    expect(seen).toEqual([]);
  });

  test("a record ending exactly at fromLsn is skipped, and the next one yielded", async () => {
    using wal = Wal.open(logPath(dir));
    const iterator = wal.follow(50);
    const first = iterator.next();
    wal.appendBatch([recordOf(20), recordOf(30), "from 50"]);
    wal.sync();
    const { value, done } = await first;
    expect(done).toBe(false);
    expect(value!.lsn).toBe(50);
    expect(text.decode(value!.data)).toBe("from 50");
    await iterator.return();
  });

  test("a truncateAfter below its reading position, before it yielded anything, is no error", async () => {
    using wal = Wal.open(logPath(dir));
    const kept = wal.appendAndSync("kept"); // 0..12
    const { seen, ended } = collect(wal, 212);
    wal.appendAndSync(recordOf(100)); // 12..112: skipped
    wal.truncateAfter(kept); // the log ends at 12 again
    expect(wal.appendAndSync(recordOf(200))).toBe(12); // 12..212: skipped
    expect(wal.appendAndSync("at 212")).toBe(212);
    await until(() => seen.length >= 1, "the record at 212");
    expect(seen).toEqual([{ lsn: 212, data: "at 212" }]);
    wal.close();
    await ended;
  });
});

describe("Wal.follow(fromLsn) at a boundary not yet durable", () => {
  test("waits for it to be durable, then yields from it", async () => {
    using wal = Wal.open(logPath(dir));
    wal.append("one");
    const two = wal.append("two"); // written, not durable
    const iterator = wal.follow(two);
    const next = iterator.next();
    wal.sync();
    const result = await next.catch((error: unknown) => error);
    expect(result).not.toBeInstanceOf(WalError);
    const { value } = result as IteratorResult<{ lsn: number; data: Uint8Array }>;
    expect(value!.lsn).toBe(two);
    expect(text.decode(value!.data)).toBe("two");
    await iterator.return();
  });
});
