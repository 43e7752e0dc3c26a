/**
 * Every operation of a workload failed in turn, on the simulated disk (test/support/sim-disk.ts):
 * operation #k (a write, barrier, directory sync, truncate, rename, unlink, file creation or
 * mkdir, counted from the open on) fails once or from then on, with EIO, ENOSPC, EDQUOT or
 * EFBIG, or a write comes back short; k runs from 1 until the workload completes without
 * meeting the fault. A failed barrier drops the file's unsynced data from the durable image, as
 * Linux does, though reads still return it.
 *
 * For each run: every error the log throws is a `WalError`; once a write or barrier has failed,
 * no later durability call succeeds (fail-stop: a failed barrier is never retried and then
 * trusted); then a power loss: the image keeping only durable data, and the image keeping
 * everything, are recovered and checked against the oracle (test/support/oracle.ts); then the
 * caller's own next step, a reopen in the same boot once the fault has cleared (the page
 * cache still serving writes a failed barrier lost), an append and sync there, and a power
 * loss: that append, and everything acknowledged before the fault, must survive it.
 *
 * Also the real errno paths, on a disk whose kernel fails writes (test/support/faulty-disk.ts):
 * a write to a full file system fails with ENOSPC through `node:fs`, and a barrier whose
 * writeback the kernel failed fails with ENOSPC through `bun:ffi`; and a log opened on a
 * character device (`/dev/full`) is refused with a typed error. Knobs: WAL_SEED replays the
 * payloads; WAL_FAULT_ROUNDS repeats the workload (CI 1, times WAL_SCALE), so there are more
 * operations to fail.
 */

import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { FileStore, IoError, Wal, type WalError } from "../src/index.ts";
import { walErrorOf } from "./support/errors.ts";
import { faultyDisks } from "./support/faulty-disk.ts";
import { reportFigures, sized } from "./support/knobs.ts";
import { typed } from "./support/oracle.ts";
import { mulberry32, seedFromEnv } from "./support/random.ts";
import { type Fault, imageOf, SimDisk } from "./support/sim-disk.ts";
import {
  addTally,
  checkRecovery,
  clean,
  Driver,
  emptyTally,
  type LogKind,
  openSim,
  type Seams,
  type Tally,
} from "./support/sim-harness.ts";

const SEED = seedFromEnv(0xfa017);
const disks = faultyDisks("faults.test.ts");
const ERRNOS = ["EIO", "ENOSPC", "EDQUOT", "EFBIG"] as const;
const total = emptyTally();
/** Runs in which the injected fault was hit, and failures injected in all (sticky ones repeat). */
let faultedRuns = 0;
let injected = 0;
/** Durability calls that succeeded after a write or barrier had failed, over every run. */
let notFailStop = 0;

/** Rounds of the workload: each adds its operations to the indices failed in turn. */
const ROUNDS = sized("WAL_FAULT_ROUNDS", 1);

/** The workload, ROUNDS times: every kind of call, so every kind of operation is reached. */
function steps(kind: LogKind): ((driver: Driver, lsns: number[]) => unknown)[] {
  return Array.from({ length: ROUNDS }, () => round(kind)).flat();
}

function round(kind: LogKind): ((driver: Driver, lsns: number[]) => unknown)[] {
  const list: ((driver: Driver, lsns: number[]) => unknown)[] = [
    (d, lsns) => lsns.push(d.append()),
    (d, lsns) => lsns.push(d.append()),
    (d) => d.sync(),
    (d, lsns) => d.commit().then((lsn) => lsns.push(lsn)),
    (d, lsns) => lsns.push(...d.appendBatch(3)),
    (d, lsns) => lsns.push(d.appendAndSync()),
    (d, lsns) => d.truncateAfter(lsns[3]!),
    (d, lsns) => lsns.push(d.append()),
    (d) => d.syncAsync(),
  ];
  if (kind === "segmented") list.push((d, lsns) => d.truncateBefore(lsns[2]!));
  list.push((d, lsns) => lsns.push(d.appendAndSync()));
  return list;
}

/** What one run under one fault did. */
interface Run {
  readonly operations: number;
  readonly injected: number;
  readonly tally: Tally;
  /** Durability calls that succeeded after a write or barrier had failed. */
  readonly notFailStop: number;
}

