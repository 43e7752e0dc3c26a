/**
 * @module
 * `wal-db verify s3://bucket/prefix`: checks a log's archive (layout in src/archive/layout.ts)
 * beyond what a restore meets. A restore into a temporary directory checks every object the
 * newest point needs and every record's CRC; then every other object (older segments below the
 * head, superseded partials) is downloaded and checked against the length and CRC-32C its key
 * names, and the listing is walked for holes, so damage a restore would only meet later (a
 * restore to an older point, after the next cut) is found now. Every damaged object and gap is
 * named, not only the first.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ArchiveBucket, openBucket, type S3Settings } from "../archive/bucket.ts";
import {
  archiveKeys,
  type ListedObject,
  parseArchiveKey,
  planRestore,
  withLsnZero,
} from "../archive/layout.ts";
import { archivedSegmentSize } from "../archive/meta.ts";
import { restoreArchive } from "../archive/restore.ts";
import { crc32c } from "../crc32c.ts";
import { WalError } from "../errors.ts";
import { Wal } from "../index.ts";
import { PAYLOAD_SIZE_LIMIT } from "../record.ts";
import { type ArchiveFlagValues, archiveSettings, archiveUrl } from "./archive-flags.ts";
import { EXIT } from "./command.ts";
import { Output } from "./output.ts";
import { ProgressBar } from "./progress.ts";

/** An object that holds bytes of the log, as its key and the listing describe it. */
interface DataObject {
  readonly key: string;
  readonly kind: "segment" | "partial";
  /** The LSN of its first byte, and one past its last. */
  readonly start: number;
  readonly end: number;
  readonly size: number;
  readonly crc: number;
}

/** One thing wrong with an archive. */
export interface ArchiveProblem {
  /** The object (`s3://bucket/prefix/key`; a `*` for a missing one's unknown parts), or null. */
  readonly object: string | null;
  readonly problem: string;
}

/** A range of LSNs. */
export interface LsnRange {
  readonly from: number;
  readonly to: number;
}

/** What `verify s3://...` found; `--json` prints it. */
export interface ArchiveVerifyReport {
  readonly url: string;
  readonly ok: boolean;
  readonly segmentSize: number;
  /** Sealed segments and partials, and of the partials those a restore no longer needs. */
  readonly segments: number;
  readonly partials: number;
  readonly superseded: number;
  /** Every `head/<lsn>`, ascending. */
  readonly heads: readonly number[];
  /** Keys under the prefix that are not the archive's: ignored by a restore. */
  readonly others: readonly string[];
  /** Objects downloaded and checked, by the restore or after it, and their bytes. */
  readonly objects: number;
  readonly bytes: number;
  /** The log a restore to the newest point brings back, or null when it cannot. */
  readonly restored: {
    readonly head: number;
    readonly end: number;
    readonly records: number;
  } | null;
  /** The `--until` points that restore: one range per stretch the archive holds unbroken. */
  readonly restorable: readonly LsnRange[];
  /**
   * Stretches of the log the archive does not hold because the log dropped them first
   * (`truncateBefore` while no archiver ran) or a prune deleted them: the archive restarts at
   * `head`. Not damage.
   */
  readonly unarchived: readonly (LsnRange & { readonly head: number })[];
  readonly problems: readonly ArchiveProblem[];
}

/** What the listing holds, sorted by kind, with each object the key and length contradict. */
interface Inventory {
  /** The data objects whose length fits their key, ascending by start. */
  readonly objects: DataObject[];
  readonly heads: number[];
  readonly others: string[];
  readonly problems: ArchiveProblem[];
}

/**
 * Verifies the archive at `url` (see the module comment).
 * @throws WalError `NOT_FOUND` when no archive is there; `INVALID_ARGUMENT` for a `log.json`
 * that is not a wal-db archive's; `ARCHIVE` when the store fails. Damage is in the report.
 */
