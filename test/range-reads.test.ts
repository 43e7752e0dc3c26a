/**
 * The reads a log's users need beyond `iter`: `iterFrom` within bounds (an end LSN, a count),
 * the newest records (`last`) without reading the whole log, the log itself iterable, and
 * `iterAsync`, which gives the event loop turns while it replays and stops with `TRUNCATED`
 * when the owner cuts what it reads. Also what a `Wal` shows of itself: `path`, `size`, and a
 * short `console.log`, with its internals out of sight.
 */

import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { MemoryStore, Wal, type WalRecord } from "../src/index.ts";
import { walErrorOf, walRejectionOf } from "./support/errors.ts";
import { payloadOf } from "./support/payloads.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();
const lsnsOf = (records: Iterable<WalRecord>) => [...records].map((record) => record.lsn);

/** A memory store that counts the bytes read from it. */
class CountingStore extends MemoryStore {
  bytesRead = 0;

  override read(target: Uint8Array, position: number): number {
    const read = super.read(target, position);
    this.bytesRead += read;
    return read;
  }
}

/** A log of `count` records of varied sizes (0 to ~600 B), with their LSNs. */
function filled(wal: Wal, count: number): number[] {
  return Array.from({ length: count }, (_, i) => wal.append(payloadOf("r", i, (i * 37) % 600)));
}

describe("iterFrom(lsn, { to, limit })", () => {
  test("to ends before the first record at or past it; limit caps the count; both together", () => {
    using wal = Wal.open(logPath(dir));
    const lsns = filled(wal, 50);
    expect(lsnsOf(wal.iterFrom(lsns[10]!, { to: lsns[20]! }))).toEqual(lsns.slice(10, 20));
    // An end inside a record keeps that record: it starts below the end.
    expect(lsnsOf(wal.iterFrom(lsns[10]!, { to: lsns[20]! + 1 }))).toEqual(lsns.slice(10, 21));
    expect(lsnsOf(wal.iterFrom(lsns[10]!, { limit: 5 }))).toEqual(lsns.slice(10, 15));
    expect(lsnsOf(wal.iterFrom(lsns[10]!, { to: lsns[12]!, limit: 5 }))).toEqual(
      lsns.slice(10, 12),
    );
    expect(lsnsOf(wal.iterFrom(lsns[10]!, { to: lsns[10]! }))).toEqual([]);
    expect(lsnsOf(wal.iterFrom(lsns[10]!, { limit: 0 }))).toEqual([]);
    expect(lsnsOf(wal.iterFrom(0, { to: wal.len + 100 }))).toEqual(lsns);
  });

  test("a bad range is INVALID_ARGUMENT naming what is wrong, and reads nothing", () => {
    using wal = Wal.open(logPath(dir));
    const lsns = filled(wal, 5);
    const cases: [unknown, string][] = [
      [{ to: lsns[1]! - 1 }, "to must be"],
      [{ to: -1 }, "to must be"],
      [{ to: 1.5 }, "to must be"],
      [{ limit: -1 }, "limit must be"],
      [{ limit: Number.NaN }, "limit must be"],
      [{ end: 10 }, 'unknown range option "end"'],
      [7, "must be an object"],
    ];
    for (const [range, message] of cases) {
      const error = walErrorOf(() => wal.iterFrom(lsns[1]!, range as never));
      expect(error.code).toBe("INVALID_ARGUMENT");
      expect(error.message).toContain(message);
    }
  });
});

describe("last(n)", () => {
  test("the newest n records, oldest first, across many index strides and a record larger than one", () => {
    using wal = Wal.open(logPath(dir));
    const lsns = filled(wal, 3000); // ~900 KiB: several 256 KiB strides of the boundary index
    lsns.push(wal.append(payloadOf("big", 0, 300 * 1024)));
    lsns.push(...filled(wal, 20));
    const all = [...wal.iter()];
    for (const n of [0, 1, 7, 21, 22, 500, 3021, 3022, 5000]) {
      const newest = wal.last(n);
      expect(lsnsOf(newest), `n=${n}`).toEqual(lsns.slice(Math.max(0, lsns.length - n)));
      expect(newest.map((record) => record.data)).toEqual(
        all.slice(Math.max(0, all.length - n)).map((record) => record.data),
      );
    }
  });

  test("reads about the newest records' bytes, not the whole log", () => {
    const store = new CountingStore();
    using wal = Wal.withStore(store);
    filled(wal, 16_000); // ~4.7 MiB
    store.bytesRead = 0;
    expect(wal.last(10)).toHaveLength(10);
    // One window: at most the index's 256 KiB stride plus a record, read in its chunks.
    expect(store.bytesRead).toBeLessThan(1024 * 1024);
    store.bytesRead = 0;
    expect([...wal.iter()]).toHaveLength(16_000);
    expect(store.bytesRead).toBeGreaterThan(4 * 1024 * 1024);
  });

  test("on a segmented log after truncateBefore, the newest records of what is left", () => {
    using wal = Wal.open(join(dir, `segments-${Date.now()}`), { segmentSize: 64 * 1024 });
    const lsns = filled(wal, 800);
    wal.sync();
    const head = wal.truncateBefore(lsns[700]!);
    expect(lsnsOf(wal.last(1000))[0]).toBe(head);
    expect(lsnsOf(wal.last(1000)).at(-1)).toBe(lsns.at(-1)!);
    expect(lsnsOf(wal.last(3))).toEqual(lsns.slice(-3));
  });

  test("a bad count is INVALID_ARGUMENT", () => {
    using wal = Wal.open(logPath(dir));
    for (const count of [-1, 1.5, Number.NaN, "3"]) {
      const error = walErrorOf(() => wal.last(count as number));
      expect(error.code).toBe("INVALID_ARGUMENT");
      expect(error.message).toContain("last: count");
    }
  });
});

