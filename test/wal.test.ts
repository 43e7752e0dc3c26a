/**
 * The four-call API and its errors, run over every store: what append returns, what iter
 * yields, what each bad input gets, and that a rejected call leaves the bytes unchanged.
 */

import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { MemoryStore, Wal, type WalStore } from "../src/index.ts";
import { walErrorOf as errorOf } from "./support/errors.ts";
import { allStoreKinds } from "./support/stores.ts";
import { tempDir } from "./support/temp.ts";

const dir = tempDir();
const utf8 = new TextEncoder();
const text = (data: Uint8Array) => new TextDecoder().decode(data);

describe.each(allStoreKinds(dir))("$name store", (kind) => {
  test("Wal.open() of a new log is empty", () => {
    using wal = kind.create().open();
    expect(wal.len).toBe(0);
    expect(wal.isEmpty).toBe(true);
    expect([...wal.iter()]).toEqual([]);
    expect(wal.recovery).toEqual({
      head: 0,
      damagedRegions: 0,
      records: 0,
      storeSize: 0,
      end: 0,
      bytesDropped: 0,
      reason: null,
      recordsDropped: 0,
      barrier: "full",
    });
  });

  test("Wal.append() returns byte offsets: 'a state change' at 0, the next record at 22", () => {
    using wal = kind.create().open();
    expect(wal.append("a state change")).toBe(0);
    expect(wal.len).toBe(22);
    expect(wal.isEmpty).toBe(false);
    expect(wal.append(new Uint8Array(0))).toBe(22);
    expect(wal.append("x")).toBe(30);
    expect(wal.len).toBe(39);
  });

  test("Wal.iter() yields every record, in order, with its LSN and exact bytes", () => {
    const log = kind.create();
    const payloads = [
      utf8.encode("first"),
      new Uint8Array(0),
      new Uint8Array(64 * 1024).map((_, i) => i * 7),
      new Uint8Array(64 * 1024 + 1).map((_, i) => i * 13), // past the copy buffer: written in place
      new Uint8Array(3 * 1024 * 1024).map((_, i) => i ^ (i >> 8)), // longer than a scan chunk
      utf8.encode("last"),
    ];
    let lsns: number[];
    {
      using wal = log.open();
      lsns = payloads.map((p) => wal.append(p));
      wal.sync();
      expect([...wal.iter()].map((r) => r.lsn)).toEqual(lsns);
    }
    using wal = log.open();
    const records = [...wal.iter()];
    expect(records.map((r) => r.lsn)).toEqual(lsns);
    records.forEach((record, i) => {
      expect(record.data).toEqual(payloads[i]!);
    });
    expect(wal.recovery.records).toBe(payloads.length);
  });

  test("Wal.append() stores strings as UTF-8, short and long, and views at their own bytes", () => {
    using wal = kind.create().open();
    const strings = ["", "plain", "é and 漢字 and 🦀", "ü".repeat(30_000), "long ".repeat(40_000)];
    const lsns = strings.map((s) => wal.append(s));
    const backing = utf8.encode("..inside a larger buffer..");
    const view = backing.subarray(2, 8);
    const viewLsn = wal.append(view);
    const records = [...wal.iter()];
    expect(records.map((r) => r.lsn)).toEqual([...lsns, viewLsn]);
    expect(records.slice(0, strings.length).map((r) => text(r.data))).toEqual(strings);
    expect(text(records.at(-1)!.data)).toBe("inside");
  });

  test("Wal.iter() ends where the log ended when it was called", () => {
    using wal = kind.create().open();
    wal.append("one");
    wal.append("two");
    const seen: string[] = [];
    for (const record of wal.iter()) {
      seen.push(text(record.data));
      wal.append("appended while iterating");
    }
    expect(seen).toEqual(["one", "two"]);
    expect([...wal.iter()]).toHaveLength(4);
  });

  test("Wal.iterFrom() starts at any record, and yields nothing at or past the end", () => {
    using wal = kind.create().open();
    const lsns = ["a", "bb", "", "dddd"].map((s) => wal.append(s));
    lsns.forEach((lsn, i) => {
      expect([...wal.iterFrom(lsn)].map((r) => r.lsn)).toEqual(lsns.slice(i));
    });
    expect([...wal.iterFrom(wal.len)]).toEqual([]);
    expect([...wal.iterFrom(wal.len + 1000)]).toEqual([]);
  });

  test("Wal.iterFrom() seeks to records deep in a reopened log of many strides", () => {
    const log = kind.create();
    const lsns: number[] = [];
    {
      using wal = log.open();
      // ~1.2 MiB of records with sizes that do not divide the index stride.
      for (let i = 0; i < 3000; i++) lsns.push(wal.append(new Uint8Array(397 + (i % 11)).fill(i)));
      wal.sync();
    }
    using wal = log.open();
    for (const i of [0, 1, 659, 660, 661, 1500, 2998, 2999]) {
      const records = [...wal.iterFrom(lsns[i]!)];
      expect(records[0]!.lsn).toBe(lsns[i]!);
      expect(records[0]!.data[0]).toBe(i & 0xff);
      expect(records).toHaveLength(3000 - i);
    }
    expect(errorOf(() => wal.iterFrom(lsns[1500]! + 9)).code).toBe("INVALID_ARGUMENT");
  });

  test("Wal.iterFrom() of an LSN inside a record throws INVALID_ARGUMENT", () => {
    using wal = kind.create().open();
    const lsn = wal.append("a record of some length");
    wal.append("another");
    for (const inside of [lsn + 1, lsn + 4, lsn + 8, lsn + 20]) {
      expect(errorOf(() => wal.iterFrom(inside)).code).toBe("INVALID_ARGUMENT");
    }
  });

  test("Wal.iterFrom() of a non-integer or negative LSN throws INVALID_ARGUMENT", () => {
    using wal = kind.create().open();
    wal.append("x");
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "0", null, 2 ** 53]) {
      expect(errorOf(() => wal.iterFrom(bad as number)).code).toBe("INVALID_ARGUMENT");
    }
  });

  test("Wal.append() over maxRecordSize throws RECORD_TOO_LARGE and writes nothing", () => {
    const log = kind.create();
    {
      using wal = log.open({ maxRecordSize: 100 });
      wal.append("kept");
      const before = wal.len;
      for (const tooLarge of [
        new Uint8Array(101),
        "x".repeat(101),
        "é".repeat(51), // 51 characters, 102 bytes of UTF-8
        "y".repeat(200_000), // rejected before it is encoded
      ]) {
        const error = errorOf(() => wal.append(tooLarge));
        expect(error.code).toBe("RECORD_TOO_LARGE");
        expect(error.message).toContain("maxRecordSize (100 bytes)");
        expect(wal.len).toBe(before);
      }
      // The rejection does not poison: the exact limit is accepted afterwards.
      expect(wal.append(new Uint8Array(100))).toBe(before);
      expect(wal.append("é".repeat(50))).toBe(before + 108);
    }
    using wal = log.open({ maxRecordSize: 100 });
    expect([...wal.iter()].map((r) => r.data.length)).toEqual([4, 100, 100]);
  });

  test("Wal.append() of anything but bytes or a string throws INVALID_ARGUMENT, writing nothing", () => {
    const log = kind.create();
    {
      using wal = log.open();
      wal.append("kept");
      for (const bad of [42, null, undefined, {}, [1, 2], new ArrayBuffer(4), new Int16Array(2)]) {
        expect(errorOf(() => wal.append(bad as unknown as string)).code).toBe("INVALID_ARGUMENT");
      }
      expect(wal.len).toBe(12);
    }
    expect(log.bytes()).toHaveLength(12);
  });

  test("every call after Wal.close() throws CLOSED; close() itself is idempotent", () => {
    const wal = kind.create().open();
    wal.append("x");
    wal.close();
    wal.close();
    const calls: [string, () => unknown][] = [
      ["append", () => wal.append("y")],
      ["sync", () => wal.sync()],
      ["appendAndSync", () => wal.appendAndSync("y")],
      ["iter", () => wal.iter()],
      ["iterFrom", () => wal.iterFrom(0)],
      ["len", () => wal.len],
      ["isEmpty", () => wal.isEmpty],
    ];
    for (const [name, call] of calls) {
      expect([name, errorOf(call).code]).toEqual([name, "CLOSED"]);
    }
  });

  test("an iterator throws CLOSED when the log is closed under it", () => {
    const wal = kind.create().open();
    wal.append("one");
    wal.append("two");
    const iterator = wal.iter();
    expect(iterator.next().value?.lsn).toBe(0);
    wal.close();
    expect(errorOf(() => iterator.next()).code).toBe("CLOSED");
  });

  test("`using` closes the log at the end of the scope", () => {
    const log = kind.create();
    let escaped: Wal;
    {
      using wal = log.open();
      wal.appendAndSync("scoped");
      escaped = wal;
    }
    expect(errorOf(() => escaped.len).code).toBe("CLOSED");
    using again = log.open(); // for the file store this also proves the lock was released
    expect(again.len).toBe(14);
  });

  test("Wal.open() with bad options throws INVALID_ARGUMENT", () => {
    const log = kind.create();
    for (const options of [
      { maxRecordSize: -1 },
      { maxRecordSize: 2 ** 32 },
      { maxRecordSize: 1.5 },
      { maxRecordSize: "64" },
      { maxRecordsize: 10 },
      null,
      "options",
    ]) {
      expect(errorOf(() => log.open(options as never)).code).toBe("INVALID_ARGUMENT");
    }
  });

  test("Wal.open() with a smaller maxRecordSize than a record in the log refuses and cuts nothing", () => {
    const log = kind.create();
    {
      using wal = log.open();
      wal.append("small");
      wal.append(new Uint8Array(5000));
      wal.append("after");
      wal.sync();
    }
    const before = log.bytes();
    const error = errorOf(() => log.open({ maxRecordSize: 4096 }));
    expect(error.code).toBe("RECORD_TOO_LARGE");
    expect(error.message).toContain("maxRecordSize >= 5000");
    expect(log.bytes()).toEqual(before);
    using wal = log.open({ maxRecordSize: 5000 });
    expect(wal.recovery.records).toBe(3);
  });
});