async function runWithFault(
  kind: LogKind,
  fault: Fault | null,
  seams?: (disk: SimDisk) => Seams,
): Promise<Run> {
  const disk = new SimDisk();
  disk.injectFault(fault);
  const tally = emptyTally();
  let notFailStop = 0;
  let driver: Driver | null = null;
  /** The workload's operations: the indices a fault can hit (the checks after it add more). */
  let operations = 0;
  const untyped = (error: unknown) => {
    if (!typed(error)) {
      tally.untyped++;
      tally.problems.push(`untyped: ${String(error)}`);
    }
  };
  try {
    driver = new Driver(openSim(disk, kind, seams?.(disk) ?? disk), mulberry32(SEED));
  } catch (error) {
    untyped(error);
  }
  if (driver !== null) {
    const lsns: number[] = [];
    let failed = false;
    for (const step of steps(kind)) {
      const acked = driver.model.snapshot().filter((r) => r.acked).length;
      try {
        await step(driver, lsns);
        const nowAcked = driver.model.snapshot().filter((r) => r.acked).length;
        if (failed && nowAcked > acked) notFailStop++;
      } catch (error) {
        untyped(error);
        const code = (error as WalError).code;
        // A refused argument (a step that needed an LSN an earlier failure never produced)
        // is not an I/O failure.
        if (code !== "INVALID_ARGUMENT") failed = true;
      }
    }
    try {
      driver.wal.close();
    } catch (error) {
      untyped(error);
    }
    const model = driver.model.snapshot();
    const where = `${kind}, fault ${JSON.stringify(fault)}`;
    checkRecovery(disk.afterPowerLoss(), kind, model, tally, `${where}, pending lost`);
    const state = disk.crashState();
    checkRecovery(imageOf(state, state.pending), kind, model, tally, `${where}, pending persisted`);
    // Last, as it changes the disk: the reopen a caller makes after POISONED, in this boot.
    operations = disk.operations;
    disk.injectFault(null);
    checkRecovery(disk, kind, model, tally, `${where}, reopened in the same boot`);
  }
  return {
    operations: operations || disk.operations,
    injected: disk.faultsInjected,
    tally,
    notFailStop,
  };
}

function add(run: Run): void {
  if (run.injected > 0) faultedRuns++;
  injected += run.injected;
  addTally(total, run.tally);
  notFailStop += run.notFailStop;
}

describe.each(["file", "segmented"] as LogKind[])(
  "every operation failed in turn, %s log",
  (kind) => {
    const variants: { name: string; fault: (at: number) => Fault }[] = [];
    for (const errno of ERRNOS) {
      variants.push({ name: `${errno} once`, fault: (at) => ({ at, errno, mode: "once" }) });
      variants.push({
        name: `${errno} from then on`,
        fault: (at) => ({ at, errno, mode: "sticky" }),
      });
    }
    variants.push({
      name: "a short write",
      fault: (at) => ({ at, errno: "ENOSPC", mode: "once", shortWrite: true }),
    });

    for (const variant of variants) {
      test(`${variant.name} (WAL_SEED=${SEED})`, async () => {
        const baseline = await runWithFault(kind, null);
        expect(clean(baseline.tally)).toBe(true);
        let reachedEnd = false;
        let hit = 0;
        for (let at = 1; !reachedEnd; at++) {
          const run = await runWithFault(kind, variant.fault(at));
          add(run);
          if (run.injected === 0) reachedEnd = true;
          else hit++;
          if (!clean(run.tally) || run.notFailStop > 0) {
            throw new Error(
              `${variant.name} at operation ${at}: ${run.notFailStop} acknowledgements after a failure; ` +
                JSON.stringify(run.tally, null, 1),
            );
          }
        }
        // Every operation of the fault-free run was failed once.
        expect(hit).toBeGreaterThanOrEqual(baseline.operations);
      });
    }
  },
);

describe("the real errno paths, on a disk whose kernel fails writes", () => {
  test.skipIf(!disks.runs)(
    "FileStore.write() on a full file system fails with ENOSPC through node:fs",
    () => {
      using disk = disks.make();
      disk.failWrites();
      // The tmpfs under the disk is full now: a new file there cannot get a single page.
      const store = FileStore.open(join(disk.backing, "full.wal"));
      try {
        const write = walErrorOf(() => store.write(new Uint8Array(16), 16, 0));
        expect(write).toBeInstanceOf(IoError);
        expect((write as IoError).syscall).toBe("write");
        expect((write as IoError).errno).toBe("ENOSPC");
      } finally {
        store.close();
      }
    },
  );

  test.skipIf(!disks.runs)(
    "FileStore.sync() fails with ENOSPC through bun:ffi when the kernel's writeback fails",
    () => {
      using disk = disks.make();
      const store = FileStore.open(join(disk.mountPoint, "barrier.wal"));
      try {
        disk.failWrites();
        // New blocks: the write only fills the page cache, and their writeback fails.
        store.write(new Uint8Array(64 * 1024).fill(1), 64 * 1024, 0);
        const barrier = walErrorOf(() => store.sync());
        expect(barrier).toBeInstanceOf(IoError);
        expect((barrier as IoError).syscall).toBe("fdatasync");
        expect((barrier as IoError).errno).toBe("ENOSPC");
      } finally {
        store.close();
      }
    },
  );
});

test.skipIf(process.platform !== "linux")(
  "Wal.open() of a character device (/dev/full) is refused with NOT_A_LOG",
  () => {
    const refused = walErrorOf(() => Wal.open("/dev/full").close());
    expect(refused.code).toBe("NOT_A_LOG");
    expect(refused.message).toContain("it is a character device");
  },
);

afterAll(() => {
  reportFigures("faults", {
    checked: faultedRuns,
    unit: "runs with an injected fault",
    lost: total.lost,
    phantom: total.phantom,
    untyped: total.untyped,
    extra: {
      injected,
      recoveredImages: total.images,
      refused: total.refused,
      unstable: total.unstable,
      notFailStop,
    },
    seed: SEED,
  });
});
