/**
 * Negative controls: proof that the crash-image and fault harnesses see the bugs they exist to
 * catch. Each test runs a harness with one safety step of the log removed, by running the
 * workload on a copy of the simulated disk's seams that skips that step while reporting
 * success, and asserts that the harness reports lost or stale records. If a harness stopped
 * checking (an oracle that accepts anything, images that never drop unsynced data), these
 * tests fail.
 *
 * - no directory sync: a new log file's or segment's name is never made durable;
 * - acknowledging above a hole: one write silently never reaches the disk, and the log
 *   acknowledges the records after it;
 * - retrying a failed barrier: a barrier that fails with EIO is retried, and its success
 *   trusted, though the failure dropped the data;
 * - a truncation that is not durable: the barrier after a cut is skipped;
 * - trusting the page cache: a reopen in the same boot after a failed barrier reads without
 *   dropping the file's cached pages, so it sees writes the barrier lost.
 */

import { describe, expect, test } from "bun:test";
import type { Workload } from "./support/explore.ts";
import { explore } from "./support/explore.ts";
import { mulberry32, seedFromEnv } from "./support/random.ts";
import { SimDisk } from "./support/sim-disk.ts";
import {
  checkRecovery,
  Driver,
  emptyTally,
  type LogKind,
  openSim,
  type Seams,
} from "./support/sim-harness.ts";

const SEED = seedFromEnv(0x0c0de);
const BUDGET = { randomSubsets: 2, tearsPerWrite: 1 };

const appendsAndSyncs: Workload = async (driver) => {
  for (let i = 0; i < 6; i++) {
    if (i % 2 === 0) driver.appendAndSync();
    else await driver.commit();
  }
};

const truncation: Workload = (driver) => {
  // Records small enough that several share a 64-byte segment: a cut inside one segment.
  const lsns = [1, 2, 3, 4].map((i) => driver.append(Uint8Array.of(i, i, i, i)));
  driver.sync();
  driver.truncateAfter(lsns[0]!);
};

/** The disk's seams with `change` applied to a copy. */
function broken(change: (disk: SimDisk, seams: Seams) => Partial<Seams>): (disk: SimDisk) => Seams {
  return (disk) => {
    const seams = { fileSystem: { ...disk.fileSystem }, platform: { ...disk.platform } };
    return { ...seams, ...change(disk, seams) };
  };
}

const noDirectorySync = broken((_, seams) => ({
  platform: { ...seams.platform, syncDirectory: () => "full" },
}));

const writeLost = broken((_, seams) => {
  let writes = 0;
  return {
    fileSystem: {
      ...seams.fileSystem,
      // The third write reports success but never happens: a hole under later records.
      writeSync: (fd, buffer, offset, length, position) =>
        ++writes === 3 ? length : seams.fileSystem.writeSync(fd, buffer, offset, length, position),
    },
  };
});

const truncationNotDurable = broken((_, seams) => {
  let skipNextBarrier = false;
  return {
    fileSystem: {
      ...seams.fileSystem,
      ftruncateSync: (fd, size) => {
        seams.fileSystem.ftruncateSync(fd, size);
        skipNextBarrier = true;
      },
    },
    platform: {
      ...seams.platform,
      barrier: (fd, target) => {
        if (!skipNextBarrier) return seams.platform.barrier(fd, target);
        skipNextBarrier = false;
        return "full";
      },
    },
  };
});

const kinds: LogKind[] = ["file", "segmented"];

/** The crash-image harness over `workload`, with the workload on `seams` (default: correct). */
const exploreWith = (workload: Workload, kind: LogKind, seams?: (disk: SimDisk) => Seams) =>
  explore(workload, { kind, next: mulberry32(SEED), budget: BUDGET, seams });

