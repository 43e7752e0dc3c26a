/**
 * `worker.terminate()` inside the reserve-to-write window: a Worker attached to a file log has
 * reserved a record and is stopped before writing it, leaving a hole. The other writers (the
 * owner's thread and another Worker) append above the hole and make durable calls with a short
 * `stallTimeout`: each must end with a typed WalError, STALLED for a call that waited out the
 * timeout itself, POISONED for one that found the log already failed, and never hang. After the
 * process ends, reopening keeps exactly the records below the hole, none above it was ever
 * acknowledged, and appends work again. The scenario runs in a child (terminate-fixture.ts) so a
 * hang cannot freeze this runner and so the real file can be reopened once the child is gone.
 * No knobs: the test is not randomised.
 */

import { describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { SharedLog } from "../src/commit.ts";
import { Wal } from "../src/index.ts";
import { startFixture } from "./support/child.ts";
import { walErrorOf } from "./support/errors.ts";
import type { CallOutcome } from "./support/outcomes.ts";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();
const STALL_TIMEOUT_MS = 300;
/** The child gets this long; a durable call that hangs shows as a child that never ends. */
const CHILD_DEADLINE_MS = 30_000;
const text = (data: Uint8Array) => new TextDecoder().decode(data);

interface Result {
  readonly hole: number;
  readonly workerSync: CallOutcome;
  readonly mainCommit: CallOutcome;
  readonly later: Record<
    "mainSync" | "mainAppend" | "mainAppendAndSync" | "workerCommit",
    CallOutcome
  >;
  readonly close: CallOutcome;
  readonly reopen: CallOutcome;
}

/** What STALLED says: no progress for the timeout, at the hole's LSN. */
function stalledText(hole: number): string {
  return `no progress for ${STALL_TIMEOUT_MS} ms: the bytes at LSN ${hole} were reserved by a writer that never finished`;
}

describe("worker.terminate() between reserve and write", () => {
  test("other writers' sync and commit end with STALLED or POISONED, never hang; recovery keeps exactly the records below the hole", async () => {
    const path = logPath(dir);
    const child = startFixture("terminate-fixture.ts", [path, String(STALL_TIMEOUT_MS)]);
    const deadline = setTimeout(() => child.process.kill("SIGKILL"), CHILD_DEADLINE_MS);
    const run = await child.exited();
    clearTimeout(deadline);
    const output = run.stdout.join("\n");
    expect(run.signal, `the child hung and was killed:\n${output}`).toBeNull();
    expect(run.stderr).toBe("");
    expect(run.code, output).toBe(0);
    expect(run.stdout.filter((line) => line.startsWith("FAILED"))).toEqual([]);

    const resultLine = run.stdout.find((line) => line.startsWith("RESULT "));
    const result = JSON.parse(resultLine!.slice("RESULT ".length)) as Result;
    const { hole } = result;
    expect(run.stdout).toContain(`HOLE ${hole}`);
    const acks = run.stdout
      .filter((line) => line.startsWith("ACK "))
      .map((line) => {
        const [, lsn, ...words] = line.split(" ");
        return { lsn: Number(lsn), text: words.join(" ") };
      });
    const above = run.stdout.filter((line) => line.startsWith("ABOVE "));
    expect(above).toHaveLength(2);

    // Both durable calls behind the hole ended typed: STALLED for a caller that waited the
    // timeout out itself, POISONED for one that saw the log fail first. At least one of them
    // is the first to see it, so at least one is STALLED. (When each may declare it is checked
    // on a fake clock below; here the child's deadline is what proves nothing hangs.)
    const behind = [result.workerSync, result.mainCommit];
    for (const outcome of behind) {
      expect(outcome.kind).toBe("threw");
      if (outcome.kind !== "threw") continue;
      expect(outcome.walError).toBe(true);
      expect(["STALLED", "POISONED"]).toContain(String(outcome.code));
      expect(outcome.message).toContain(stalledText(hole));
      if (outcome.code === "POISONED") {
        expect(outcome.message).toStartWith("the Wal stopped accepting writes");
      }
    }
    expect(behind.map((outcome) => (outcome.kind === "threw" ? outcome.code : null))).toContain(
      "STALLED",
    );

    // Every later call fails at once with POISONED, naming the stall as the cause.
    for (const [name, outcome] of Object.entries(result.later)) {
      expect(outcome.kind, name).toBe("threw");
      if (outcome.kind !== "threw") continue;
      expect(outcome.code, name).toBe("POISONED");
      expect(outcome.walError, name).toBe(true);
      expect(outcome.message, name).toStartWith("the Wal stopped accepting writes");
      expect(outcome.message, name).toContain(stalledText(hole));
    }

    // close() waits stallTimeout for the dead writer, then keeps its descriptor (and so the
    // lock) open rather than let a late write land in another file: the reopen is LOCKED.
    expect(result.close.kind).toBe("ok");
    expect(result.reopen.kind === "threw" && result.reopen.code).toBe("LOCKED");

    // Nothing at or above the hole was acknowledged; what was is exactly what recovery keeps.
    expect(acks.map((ack) => ack.text)).toEqual([
      "main 0",
      "main 1",
      "worker 0",
      "worker 1",
      "main 2",
    ]);
    expect(acks.filter((ack) => ack.lsn >= hole)).toEqual([]);
    const size = statSync(path).size;
    expect(size).toBeGreaterThan(hole); // the records written above the hole are in the file
    for (let open = 0; open < 2; open++) {
      using wal = Wal.open(path);
      expect([...wal.iter()].map((r) => ({ lsn: r.lsn, text: text(r.data) }))).toEqual(acks);
      expect(wal.len).toBe(hole);
      expect(wal.recovery.bytesDropped).toBe(open === 0 ? size - hole : 0);
      if (open === 1) {
        // The log works again: the next record lands where the hole was.
        expect(wal.appendAndSync("after the hole")).toBe(hole);
      }
    }
    using wal = Wal.open(path);
    expect(wal.recovery.records).toBe(acks.length + 1);
  }, 60_000);
});

/**
 * The stall rules, checked against the readings of a fake clock instead of the wall clock, so
 * that they hold exactly and a loaded machine cannot move them. Each reading advances the
 * clock by STEP. A writer has reserved bytes it never writes: the `stuck` slot.
 */
describe("the stall rules, on a fake clock", () => {
  const TIMEOUT = 40;
  const STEP = 10;
  const noBarrier = () => {
    throw new Error("no barrier may run: the bytes below the target are never written");
  };

  function stuckLog() {
    const readings: number[] = [];
    let time = 1_000;
    const clock = () => {
      readings.push(time);
      time += STEP;
      return readings.at(-1)!;
    };
    const shared = SharedLog.create(0, 0, TIMEOUT, clock);
    const stuck = shared.takeWriteSlot(0);
    const hole = shared.reserve(stuck, 16);
    return { shared, readings, hole, target: hole + 16 };
  }

  test("STALLED at the first reading stallTimeout past the last progress, not one reading sooner", () => {
    const { shared, readings, hole, target } = stuckLog();
    const error = walErrorOf(() => shared.syncTo(target, null, shared.newId(), noBarrier));
    expect(error.code).toBe("STALLED");
    expect(error.message).toContain(`at LSN ${hole}`);
    // The first reading set the deadline; the one that threw is the first at or past it.
    const deadline = readings[0]! + TIMEOUT;
    expect(readings.at(-1)).toBeGreaterThanOrEqual(deadline);
    expect(readings.at(-2)).toBeLessThan(deadline);
    expect(readings).toHaveLength(TIMEOUT / STEP + 1);
  });

  test("after a stall, every durable call fails with POISONED without reading the clock", () => {
    const { shared, readings, target } = stuckLog();
    walErrorOf(() => shared.syncTo(target, null, shared.newId(), noBarrier));
    const before = readings.length;
    for (let call = 0; call < 3; call++) {
      const error = walErrorOf(() => shared.syncTo(target, null, shared.newId(), noBarrier));
      expect(error.code).toBe("POISONED");
    }
    expect(readings).toHaveLength(before);
  });

  test("close gives up on the stuck writer at the first reading stallTimeout after it began", () => {
    const { shared, readings } = stuckLog();
    expect(shared.close()).toBe(false);
    const deadline = readings[0]! + TIMEOUT;
    expect(readings.at(-1)).toBeGreaterThanOrEqual(deadline);
    expect(readings.at(-2)).toBeLessThan(deadline);
  });
});