describe("the log as an iterable", () => {
  test("for (const record of wal) and values() are iter()", () => {
    using wal = Wal.open(logPath(dir));
    const lsns = filled(wal, 30);
    expect(lsnsOf(wal)).toEqual(lsns);
    expect(lsnsOf(wal.values())).toEqual(lsns);
    const seen: number[] = [];
    for (const { lsn } of wal) seen.push(lsn);
    expect(seen).toEqual(lsns);
  });
});

describe("iterAsync()", () => {
  test("yields what iterFrom yields, from the head or an LSN, within a range", async () => {
    using wal = Wal.open(logPath(dir));
    const lsns = filled(wal, 200);
    const collect = async (records: AsyncIterable<WalRecord>) => {
      const out: WalRecord[] = [];
      for await (const record of records) out.push(record);
      return out;
    };
    expect(await collect(wal.iterAsync())).toEqual([...wal.iter()]);
    expect(lsnsOf(await collect(wal.iterAsync(lsns[50]!, { limit: 10 })))).toEqual(
      lsns.slice(50, 60),
    );
    expect(walErrorOf(() => wal.iterAsync(lsns[50]! + 1)).code).toBe("INVALID_ARGUMENT");
  });

  test("gives the event loop turns while it reads a long log; iter in an async loop gives none", async () => {
    using wal = Wal.open(logPath(dir));
    wal.appendBatch(Array.from({ length: 200_000 }, (_, i) => `record ${i}`));
    const turnsDuring = async (replay: () => Promise<number>) => {
      let turns = 0;
      let ticking = true;
      const tick = () => {
        turns++;
        if (ticking) setImmediate(tick);
      };
      setImmediate(tick);
      const count = await replay();
      ticking = false;
      expect(count).toBe(200_000);
      return turns;
    };
    const blocking = await turnsDuring(async () => {
      let count = 0;
      for (const _ of wal.iter()) count++;
      return count;
    });
    const chunked = await turnsDuring(async () => {
      let count = 0;
      for await (const _ of wal.iterAsync()) count++;
      return count;
    });
    expect(blocking).toBe(0);
    expect(chunked).toBeGreaterThan(1);
  });

  test("a cut of what it reads, made between its chunks, ends it with TRUNCATED", async () => {
    using wal = Wal.open(logPath(dir));
    const lsns = wal.appendBatch(Array.from({ length: 100_000 }, (_, i) => `record ${i}`));
    wal.sync();
    let read = 0;
    const iteration = (async () => {
      for await (const _ of wal.iterAsync()) {
        // Cut just once, well ahead of the reader: it must not read on into the cut bytes.
        if (++read === 10) setImmediate(() => wal.truncateAfter(lsns[90_000]!));
      }
    })();
    const error = await walRejectionOf(iteration);
    expect(error.code).toBe("TRUNCATED");
    expect(error.message).toContain("truncateAfter cut the log");
    expect(read).toBeLessThan(90_000);
  });

  test("a prefix dropped past what it read ends it with TRUNCATED", async () => {
    using wal = Wal.open(join(dir, `drop-${Date.now()}`), { segmentSize: 64 * 1024 });
    const lsns = wal.appendBatch(Array.from({ length: 100_000 }, (_, i) => `record ${i}`));
    wal.sync();
    let read = 0;
    const iteration = (async () => {
      for await (const _ of wal.iterAsync()) {
        if (++read === 10) setImmediate(() => wal.truncateBefore(lsns[50_000]!));
      }
    })();
    const error = await walRejectionOf(iteration);
    expect(error.code).toBe("TRUNCATED");
    expect(error.message).toContain("truncateBefore dropped the records below");
    expect(read).toBeLessThan(50_000);
  });
});

describe("what a Wal shows of itself", () => {
  test("path, and size as len", () => {
    const path = logPath(dir);
    using wal = Wal.open(path);
    wal.append("one");
    expect(wal.path).toBe(path);
    expect(wal.size).toBe(wal.len);
    expect(Wal.withStore(new MemoryStore()).path).toBe("memory");
  });

  test("console.log prints one short line: path, layout, bounds and state; no internals", () => {
    const path = logPath(dir);
    const wal = Wal.open(path);
    wal.append("one");
    const shown = Bun.inspect(wal);
    expect(shown).toBe(
      `Wal { path: ${JSON.stringify(path)}, layout: "file", len: 11, head: 0, state: "open" }`,
    );
    expect(Object.keys(wal).sort()).toEqual(["readOnly", "recovery"]);
    wal.close();
    expect(Bun.inspect(wal)).toBe(
      `Wal { path: ${JSON.stringify(path)}, layout: "file", state: "closed" }`,
    );
    using segmented = Wal.open(join(dir, `shown-${Date.now()}`), { segmentSize: 64 * 1024 });
    expect(Bun.inspect(segmented)).toContain('layout: "segments"');
    using reader = Wal.openReadOnly(path);
    expect(Bun.inspect(reader)).toContain('state: "read-only"');
  });

  test("isEmpty after the whole log was dropped from a segmented log", () => {
    using wal = Wal.open(join(dir, `empty-${Date.now()}`), { segmentSize: 64 * 1024 });
    expect(wal.isEmpty).toBe(true);
    filled(wal, 500);
    expect(wal.isEmpty).toBe(false);
    wal.sync();
    wal.truncateBefore(wal.len);
    expect(wal.head).toBe(wal.len);
    expect(wal.isEmpty).toBe(true);
  });
});
