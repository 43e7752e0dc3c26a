/**
 * What a caller reads when it passes the wrong thing: every `INVALID_ARGUMENT` names the call,
 * says what it takes and what it got, in words (never "got undefined undefined", never a
 * function's whole source), and says what to pass instead.
 */

import { describe, expect, test } from "bun:test";
import { describeValue } from "../src/errors.ts";
import { MemoryStore, Wal } from "../src/index.ts";
import { walErrorOf } from "./support/errors.ts";

/** A value of every kind a caller can pass by mistake, and how a message must name it. */
const WRONG_VALUES: readonly [string, unknown, string][] = [
  ["undefined", undefined, "got undefined"],
  ["null", null, "got null"],
  ["NaN", Number.NaN, "got NaN"],
  ["a negative number", -3, "got -3"],
  ["a fraction", 1.5, "got 1.5"],
  ["a boolean", true, "got true"],
  ["a string", "12", 'got the string "12"'],
  ["a function", function replayAll() {}, "got the function replayAll"],
  ["an anonymous function", () => {}, "got a function"],
  ["a symbol", Symbol("lsn"), "got the symbol Symbol(lsn)"],
  ["a bigint", 12n, "got the bigint 12n"],
  ["a plain object", { lsn: 12 }, "got an object"],
  ["an array", [1, 2], "got an array of 2 elements"],
  ["a class instance", new Map(), "got a Map"],
  ["an instance named with a vowel", new ArrayBuffer(1), "got an ArrayBuffer"],
];

describe("error messages", () => {
  test("iterFrom(undefined) says it takes a non-negative integer LSN and what to pass", () => {
    using wal = Wal.withStore(new MemoryStore());
    const error = walErrorOf(() => wal.iterFrom(undefined as never));
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toBe(
      "iterFrom: lsn must be a non-negative integer LSN (one that append returned, or len), got undefined",
    );
  });

  test("append(undefined) says it takes bytes or a string, and how to log other values", () => {
    using wal = Wal.withStore(new MemoryStore());
    const error = walErrorOf(() => wal.append(undefined as never));
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message).toBe(
      "append takes the record as a Uint8Array or a string (stored as UTF-8), got undefined; " +
        "to log other values, open the log with a codec",
    );
    expect(wal.len).toBe(0);
  });

  test("checksum() names the argument that is wrong", () => {
    using wal = Wal.withStore(new MemoryStore());
    const lsn = wal.append("a");
    const none = walErrorOf(() => (wal.checksum as () => number)());
    expect(none.code).toBe("INVALID_ARGUMENT");
    expect(none.message).toBe(
      "checksum: fromLsn must be a non-negative integer LSN (one that append returned, or len), got undefined",
    );
    const noEnd = walErrorOf(() => (wal.checksum as (from: number) => number)(lsn));
    expect(noEnd.message).toBe(
      "checksum: toLsn must be a non-negative integer LSN (one that append returned, or len), got undefined",
    );
  });

  test.each(WRONG_VALUES)("iterFrom(%s) names the value in words", (_, value, named) => {
    using wal = Wal.withStore(new MemoryStore());
    const error = walErrorOf(() => wal.iterFrom(value as never));
    expect(error.code).toBe("INVALID_ARGUMENT");
    expect(error.message.endsWith(named)).toBe(true);
  });

  test.each(WRONG_VALUES.filter(([, value]) => typeof value !== "string"))(
    "append(%s) names the value in words",
    (_, value, named) => {
      using wal = Wal.withStore(new MemoryStore());
      const error = walErrorOf(() => wal.append(value as never));
      expect(error.code).toBe("INVALID_ARGUMENT");
      expect(error.message).toContain(`, ${named};`);
    },
  );

  test.each(WRONG_VALUES.slice(1))(
    "Wal.withStore options of %s name the value in words",
    (_, value, named) => {
      const error = walErrorOf(() =>
        Wal.withStore(new MemoryStore(), { maxRecordSize: value as never }),
      );
      expect(error.code).toBe("INVALID_ARGUMENT");
      expect(error.message).toBe(`maxRecordSize must be an integer from 0 to 4294967295, ${named}`);
    },
  );

  test("describeValue() never prints a function's source or a long string whole", () => {
    const long = "x".repeat(100);
    expect(describeValue(long)).toBe(`the string "${"x".repeat(40)}…"`);
    expect(
      describeValue(function withABody() {
        return 42;
      }),
    ).toBe("the function withABody");
    expect(describeValue(Object.create(null))).toBe("an object");
    expect(describeValue([1])).toBe("an array of 1 element");
    expect(describeValue(new Uint8Array(3))).toBe("a Uint8Array of 3 bytes");
    expect(describeValue(new Int32Array(2))).toBe("an Int32Array of 2 elements");
  });
});
