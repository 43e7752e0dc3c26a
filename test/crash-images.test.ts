/**
 * Power loss at every moment of small workloads, on the simulated disk (test/support/sim-disk.ts
 * states the model). Each workload runs the real stores and `Wal` on a recording disk; at every
 * crash point (before and after each write, truncate, barrier, directory operation) every image
 * a power loss could leave (test/support/crash-images.ts) is recovered and checked against the
 * oracle (test/support/oracle.ts): acknowledged records survive byte-exact, nothing unsubmitted
 * or truncated appears, recovery is stable, and the log takes appends after it.
 *
 * Workloads: 1–4 writers × 1–8 appends with mixed durability calls (single file, and segmented
 * with 64-byte segments so records roll segments), a roll-heavy run, `truncateBefore` and
 * `truncateAfter`, and recoveries that themselves crash. Knobs: WAL_SEED replays;
 * WAL_CRASH_SUBSETS (random subsets per crash point, CI 4) and WAL_CRASH_TEARS (tears per write
 * and granularity, CI 2) size the images; WAL_SCALE multiplies both.
 */

import { afterAll, describe, expect, test } from "bun:test";
import { explore, type Workload } from "./support/explore.ts";
import { reportFigures, sized } from "./support/knobs.ts";
import { mulberry32, seedFromEnv } from "./support/random.ts";
import { addTally, clean, emptyTally, type LogKind, type Tally } from "./support/sim-harness.ts";

const SEED = seedFromEnv(0x5eed_c4a5);
const BUDGET = {
  randomSubsets: sized("WAL_CRASH_SUBSETS", 4),
  tearsPerWrite: sized("WAL_CRASH_TEARS", 2),
};
const total = emptyTally();

/** `writers` writers, each doing `appends` appends with a seeded mix of durability calls. */
function writers(count: number, appends: number): Workload {
  return async (driver) => {
    const writer = async (w: number) => {
      for (let i = 0; i < appends; i++) {
        const choice = (w * 7 + i * 3 + driver.model.snapshot().length) % 4;
        if (choice === 0) driver.append();
        else if (choice === 1) driver.appendAndSync();
        else if (choice === 2) await driver.commit();
        else {
          driver.append();
          await driver.syncAsync();
        }
        // Yield so writers interleave between each other's calls.
        await Promise.resolve();
      }
    };
    await Promise.all(Array.from({ length: count }, (_, w) => writer(w)));
    driver.sync();
  };
}

const rollHeavy: Workload = (driver) => {
  // About 16 records over 64-byte segments: many rolls, some records straddling two.
  for (let i = 0; i < 16; i++) {
    if (i % 5 === 4) driver.appendBatch(3);
    else driver.append();
    if (i % 3 === 2) driver.sync();
  }
  driver.sync();
};

const truncateAfter: Workload = (driver) => {
  const lsns = [
    driver.append(),
    driver.append(),
    driver.append(),
    driver.append(),
    driver.append(),
  ];
  driver.sync();
  driver.truncateAfter(lsns[2]!);
  driver.append();
  driver.sync();
  driver.truncateAfter(lsns[1]!);
  driver.appendAndSync();
};

const truncateBefore: Workload = async (driver) => {
  const lsns: number[] = [];
  for (let i = 0; i < 6; i++) lsns.push(driver.append());
  driver.truncateBefore(lsns[3]!);
  driver.append();
  await driver.commit();
  driver.truncateBefore(lsns[5]!);
  driver.appendAndSync();
};

async function run(
  name: string,
  kind: LogKind,
  workload: Workload,
  seed: number,
  crashedRecoveries = 0,
): Promise<Tally> {
  const tally = await explore(workload, {
    kind,
    next: mulberry32(seed),
    budget: BUDGET,
    crashedRecoveries,
  });
  addTally(total, tally);
  if (!clean(tally)) {
    throw new Error(`${name} (${kind}, WAL_SEED=${seed}): ${JSON.stringify(tally, null, 1)}`);
  }
  return tally;
}

const kinds: LogKind[] = ["file", "segmented"];

describe.each(kinds)("power loss at every crash point, %s log", (kind) => {
  for (let count = 1; count <= 4; count++) {
    test(`${count} writers × 1–8 appends (WAL_SEED=${SEED})`, async () => {
      let images = 0;
      for (let appends = 1; appends <= 8; appends++) {
        const tally = await run(
          `${count}×${appends}`,
          kind,
          writers(count, appends),
          SEED + count * 8 + appends,
        );
        images += tally.images;
      }
      expect(images).toBeGreaterThan(0);
    });
  }

  test(`records rolling segments (WAL_SEED=${SEED})`, async () => {
    const tally = await run("roll", kind, rollHeavy, SEED + 101);
    expect(tally.images).toBeGreaterThan(100);
  });

  test(`truncateAfter, twice, with appends between (WAL_SEED=${SEED})`, async () => {
    const tally = await run("truncateAfter", kind, truncateAfter, SEED + 102);
    expect(tally.images).toBeGreaterThan(100);
  });

  test(`a recovery that itself crashes, at each of its operations (WAL_SEED=${SEED})`, async () => {
    const tally = await run("crashed recovery", kind, writers(2, 4), SEED + 104, 3);
    expect(tally.images).toBeGreaterThan(100);
  });
});

test(`truncateBefore on a segmented log, twice (WAL_SEED=${SEED})`, async () => {
  const tally = await run("truncateBefore", "segmented", truncateBefore, SEED + 103);
  expect(tally.images).toBeGreaterThan(100);
});

afterAll(() => {
  reportFigures("crash images", {
    checked: total.images,
    unit: "crash images",
    lost: total.lost,
    phantom: total.phantom,
    untyped: total.untyped,
    extra: { crashPoints: total.crashPoints, refused: total.refused, unstable: total.unstable },
    seed: SEED,
  });
});