describe.each(kinds)("the crash-image harness detects an injected bug, %s log", (kind) => {
  test(`without directory syncs, acknowledged records are lost (WAL_SEED=${SEED})`, async () => {
    const tally = await exploreWith(appendsAndSyncs, kind, noDirectorySync);
    expect(tally.lost).toBeGreaterThan(0);
  });

  test(`with a hole under acknowledged records, they are lost (WAL_SEED=${SEED})`, async () => {
    const tally = await exploreWith(appendsAndSyncs, kind, writeLost);
    expect(tally.lost).toBeGreaterThan(0);
  });

  test(`with a cut that is not durable, removed records come back (WAL_SEED=${SEED})`, async () => {
    const tally = await exploreWith(truncation, kind, truncationNotDurable);
    expect(tally.phantom).toBeGreaterThan(0);
    expect(tally.problems.some((problem) => problem.includes("stale"))).toBe(true);
  });

  test(`the same harness finds nothing wrong with every safety step in place (WAL_SEED=${SEED})`, async () => {
    for (const workload of [appendsAndSyncs, truncation]) {
      const tally = await exploreWith(workload, kind);
      expect(tally.lost + tally.phantom + tally.untyped + tally.refused + tally.unstable).toBe(0);
    }
  });
});

/**
 * For each of the first operations in turn: fails it with EIO, as the fault loop does, runs the
 * workload on `seams` until the log fail-stops, closes it and returns the disk and what the
 * model says was acknowledged. A fault that hits the open acknowledged nothing: no run.
 */
async function* faultedRuns(
  kind: LogKind,
  seams?: (disk: SimDisk) => Seams,
): AsyncGenerator<{ at: number; disk: SimDisk; driver: Driver }> {
  for (let at = 1; at < 40; at++) {
    const disk = new SimDisk();
    disk.injectFault({ at, errno: "EIO", mode: "once" });
    let driver: Driver;
    try {
      driver = new Driver(openSim(disk, kind, seams?.(disk) ?? disk), mulberry32(SEED));
    } catch {
      continue;
    }
    try {
      await appendsAndSyncs(driver);
    } catch {
      // The log fail-stops; the oracle checks what it acknowledged before.
    }
    driver.wal.close();
    yield { at, disk, driver };
  }
}

/** Runs with the workload on `seams`, then a power loss: how many acknowledged records it lost. */
async function barrierFaults(kind: LogKind, seams?: (disk: SimDisk) => Seams) {
  let lost = 0;
  let images = 0;
  for await (const { at, disk, driver } of faultedRuns(kind, seams)) {
    const tally = emptyTally();
    checkRecovery(disk.afterPowerLoss(), kind, driver.model.snapshot(), tally, `fault at ${at}`);
    lost += tally.lost;
    images += tally.images;
  }
  return { lost, images };
}

const retryingBarrier = broken((_, seams) => ({
  platform: {
    ...seams.platform,
    barrier: (fd, target) => {
      try {
        return seams.platform.barrier(fd, target);
      } catch {
        return seams.platform.barrier(fd, target);
      }
    },
  },
}));

const trustingTheCache = broken((_, seams) => ({
  platform: { ...seams.platform, dropCache: () => {} },
}));

/**
 * Runs whose fault then clears, and a reopen in the same boot on `seams`, an append, a sync and
 * a power loss (checkRecovery): how many recoveries went wrong (records lost, or the append
 * after the reopen gone).
 */
async function sameBootReopens(kind: LogKind, seams?: (disk: SimDisk) => Seams) {
  let wrong = 0;
  let images = 0;
  for await (const { at, disk, driver } of faultedRuns(kind)) {
    disk.injectFault(null);
    const tally = emptyTally();
    const where = `reopen after a fault at ${at}`;
    checkRecovery(disk, kind, driver.model.snapshot(), tally, where, seams?.(disk) ?? disk);
    wrong += tally.lost + tally.unstable;
    images += tally.images;
  }
  return { wrong, images };
}

describe.each(kinds)("the fault harness detects an injected bug, %s log", (kind) => {
  test("retrying a failed barrier and trusting it loses acknowledged records", async () => {
    expect((await barrierFaults(kind, retryingBarrier)).lost).toBeGreaterThan(0);
  });

  test("a reopen in the same boot that trusts the page cache loses the appends after it", async () => {
    expect((await sameBootReopens(kind, trustingTheCache)).wrong).toBeGreaterThan(0);
  });

  test("the same reopens with the cache dropped lose nothing", async () => {
    const { wrong, images } = await sameBootReopens(kind);
    expect(images).toBeGreaterThan(0);
    expect(wrong).toBe(0);
  });

  test("the same loop without the retry loses nothing", async () => {
    const { lost, images } = await barrierFaults(kind);
    expect(images).toBeGreaterThan(0);
    expect(lost).toBe(0);
  });
});
