/**
 * `replay`: open passes each record recovery keeps to the caller while it scans, so a log is
 * read and checked once. What must hold, on every store: exactly the records `iter` yields,
 * in order, byte for byte; none that recovery cuts; a refused open or a throwing callback
 * leaves every byte of the log as it was.
 */

import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { Wal, type WalOptions } from "../src/index.ts";
import { walErrorOf } from "./support/errors.ts";
import { seededRecords } from "./support/random.ts";
import { allStoreKinds, type LogUnderTest, type StoreKind } from "./support/stores.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();

/** Forty payloads of 0 to 2,999 seeded bytes: records span the 16 KiB segments. */
const { payloads, lsns, total } = seededRecords(0x4e91, 40, 3000);

function writeLog(kind: StoreKind): LogUnderTest {
  const log = kind.create();
  using wal = log.open();
  for (const payload of payloads) wal.append(payload);
  wal.sync();
  return log;
}

/** Opens `log` with `options` and a replay that copies what it is passed. */
function replayed(log: LogUnderTest, options: WalOptions = {}) {
  const seen: { lsn: number; data: Uint8Array }[] = [];
  const wal = log.open({
    ...options,
    replay: (data, lsn) => seen.push({ lsn, data: data.slice() }),
  });
  return { wal, seen };
}

describe.each(allStoreKinds(dir))("$name store", (kind) => {
  test("replay passes every record, in LSN order, byte for byte what iter() yields", () => {
    const log = writeLog(kind);
    const { wal, seen } = replayed(log);
    using _ = wal;
    expect(seen.map((r) => r.lsn)).toEqual(lsns);
    const iterated = [...wal.iter()];
    expect(seen.every((r, i) => Buffer.from(r.data).equals(iterated[i]!.data))).toBe(true);
    expect(seen.every((r, i) => Buffer.from(r.data).equals(payloads[i]!))).toBe(true);
  });

  test("replay never passes a record the default open cuts after damage", () => {
    const log = writeLog(kind);
    const bytes = log.bytes().slice();
    bytes[lsns[25]! + 8]! ^= 0x01; // a payload bit of record 25 (its payload is not empty)
    expect(payloads[25]!.length).toBeGreaterThan(0);
    log.setBytes(bytes);
    const { wal, seen } = replayed(log);
    using _ = wal;
    expect(wal.recovery.recordsDropped).toBe(payloads.length - 26);
    expect(seen.map((r) => r.lsn)).toEqual(lsns.slice(0, 25));
  });

  test('replay under recovery "skip" passes the records after the damage too', () => {
    const log = writeLog(kind);
    const bytes = log.bytes().slice();
    bytes[lsns[25]! + 8]! ^= 0x01;
    log.setBytes(bytes);
    const { wal, seen } = replayed(log, { recovery: "skip" });
    using _ = wal;
    expect(seen.map((r) => r.lsn)).toEqual(lsns.filter((_, i) => i !== 25));
  });

  test("a replay that throws makes open throw it, with the log left unchanged", () => {
    const log = writeLog(kind);
    // A torn tail, which a completed open would cut.
    const torn = new Uint8Array([...log.bytes(), 1, 2, 3]);
    log.setBytes(torn);
    const failure = new Error("the engine refused record 10");
    expect(() =>
      log.open({
        replay: (_data, lsn) => {
          if (lsn === lsns[10]) throw failure;
        },
      }),
    ).toThrow(failure);
    expect(Buffer.from(log.bytes()).equals(torn)).toBe(true);
    // The refused open released the log.
    using wal = log.open();
    expect(wal.len).toBe(total);
  });
});

test("a replay that is not a function throws INVALID_ARGUMENT before any file is created", () => {
  const path = logPath(dir);
  const error = walErrorOf(() => Wal.open(path, { replay: "apply" } as never));
  expect(error.code).toBe("INVALID_ARGUMENT");
  expect(error.message).toContain("replay");
  expect(existsSync(path)).toBe(false);
});
