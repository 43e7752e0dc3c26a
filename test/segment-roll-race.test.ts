/**
 * A roll racing another thread's append, on the simulated disk. The disk lives in one thread's
 * memory, so its "threads" take turns: each is a write into the segmented store, and when one
 * waits for a segment (src/store/segment-table.ts, rule 1), the table's `idle` seam runs the
 * next waiting one instead of sleeping, as a scheduler would. So the writes reach the disk in
 * the orders real threads produce: a write into segment k + 1 arrives while bytes of segment k
 * are still unwritten, and either the waiting writer or the one that fills k makes k + 1.
 *
 * At every crash point (after each disk operation, and after the final barrier returned) every
 * image a power loss could leave (test/support/crash-images.ts) is recovered and checked against
 * the oracle: every record of the final barrier survives byte-exact, nothing else appears,
 * recovery is stable and takes appends. A negative control drops the barrier that seals
 * segment 0 at the roll, the one that covers the other thread's bytes there, and must lose them.
 */

import { describe, expect, test } from "bun:test";
import { HEADER_SIZE, sealFrame } from "../src/record.ts";
import { SegmentedStore } from "../src/store/segmented.ts";
import { crashImages } from "./support/crash-images.ts";
import { LogModel, type ModelSnapshot } from "./support/oracle.ts";
import { mulberry32, seedFromEnv } from "./support/random.ts";
import { type CrashState, SIM_ROOT, SimDisk } from "./support/sim-disk.ts";
import {
  checkRecovery,
  clean,
  emptyTally,
  type Seams,
  SIM_SEGMENT_SIZE,
  type Tally,
} from "./support/sim-harness.ts";

const SEED = seedFromEnv(0x2011_7ace);
const BUDGET = { randomSubsets: 4, tearsPerWrite: 2 };

/**
 * One race: the payload sizes of the records after a first one of 42 bytes (LSN 0 to 50), in
 * LSN order, and the order the simulated threads start their writes in (indices into them).
 * Segments are 64 bytes, so the second record ends at or past 64.
 */
interface Race {
  readonly name: string;
  readonly payloads: readonly number[];
  readonly startOrder: readonly number[];
}

const RACES: readonly Race[] = [
  {
    // Record 1 fills segment 0 to its end; record 2 lies in segment 1 and starts first.
    name: "the writer that waited for segment 1 makes it",
    payloads: [6, 28],
    startOrder: [1, 0],
  },
  {
    // Record 1 spans into segment 1, so the writer that fills segment 0 makes segment 1.
    name: "the writer that fills segment 0 makes segment 1",
    payloads: [32, 12],
    startOrder: [1, 0],
  },
  {
    // Two writers wait for segment 1, one inside the other's wait; the filler comes last.
    name: "two writers wait for segment 1 behind the filler",
    payloads: [6, 8, 12],
    startOrder: [2, 1, 0],
  },
];

interface CrashPoint {
  readonly label: string;
  readonly state: CrashState;
  readonly model: ModelSnapshot;
}

function frameOf(payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(HEADER_SIZE + payload.length);
  frame.set(payload, HEADER_SIZE);
  sealFrame(frame, payload.length);
  return frame;
}

/**
 * Runs `race` on a fresh simulated disk through `seams` and returns its crash points: the first
 * record written and its roll raced as the race says, then one barrier over everything.
 */
function runRace(race: Race, seams: (disk: SimDisk) => Seams, next: () => number) {
  const disk = new SimDisk();
  const model = new LogModel();
  const points: CrashPoint[] = [];
  const take = (label: string) =>
    points.push({ label, state: disk.crashState(), model: model.snapshot() });
  disk.onOperation = (kind) => take(`after ${kind} #${disk.operations}`);
  /** The simulated threads not yet started, in the race's order. */
  const waiting: (() => void)[] = [];
  let turns = 0;
  const store = SegmentedStore.open(`${SIM_ROOT}/segments`, SIM_SEGMENT_SIZE, {
    ...seams(disk),
    idle: () => {
      turns++;
      const thread = waiting.shift();
      if (thread === undefined) throw new Error("every simulated thread waits: a deadlock");
      thread();
    },
  });
  try {
    const payloadOf = (length: number) =>
      Uint8Array.from({ length }, () => next() & 0xff).map((byte, i) => (i === 0 ? 1 : byte));
    const records = [42, ...race.payloads].map(payloadOf);
    const lsns: number[] = [];
    let end = 0;
    for (const data of records) {
      model.submit(end, data);
      lsns.push(end);
      end += HEADER_SIZE + data.length;
    }
    const write = (index: number) => {
      const frame = frameOf(records[index]!);
      store.write(frame, frame.length, lsns[index]!);
    };
    write(0);
    for (const index of race.startOrder) waiting.push(() => write(index + 1));
    // The first thread starts; each one that waits hands the turn to the next, so every
    // thread but the last to start waited for segment 1 while bytes of segment 0 were missing.
    waiting.shift()!();
    expect(waiting).toEqual([]);
    expect(turns).toBe(race.startOrder.length - 1);
    store.sync(0, end);
    model.acknowledge(end);
    take("after the barrier returned");
    expect(disk.readFile(`${SIM_ROOT}/segments/00000000000000000000.wal`)?.length).toBe(
      SIM_SEGMENT_SIZE,
    );
  } finally {
    disk.onOperation = null;
    store.close();
  }
  return points;
}

/** Recovers every image of every crash point of `race`, tallying what the oracle finds. */
function exploreRace(race: Race, seams: (disk: SimDisk) => Seams = (disk) => disk): Tally {
  const next = mulberry32(SEED);
  const tally = emptyTally();
  const points = runRace(race, seams, next);
  tally.crashPoints = points.length;
  for (const point of points) {
    for (const image of crashImages(point.state, next, BUDGET)) {
      checkRecovery(image.disk, "segmented", point.model, tally, `${point.label}, ${image.label}`);
    }
  }
  return tally;
}

/** The disk's seams, with no barrier on segment 0: the one the roll seals it with. */
function noSealOfSegmentZero(disk: SimDisk): Seams {
  const platform = { ...disk.platform };
  platform.barrier = (fd, path, strength) =>
    path.endsWith("00000000000000000000.wal") ? "full" : disk.platform.barrier(fd, path, strength);
  return { fileSystem: disk.fileSystem, platform };
}

describe("a roll racing another thread's append, at every crash point", () => {
  test.each(RACES.map((race) => [race.name, race] as const))(
    `%s (WAL_SEED=${SEED})`,
    (_name, race) => {
      const tally = exploreRace(race);
      expect(tally.problems, `WAL_SEED=${SEED}`).toEqual([]);
      expect(clean(tally)).toBe(true);
      expect(tally.crashPoints).toBeGreaterThan(5);
      expect(tally.images).toBeGreaterThan(tally.crashPoints);
    },
  );

  test("negative control: without the barrier that seals segment 0, the other thread's bytes are lost", () => {
    const tally = exploreRace(RACES[0]!, noSealOfSegmentZero);
    expect(tally.lost).toBeGreaterThan(0);
  });
});