export async function verifyArchive(
  url: string,
  settings: S3Settings,
): Promise<ArchiveVerifyReport> {
  const bucket = openBucket(url, settings);
  const listing = await bucket.list();
  const segmentSize = await archivedSegmentSize(bucket, listing);
  const inventory = takeInventory(bucket, listing, segmentSize);
  const layout = walkLayout(bucket, inventory, segmentSize);
  const problems = [...inventory.problems, ...layout.problems];
  const total = inventory.objects.reduce((sum, object) => sum + object.size, 0);
  const bar = new ProgressBar("verify", total);
  try {
    const restore = await restoreNewest(bucket, listing, segmentSize, settings, problems, bar);
    // After a failed restore, the objects it needed are checked here too, to name each one.
    const rest = inventory.objects.filter((object) => !restore.checked.has(object.key));
    let done = restore.bytes;
    for (const object of rest) {
      const bytes = await bucket.get(object.key, object.size);
      if (crc32c(bytes) !== object.crc >>> 0)
        problems.push(damaged(bucket, object.key, "does not match the CRC-32C its key names"));
      done += bytes.length;
      bar.update(done);
    }
    if (restore.failure !== null && !problems.some((p) => nameIn(p, restore.failure!)))
      problems.push({ object: null, problem: restore.failure });
    return {
      url: bucket.url,
      ok: problems.length === 0,
      segmentSize,
      segments: inventory.objects.filter((object) => object.kind === "segment").length,
      partials: inventory.objects.filter((object) => object.kind === "partial").length,
      superseded: supersededCount(inventory.objects, segmentSize),
      heads: inventory.heads,
      others: inventory.others,
      objects: restore.checked.size + rest.length,
      bytes: done,
      restored: restore.restored,
      restorable: layout.restorable,
      unarchived: layout.unarchived,
      problems,
    };
  } finally {
    bar.finish();
  }
}

/** Whether `message` names the object of `problem` (the restore's error and ours agree). */
function nameIn(problem: ArchiveProblem, message: string): boolean {
  return (
    problem.object !== null && !problem.object.includes("*") && message.includes(problem.object)
  );
}

/**
 * Restores the newest point into a temporary directory, removed afterwards, when the listing
 * forms a plan; a plan that does not form is reported as a problem unless one already says why.
 * @returns the restored log, the keys the restore checked (none when it failed), their bytes,
 * and the restore's `CORRUPTION` message when it failed.
 */
