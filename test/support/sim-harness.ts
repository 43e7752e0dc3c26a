/**
 * Runs workloads on the simulated disk and checks recoveries against the oracle: the shared
 * machinery of the crash-image, fault and negative-control suites.
 *
 * - {@link openSim} opens the real `FileStore` or `SegmentedStore` on a simulated disk, through
 *   its seams (or through a deliberately broken copy of them, for negative controls).
 * - {@link Driver} wraps a `Wal` so that every call keeps a {@link LogModel} in step: records
 *   are submitted before the call that writes them, acknowledged after a durability call
 *   returns.
 * - {@link checkRecovery} recovers a disk image and checks the oracle, then that recovering
 *   again gives the same records, and that an append after recovery survives the next crash.
 */

import {
  FileStore,
  type FileSystem,
  type Platform,
  SegmentedStore,
  Wal,
  type WalOptions,
} from "../../src/index.ts";
import {
  judge,
  type LoggedRecord,
  LogModel,
  type ModelSnapshot,
  sameBytes,
  typed,
} from "./oracle.ts";
import { SIM_ROOT, type SimDisk } from "./sim-disk.ts";

/** The two on-disk shapes a log can take. */
export type LogKind = "file" | "segmented";

/** Segments small enough that a few records roll several of them. */
export const SIM_SEGMENT_SIZE = 64;

/** The seams a store runs on; a negative control passes a copy with one safety step removed. */
export interface Seams {
  readonly fileSystem: FileSystem;
  readonly platform: Platform;
}

/**
 * The zero fill of a simulated single-file log: small, so that a few appends cross it several
 * times and crash points fall inside fills too.
 */
export const SIM_PREALLOCATE = 256;

/** Opens (and recovers) the log of `kind` on `disk`. */
export function openSim(
  disk: SimDisk,
  kind: LogKind,
  seams: Seams = disk,
  options?: WalOptions,
): Wal {
  const store =
    kind === "file"
      ? FileStore.open(`${SIM_ROOT}/log`, seams)
      : SegmentedStore.open(`${SIM_ROOT}/segments`, SIM_SEGMENT_SIZE, seams);
  try {
    return Wal.withStore(store, {
      ...(kind === "file" ? { preallocate: SIM_PREALLOCATE } : {}),
      ...options,
    });
  } catch (error) {
    store.close();
    throw error;
  }
}

/** A `Wal` whose calls keep a {@link LogModel} in step. */
export class Driver {
  readonly model = new LogModel();
  /**
   * Called when a call has returned and the model knows what it acknowledged: a crash point
   * that operations alone would miss (the last operation of a call runs before the ack).
   */
  onReturn: ((call: string) => void) | null = null;
  private sequence = 0;

  constructor(
    readonly wal: Wal,
    private readonly next: () => number,
  ) {}

  /** A payload unique to this driver: sequence number, then 0 to 60 seeded bytes. */
  payload(): Uint8Array {
    const bytes = new Uint8Array(4 + (this.next() % 61));
    new DataView(bytes.buffer).setUint32(0, this.sequence++, true);
    for (let i = 4; i < bytes.length; i++) bytes[i] = this.next() & 0xff;
    return bytes;
  }

  append(data = this.payload()): number {
    this.model.submit(this.wal.len, data);
    const lsn = this.wal.append(data);
    this.onReturn?.("append");
    return lsn;
  }

  appendAndSync(data = this.payload()): number {
    this.model.submit(this.wal.len, data);
    const lsn = this.wal.appendAndSync(data);
    this.model.acknowledge(lsn + 1);
    this.onReturn?.("appendAndSync");
    return lsn;
  }

  async commit(data = this.payload()): Promise<number> {
    this.model.submit(this.wal.len, data);
    const lsn = await this.wal.commit(data);
    this.model.acknowledge(lsn + 1);
    this.onReturn?.("commit");
    return lsn;
  }

  appendBatch(count: number): number[] {
    const records = Array.from({ length: count }, () => this.payload());
    let lsn = this.wal.len;
    for (const data of records) {
      this.model.submit(lsn, data);
      lsn += 8 + data.length;
    }
    const lsns = this.wal.appendBatch(records);
    this.onReturn?.("appendBatch");
    return lsns;
  }

  sync(): void {
    const end = this.wal.len;
    this.wal.sync();
    this.model.acknowledge(end);
    this.onReturn?.("sync");
  }

  async syncAsync(): Promise<void> {
    const end = this.wal.len;
    await this.wal.syncAsync();
    this.model.acknowledge(end);
    this.onReturn?.("syncAsync");
  }

