/**
 * Crash-point exploration: runs a workload on a recording simulated disk, takes a crash point
 * after every operation, one before the first, and one after each call returns (when the
 * oracle learns what it acknowledged), and checks every image a power loss at
 * each point could leave (test/support/crash-images.ts) against the oracle. Optionally, a
 * recovery of some of those images is itself crashed at every one of its operations, and the
 * images of those crashes are checked against the same oracle.
 */

import { crashImages, type ImageBudget } from "./crash-images.ts";
import type { ModelSnapshot } from "./oracle.ts";
import { type CrashState, SimDisk } from "./sim-disk.ts";
import {
  checkRecovery,
  Driver,
  emptyTally,
  type LogKind,
  openSim,
  recoverRecords,
  type Seams,
  type Tally,
} from "./sim-harness.ts";

/** A workload: calls on a driver, which keeps the oracle's model in step. */
export type Workload = (driver: Driver) => Promise<void> | void;

interface CrashPoint {
  readonly label: string;
  readonly state: CrashState;
  readonly model: ModelSnapshot;
}

export interface ExploreOptions {
  readonly kind: LogKind;
  readonly next: () => number;
  readonly budget: ImageBudget;
  /** Crash the recovery of this many images per crash point (their first ones). */
  readonly crashedRecoveries?: number;
  /** The seams the workload runs on; a negative control removes a safety step from them. */
  readonly seams?: ((disk: SimDisk) => Seams) | undefined;
}

/** Explores every crash point of `workload`; returns what the checks found. */
export async function explore(workload: Workload, options: ExploreOptions): Promise<Tally> {
  const disk = new SimDisk();
  const points: CrashPoint[] = [];
  let driver: Driver | null = null;
  const take = (label: string) =>
    points.push({ label, state: disk.crashState(), model: driver?.model.snapshot() ?? [] });
  take("before open");
  disk.onOperation = (kind) => take(`after ${kind} #${disk.operations}`);
  const wal = openSim(disk, options.kind, options.seams?.(disk) ?? disk);
  driver = new Driver(wal, options.next);
  driver.onReturn = (call) => take(`after ${call} returned`);
  try {
    await workload(driver);
  } finally {
    wal.close();
    disk.onOperation = null;
  }
  const tally = emptyTally();
  tally.crashPoints = points.length;
  for (const point of points) {
    let crashed = 0;
    for (const image of crashImages(point.state, options.next, options.budget)) {
      const where = `${options.kind}, ${point.label}, ${image.label}`;
      if (crashed++ < (options.crashedRecoveries ?? 0)) {
        crashRecovery(image.disk, options, point.model, tally, where);
      }
      checkRecovery(image.disk, options.kind, point.model, tally, where);
    }
  }
  return tally;
}

/**
 * Runs recovery on a copy of `disk`, taking a crash point at each of its operations, and
 * checks the images of each (all pending lost, each prefix) against `model`.
 */
function crashRecovery(
  disk: SimDisk,
  options: ExploreOptions,
  model: ModelSnapshot,
  tally: Tally,
  where: string,
): void {
  const copy = new SimDisk(disk.crashState().durable);
  const states: CrashState[] = [];
  copy.onOperation = () => states.push(copy.crashState());
  try {
    recoverRecords(copy, options.kind);
  } catch {
    // checkRecovery on the original image reports a refused or failed recovery.
  }
  const budget = { randomSubsets: 0, tearsPerWrite: 0 };
  states.forEach((state, i) => {
    for (const image of crashImages(state, options.next, budget)) {
      checkRecovery(
        image.disk,
        options.kind,
        model,
        tally,
        `${where}; recovery crashed after op ${i + 1}, ${image.label}`,
      );
    }
  });
}