async function restoreNewest(
  bucket: ArchiveBucket,
  listing: readonly ListedObject[],
  segmentSize: number,
  settings: S3Settings,
  problems: ArchiveProblem[],
  bar: ProgressBar,
): Promise<{
  restored: ArchiveVerifyReport["restored"];
  checked: Set<string>;
  bytes: number;
  failure: string | null;
}> {
  let plan: ReturnType<typeof planRestore>;
  try {
    plan = planRestore(listing, segmentSize);
  } catch (error) {
    if (!(error instanceof WalError)) throw error;
    if (problems.length === 0) problems.push({ object: null, problem: error.message });
    return { restored: null, checked: new Set(), bytes: 0, failure: null };
  }
  const directory = mkdtempSync(join(tmpdir(), "wal-db-verify-"));
  try {
    const report = await restoreArchive(
      {
        from: bucket.url,
        to: join(directory, "log"),
        ...settings,
        onProgress: (done) => bar.update(done),
      },
      bucket,
    );
    // The restore checked every record; the count is the read-only open's of the same bytes.
    const wal = Wal.openReadOnly(report.path, {
      segmentSize: report.segmentSize,
      maxRecordSize: PAYLOAD_SIZE_LIMIT,
    });
    const records = wal.recovery.records;
    wal.close();
    return {
      restored: { head: report.head, end: report.end, records },
      checked: new Set(plan.pieces.map((piece) => piece.key)),
      bytes: report.bytes,
      failure: null,
    };
  } catch (error) {
    if (error instanceof WalError && error.code === "CORRUPTION")
      return { restored: null, checked: new Set(), bytes: 0, failure: error.message };
    throw error;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/** Sorts the listing's keys by kind, naming each data object whose length its key contradicts. */
function takeInventory(
  bucket: ArchiveBucket,
  listing: readonly ListedObject[],
  segmentSize: number,
): Inventory {
  const objects: DataObject[] = [];
  const heads: number[] = [];
  const others: string[] = [];
  const problems: ArchiveProblem[] = [];
  const segmentKeys = new Map<number, string>();
  for (const { key, size } of listing) {
    const parsed = parseArchiveKey(key);
    if (parsed === null) others.push(key);
    else if (parsed.kind === "head") heads.push(parsed.head);
    else if (parsed.kind === "segment") {
      const start = parsed.index * segmentSize;
      const copy = segmentKeys.get(parsed.index);
      segmentKeys.set(parsed.index, key);
      if (size !== segmentSize)
        problems.push(
          damaged(bucket, key, `holds ${size} bytes, not the segment size ${segmentSize}`),
        );
      else if (copy !== undefined)
        problems.push(
          damaged(bucket, key, `is a second copy of segment ${parsed.index} (${copy})`),
        );
      else objects.push({ key, kind: "segment", start, end: start + size, size, crc: parsed.crc });
    } else if (parsed.kind === "partial") {
      const { start, end, crc } = parsed;
      if (size !== end - start)
        problems.push(
          damaged(bucket, key, `holds ${size} bytes, not the ${end - start} its key names`),
        );
      else if (Math.floor(start / segmentSize) !== Math.floor((end - 1) / segmentSize))
        problems.push(damaged(bucket, key, `crosses the end of a ${segmentSize}-byte segment`));
      else objects.push({ key, kind: "partial", start, end, size, crc });
    }
  }
  objects.sort((a, b) => a.start - b.start || b.end - a.end);
  heads.sort((a, b) => a - b);
  return { objects, heads, others, problems };
}

/**
 * Walks the bytes the data objects hold from LSN 0 for holes. A hole is no damage only where
 * the archive restarts right after it (a head in the segment that follows it): the log dropped
 * those bytes before an archiver saw them. Any other hole is a missing object, named as
 * layout.ts would name it. A head no archived byte reaches is damage too: a restore to a point
 * past it starts there.
 */
function walkLayout(
  bucket: ArchiveBucket,
  inventory: Inventory,
  segmentSize: number,
): {
  restorable: LsnRange[];
  unarchived: ArchiveVerifyReport["unarchived"][number][];
  problems: ArchiveProblem[];
} {
  const segmentStart = (lsn: number) => Math.floor(lsn / segmentSize) * segmentSize;
  const heads = withLsnZero(inventory.heads, inventory.objects[0]?.start === 0);
  const runs: LsnRange[] = [];
  const unarchived: ArchiveVerifyReport["unarchived"][number][] = [];
  const problems: ArchiveProblem[] = [];
  let runFrom = 0;
  let position = 0;
  for (const object of inventory.objects) {
    if (object.start > position) {
      runs.push({ from: runFrom, to: position });
      const restart = heads.find((head) => segmentStart(head) === object.start);
      if (restart !== undefined) {
        unarchived.push({ from: position, to: object.start, head: restart });
      } else {
        // A hole inside the segment of the next object is a partial's; before it, the segment
        // that holds `position` was sealed (a later one exists) and is what is missing.
        const missing =
          segmentStart(position) === segmentStart(object.start)
            ? `partial/*-${digits(position)}-*.wal`
            : `segments/${digits(Math.floor(position / segmentSize))}-*.wal`;
        problems.push(
          damaged(bucket, missing, `is missing: nothing holds LSN ${position} to ${object.start}`),
        );
      }
      runFrom = object.start;
    }
    position = Math.max(position, object.end);
  }
  runs.push({ from: runFrom, to: position });
  const restorable: LsnRange[] = [];
  for (const run of runs) {
    const inRun = heads.filter((head) => segmentStart(head) >= run.from && head <= run.to);
    if (inRun.length > 0) restorable.push({ from: inRun[0]!, to: run.to });
  }
  for (const head of inventory.heads) {
    const reached = runs.some((run) => segmentStart(head) >= run.from && head <= run.to);
    if (!reached)
      problems.push(
        damaged(
          bucket,
          archiveKeys.head(head),
          `names LSN ${head}, which no archived byte reaches`,
        ),
      );
  }
  return { restorable, unarchived, problems };
}

/** Partials a restore no longer needs: inside a sealed segment, or a shorter copy of another. */
function supersededCount(objects: readonly DataObject[], segmentSize: number): number {
  const sealed = new Set(
    objects.filter((o) => o.kind === "segment").map((o) => Math.floor(o.start / segmentSize)),
  );
  const longest = new Map<number, number>();
  for (const o of objects) {
    if (o.kind === "partial") longest.set(o.start, Math.max(longest.get(o.start) ?? 0, o.size));
  }
  return objects.filter(
    (o) =>
      o.kind === "partial" &&
      (sealed.has(Math.floor(o.start / segmentSize)) || longest.get(o.start)! > o.size),
  ).length;
}

function damaged(bucket: ArchiveBucket, key: string, problem: string): ArchiveProblem {
  return { object: `${bucket.url}/${key}`, problem };
}

function digits(value: number): string {
  return String(value).padStart(20, "0");
}

/** The lines `verify s3://...` prints: what is there, each problem, then the verdict. */
export function archiveSummary(report: ArchiveVerifyReport): string[] {
  const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? "" : "s"}`;
  const ranges = (list: readonly LsnRange[]) =>
    list.length === 0 ? "none" : list.map((range) => `${range.from} to ${range.to}`).join(", ");
  const lines = [
    `archive     ${report.url} (${report.segmentSize}-byte segments)`,
    `segments    ${report.segments}`,
    `partials    ${report.partials} (${report.superseded} superseded)`,
    `heads       ${report.heads.length}${report.heads.length === 0 ? "" : ` (newest ${report.heads.at(-1)})`}`,
    `restorable  --until LSN ${ranges(report.restorable)}`,
  ];
  for (const gap of report.unarchived) {
    lines.push(
      `unarchived  LSN ${gap.from} to ${gap.to}: not in the archive (the log dropped it before it was archived, or a prune deleted it); the archive restarts at head ${gap.head}`,
    );
  }
  if (report.others.length > 0)
    lines.push(
      `ignored     ${plural(report.others.length, "object")} not the archive's: ${report.others.join(", ")}`,
    );
  for (const { object, problem } of report.problems)
    lines.push(`damaged     ${object === null ? problem : `${object} ${problem}`}`);
  const checked = `${plural(report.objects, "object")} (${report.bytes} bytes) checked`;
  if (report.ok) {
    const { records, head, end } = report.restored!;
    lines.push(`OK ${report.url}: ${plural(records, "record")}, LSN ${head} to ${end}; ${checked}`);
  } else {
    lines.push(`DAMAGED ${report.url}: ${plural(report.problems.length, "problem")}; ${checked}`);
  }
  return lines;
}

/**
 * `wal-db verify s3://...`: verifies the archive and prints the report, as lines or `--json`.
 * @returns the exit code: 0 clean, 1 damaged.
 */
export async function runArchiveVerify(
  url: string,
  values: { readonly json?: boolean } & ArchiveFlagValues,
): Promise<number> {
  const report = await verifyArchive(archiveUrl(url), archiveSettings(values));
  const out = new Output();
  if (values.json === true) out.line(JSON.stringify(report));
  else for (const line of archiveSummary(report)) out.line(line);
  out.flush();
  return report.ok ? EXIT.ok : EXIT.damaged;
}