  /** `truncateAfter`: the record at `lsn` stays, every later one goes, durably. */
  truncateAfter(lsn: number): void {
    this.model.truncate("start", { from: lsn + 1 });
    this.wal.truncateAfter(lsn);
    this.model.truncate("end", { from: lsn + 1 });
    this.onReturn?.("truncateAfter");
  }

  /** `truncateBefore`: makes every record durable, then drops those below `lsn`. */
  truncateBefore(lsn: number): void {
    const end = this.wal.len;
    this.model.truncate("start", { below: lsn });
    this.wal.truncateBefore(lsn);
    this.model.acknowledge(end);
    this.model.truncate("end", { below: lsn });
    this.onReturn?.("truncateBefore");
  }
}

/** What checking recoveries found, summed. */
export interface Tally {
  /** Crash points taken (explorations only). */
  crashPoints: number;
  images: number;
  lost: number;
  phantom: number;
  untyped: number;
  /** Images a correct log must recover but that open refused with a `WalError`. */
  refused: number;
  /** Recoveries whose second recovery, or whose append after recovery, went wrong. */
  unstable: number;
  /** The first few problems, for the failure message. */
  problems: string[];
}

export function emptyTally(): Tally {
  return {
    crashPoints: 0,
    images: 0,
    lost: 0,
    phantom: 0,
    untyped: 0,
    refused: 0,
    unstable: 0,
    problems: [],
  };
}

/** Adds `tally`'s counts into `total` (problems stay with `tally`). */
export function addTally(total: Tally, tally: Tally): void {
  total.crashPoints += tally.crashPoints;
  total.images += tally.images;
  total.lost += tally.lost;
  total.phantom += tally.phantom;
  total.untyped += tally.untyped;
  total.refused += tally.refused;
  total.unstable += tally.unstable;
}

/** Whether a tally found nothing wrong. */
export function clean(tally: Tally): boolean {
  return tally.lost + tally.phantom + tally.untyped + tally.refused + tally.unstable === 0;
}

const KEPT_PROBLEMS = 12;

function note(tally: Tally, problem: string): void {
  if (tally.problems.length < KEPT_PROBLEMS) tally.problems.push(problem);
}

/** Opens `disk`'s log, reads every record, closes it; the records and the head. */
export function recoverRecords(
  disk: SimDisk,
  kind: LogKind,
  seams: Seams = disk,
): { records: LoggedRecord[]; head: number } {
  using wal = openSim(disk, kind, seams);
  return { records: [...wal.iter()].map(({ lsn, data }) => ({ lsn, data })), head: wal.head };
}

/**
 * Recovers `disk` (an image a crash left) and checks it against `model`, adding to `tally`:
 * the oracle; recovering again gives the same records; an append and sync after recovery
 * survive a power loss. `where` labels problems. The recoveries and the append run on `seams`
 * (a negative control passes broken ones); the check after the power loss reads correctly.
 */
export function checkRecovery(
  disk: SimDisk,
  kind: LogKind,
  model: ModelSnapshot,
  tally: Tally,
  where: string,
  seams: Seams = disk,
): LoggedRecord[] | null {
  tally.images++;
  let first: { records: LoggedRecord[]; head: number };
  try {
    first = recoverRecords(disk, kind, seams);
  } catch (error) {
    if (typed(error)) tally.refused++;
    else tally.untyped++;
    note(tally, `${where}: open threw ${String(error)}`);
    return null;
  }
  const verdict = judge(model, first.records, first.head);
  tally.lost += verdict.lost;
  tally.phantom += verdict.phantom;
  for (const problem of verdict.problems) note(tally, `${where}: ${problem}`);
  try {
    const again = recoverRecords(disk, kind, seams);
    if (!sameRecords(again.records, first.records)) {
      tally.unstable++;
      note(
        tally,
        `${where}: a second recovery found ${again.records.length} records, the first ${first.records.length}`,
      );
    }
    const data = new TextEncoder().encode("after recovery");
    let lsn: number;
    {
      using wal = openSim(disk, kind, seams);
      lsn = wal.appendAndSync(data);
    }
    const after = recoverRecords(disk.afterPowerLoss(), kind);
    const expected = [...first.records, { lsn, data }];
    if (!sameRecords(after.records, expected)) {
      tally.unstable++;
      note(tally, `${where}: an append after recovery did not survive the next power loss`);
    }
  } catch (error) {
    if (typed(error)) tally.unstable++;
    else tally.untyped++;
    note(tally, `${where}: after recovery: ${String(error)}`);
  }
  return first.records;
}

function sameRecords(a: readonly LoggedRecord[], b: readonly LoggedRecord[]): boolean {
  return (
    a.length === b.length && a.every((r, i) => r.lsn === b[i]!.lsn && sameBytes(r.data, b[i]!.data))
  );
}
