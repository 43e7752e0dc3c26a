/**
 * `appendBatch`: many records, one reservation, consecutive LSNs, and the same bytes as the
 * same records appended one by one. Bad input writes nothing; a failed write poisons the log
 * and is never counted as written.
 */

import { describe, expect, test } from "bun:test";
import { IoError, MemoryStore, Wal, type WalErrorCode } from "../src/index.ts";
import { walErrorOf } from "./support/errors.ts";
import { FaultStore } from "./support/fault-store.ts";
import { allStoreKinds } from "./support/stores.ts";
import { tempDir } from "./support/temp.ts";

const dir = tempDir();
const text = (data: Uint8Array) => new TextDecoder().decode(data);

/** Records of assorted sizes: empty, small, strings, and one past the 4 MiB staging buffer. */
function assortedRecords(): (Uint8Array | string)[] {
  const records: (Uint8Array | string)[] = ["", "a string", new Uint8Array(0)];
  for (let i = 0; i < 300; i++) records.push(new Uint8Array(i * 37).fill(i));
  records.push(new Uint8Array(5 * 1024 * 1024).fill(7), "after the big one");
  for (let i = 0; i < 5000; i++) records.push(`small ${i}`);
  return records;
}

describe.each(allStoreKinds(dir))("$name store: Wal.appendBatch()", (kind) => {
  test("writes the same bytes as appending the records one by one, at consecutive LSNs", () => {
    const records = assortedRecords();
    const single = kind.create();
    const singleLsns: number[] = [];
    {
      using wal = single.open();
      wal.append("before");
      for (const record of records) singleLsns.push(wal.append(record));
    }
    const batched = kind.create();
    {
      using wal = batched.open();
      wal.append("before");
      expect(wal.appendBatch(records)).toEqual(singleLsns);
      expect(wal.stats().appends).toBe(records.length + 1);
      expect(wal.len).toBe(single.bytes().length);
    }
    expect(batched.bytes()).toEqual(single.bytes());
  });

  test("an empty batch returns no LSNs and writes nothing", () => {
    const log = kind.create();
    using wal = log.open();
    wal.append("x");
    expect(wal.appendBatch([])).toEqual([]);
    expect(wal.len).toBe(9);
    expect(wal.stats().appends).toBe(1);
  });

  test("a bad element anywhere rejects the whole batch and writes nothing", () => {
    const log = kind.create();
    using wal = log.open({ maxRecordSize: 100 });
    wal.append("kept");
    const cases: [unknown[], WalErrorCode][] = [
      [["ok", 42, "ok"], "INVALID_ARGUMENT"],
      [["ok", null], "INVALID_ARGUMENT"],
      [[new Uint8Array(3), new Uint8Array(101)], "RECORD_TOO_LARGE"],
      [["x".repeat(101)], "RECORD_TOO_LARGE"],
      [["€".repeat(34)], "RECORD_TOO_LARGE"], // 102 bytes of UTF-8 from 34 units
    ];
    for (const [records, code] of cases) {
      expect(walErrorOf(() => wal.appendBatch(records as string[])).code).toBe(code);
    }
    for (const notAnArray of [undefined, "abc", { length: 1, 0: "x" }, new Uint8Array(4)]) {
      expect(walErrorOf(() => wal.appendBatch(notAnArray as never)).code).toBe("INVALID_ARGUMENT");
    }
    expect(wal.len).toBe(12);
    expect([...wal.iter()].map((r) => text(r.data))).toEqual(["kept"]);
  });
});

describe("Wal.appendBatch() when a write fails", () => {
  test("throws IO, poisons the log, and the log never grows over the batch", () => {
    const store = new FaultStore();
    const wal = Wal.withStore(store);
    wal.appendAndSync("durable");
    const realWrite = store.write.bind(store);
    let writes = 0;
    // The batch needs two staging writes; the second fails after the first reached the store.
    store.write = (source, length, position) => {
      if (++writes === 2) store.failNext("write", "ENOSPC", 100);
      realWrite(source, length, position);
    };
    const records = Array.from({ length: 20_000 }, () => new Uint8Array(256));
    const failure = walErrorOf(() => wal.appendBatch(records));
    expect(failure).toBeInstanceOf(IoError);
    expect((failure as IoError).errno).toBe("ENOSPC");
    expect(wal.len).toBe(15);
    expect(walErrorOf(() => wal.append("x")).code).toBe("POISONED");
    expect([...wal.iter()].map((r) => text(r.data))).toEqual(["durable"]);
    wal.close();
  });
});

describe("payloads in shared memory, changed by another thread during the call", () => {
  /**
   * A store that, at its first write, overwrites the caller's payload, as a thread racing the
   * call would. The record must still read back valid, with the bytes as they were at the call:
   * the bytes on disk must be the bytes the CRC covers, or the log is corrupt for everyone.
   */
  function racedLog(shared: Uint8Array) {
    const store = new MemoryStore();
    const wal = Wal.withStore(store);
    const realWrite = store.write.bind(store);
    store.write = (source, length, position) => {
      shared.fill(0xee);
      realWrite(source, length, position);
    };
    return wal;
  }

  const original = () => {
    const shared = new Uint8Array(new SharedArrayBuffer(100_000)).fill(0x11);
    return { shared, expected: new Uint8Array(100_000).fill(0x11) };
  };

  test("a large append writes a copy", () => {
    const { shared, expected } = original();
    using wal = racedLog(shared);
    wal.append(shared);
    expect([...wal.iter()].map((r) => r.data)).toEqual([expected]);
  });

  test("a large record of a batch writes a copy", () => {
    const { shared, expected } = original();
    using wal = racedLog(shared);
    wal.appendBatch(["first", shared]);
    expect([...wal.iter()].map((r) => r.data)).toEqual([
      new TextEncoder().encode("first"),
      expected,
    ]);
  });
});
