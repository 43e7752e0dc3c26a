/**
 * Typed records (`codec`): values go in through `append`, `appendAndSync`, `commit` and
 * `appendBatch` and come back from `iter`, `iterFrom` and `replay` equal to what went in, in
 * a frame format that does not change (a codec only decides the payload). A codec that fails
 * fails the call with `CODEC` and nothing written; a bad codec option is refused at open.
 */

import { describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { type Codec, codecs, Wal } from "../src/index.ts";
import { walErrorOf, walRejectionOf } from "./support/errors.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();

interface Order {
  id: number;
  item: string;
  tags: string[];
  price: number | null;
}

const orders: Order[] = Array.from({ length: 40 }, (_, id) => ({
  id,
  item: `item-${id} ✓ ${"x".repeat(id * 7)}`,
  tags: id % 3 === 0 ? [] : ["a", "b"],
  price: id % 5 === 0 ? null : id * 1.25,
}));

/** Compresses each payload: the frame stays the same, only the payload bytes change. */
const gzipJson: Codec<Order> = {
  encode: (value) => Bun.gzipSync(codecs.json.encode(value)),
  // Payloads the log hands back never live in a SharedArrayBuffer.
  decode: (bytes) => codecs.json.decode(Bun.gunzipSync(bytes as Uint8Array<ArrayBuffer>)),
};

describe("codecs", () => {
  test("json: every write call takes values, and iter, iterFrom and replay give them back", async () => {
    const path = logPath(dir);
    const lsns: number[] = [];
    {
      using wal = Wal.open<Order>(path, { codec: codecs.json });
      lsns.push(wal.append(orders[0]!));
      lsns.push(wal.appendAndSync(orders[1]!));
      lsns.push(await wal.commit(orders[2]!));
      lsns.push(...wal.appendBatch(orders.slice(3)));
      wal.sync();
      expect([...wal.iter()].map((r) => r.data)).toEqual(orders);
      expect([...wal.iterFrom(lsns[10]!)].map((r) => r.lsn)).toEqual(lsns.slice(10));
    }
    const replayed: Order[] = [];
    using again = Wal.open<Order>(path, {
      codec: codecs.json,
      replay: (order, lsn) => {
        expect(lsn).toBe(lsns[replayed.length]!);
        replayed.push(order);
      },
    });
    expect(replayed).toEqual(orders);
    expect(again.recovery.records).toBe(orders.length);
  });

  test("the frame format does not change: a json log is the log of its JSON texts", () => {
    const typed = logPath(dir);
    const plain = logPath(dir);
    {
      using wal = Wal.open<Order>(typed, { codec: codecs.json, preallocate: 0 });
      for (const order of orders) wal.append(order);
    }
    {
      using wal = Wal.open(plain, { preallocate: 0 });
      for (const order of orders) wal.append(JSON.stringify(order));
    }
    expect(Buffer.from(readFileSync(typed)).equals(readFileSync(plain))).toBe(true);
  });

  test("utf8 round-trips strings; a payload that is not UTF-8 fails to decode with CODEC", () => {
    const path = logPath(dir);
    const texts = ["", "plain", "ünïcödé", "emoji 🎉", "\u0000 nul inside"];
    {
      using wal = Wal.open<string>(path, { codec: codecs.utf8 });
      for (const text of texts) wal.append(text);
      expect([...wal.iter()].map((r) => r.data)).toEqual(texts);
    }
    let badLsn: number;
    {
      using raw = Wal.open(path);
      badLsn = raw.append(Uint8Array.of(0xff, 0xfe, 0x41));
    }
    using wal = Wal.open<string>(path, { codec: codecs.utf8 });
    const read: string[] = [];
    const error = walErrorOf(() => {
      for (const record of wal.iter()) read.push(record.data);
    });
    expect(read).toEqual(texts);
    expect(error.code).toBe("CODEC");
    expect(error.message).toContain(`record at ${badLsn}`);
  });

  test("a codec may compress: the payloads shrink, the values come back", () => {
    const path = logPath(dir);
    const big = orders.map((order) => ({ ...order, item: order.item.repeat(50) }));
    {
      using wal = Wal.open<Order>(path, { codec: gzipJson, preallocate: 0 });
      wal.appendBatch(big);
      wal.sync();
    }
    const jsonBytes = big.reduce((sum, order) => sum + 8 + JSON.stringify(order).length, 0);
    expect(statSync(path).size).toBeLessThan(jsonBytes / 4);
    using wal = Wal.open<Order>(path, { codec: gzipJson });
    expect([...wal.iter()].map((r) => r.data)).toEqual(big);
  });

  test("a Wal attached with a codec writes values its owner reads back", () => {
    const path = logPath(dir);
    using owner = Wal.open<Order>(path, { codec: codecs.json });
    using attached = Wal.attach<Order>(owner.share(), { codec: codecs.json });
    attached.appendAndSync(orders[4]!);
    expect([...owner.iter()].map((r) => r.data)).toEqual([orders[4]!]);
  });

  test("a codec that throws or returns no bytes fails the call with CODEC, nothing written", async () => {
    const path = logPath(dir);
    const failing: Codec<number> = {
      encode: (value) => {
        if (value < 0) throw new RangeError("negative");
        return value === 0 ? ("zero" as unknown as Uint8Array) : Uint8Array.of(value);
      },
      decode: (bytes) => bytes[0]!,
    };
    using wal = Wal.open<number>(path, { codec: failing });
    wal.append(7);
    const before = wal.len;
    const thrown = walErrorOf(() => wal.append(-1));
    expect(thrown.code).toBe("CODEC");
    expect(thrown.message).toContain("negative");
    expect(walErrorOf(() => wal.append(0)).code).toBe("CODEC");
    expect(walErrorOf(() => wal.appendBatch([1, 2, -3])).message).toContain("element 2");
    expect((await walRejectionOf(wal.commit(-1))).code).toBe("CODEC");
    expect(wal.len).toBe(before);
    wal.sync();
    expect([...wal.iter()].map((r) => r.data)).toEqual([7]);
    using json = Wal.open(logPath(dir), { codec: codecs.json });
    // A log that names no type holds JSON values: the compiler refuses undefined, and a caller
    // past the compiler still gets CODEC.
    // @ts-expect-error undefined has no JSON text
    expect(walErrorOf(() => json.append(undefined)).code).toBe("CODEC");
  });

  test("a codec without encode and decode functions is refused before the file is created", () => {
    const path = logPath(dir);
    for (const codec of [{}, { encode: () => new Uint8Array() }, "json", null]) {
      const error = walErrorOf(() => Wal.open(path, { codec } as never));
      expect(error.code).toBe("INVALID_ARGUMENT");
      expect(error.message).toContain("codec");
    }
    expect(() => statSync(path)).toThrow();
  });
});