test("Wal.open() with bad options creates no file", () => {
  const path = join(dir, "never-created.wal");
  expect(errorOf(() => Wal.open(path, { maxRecordSize: -5 })).code).toBe("INVALID_ARGUMENT");
  expect(existsSync(path)).toBe(false);
});

test("Wal.open() of a path in a missing directory throws NOT_FOUND naming the directory", () => {
  const error = errorOf(() => Wal.open(join(dir, "missing", "x.wal")));
  expect(error.code).toBe("NOT_FOUND");
  expect(error.message).toContain(`its directory ${join(dir, "missing")} does not exist`);
  expect((error.cause as { code: string }).code).toBe("ENOENT");
  expect(existsSync(join(dir, "missing"))).toBe(false);
});

test("Wal.open() of a non-string path throws INVALID_ARGUMENT", () => {
  for (const bad of [undefined, 42, "", {}]) {
    expect(errorOf(() => Wal.open(bad as string)).code).toBe("INVALID_ARGUMENT");
  }
});

test("Wal.withStore() of something that is not a store throws INVALID_ARGUMENT", () => {
  for (const bad of [null, {}, { read() {} }]) {
    expect(errorOf(() => Wal.withStore(bad as unknown as WalStore)).code).toBe("INVALID_ARGUMENT");
  }
  expect(Wal.withStore(new MemoryStore()).len).toBe(0);
});
