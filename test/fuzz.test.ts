/**
 * Fuzzing recovery: fast-check mutations of real logs, opened under every recovery policy.
 *
 * Seeds are logs the library wrote (records of 0 bytes to 4 KB, records whose payloads are
 * themselves frames, and for directories records straddling segments of 4 KiB to 6,400 bytes, one
 * log with its head moved by `truncateBefore`), plus the Rust-written fixture
 * test/fixtures/rust-compatible.wal. Each input applies 1–4 mutations (test/support/
 * fuzz-mutations.ts): bit flips, byte overwrites, splices from the image or another seed
 * (overwriting or inserting), truncation, extension with garbage or zeros, zeroed 512-byte
 * sectors, and length fields forged to 0xFFFFFFFF, 0xFFFFFFF8, 2^31, maxRecordSize ± 1, or to
 * run exactly to / one past the end, with and without a matching CRC. A directory input has its
 * log bytes mutated that way, then its files: segments deleted, duplicated, renamed or resized,
 * stray files and directories, a `head` with garbage, the wrong length, or a valid CRC naming a
 * wild LSN (past the end, inside a record, 2^53 and beyond), a deleted `head`, a leftover
 * `head.tmp`.
 *
 * Properties, per input, under the default options, `recovery: "skip"` and
 * `onCorruption: "fail"` (the input picks one), with maxRecordSize 64 MiB, 16 KiB, 4 KiB or 64:
 * - open throws nothing but a `WalError`, or succeeds; a refused open of an image changes no
 *   byte of it;
 * - after a successful open, iterating every record, appending one, syncing, closing and
 *   reopening throw nothing at all, and the reopened log holds exactly the recovered records
 *   and the new one (recovery of a recovered log is stable);
 * - no phantom: a recovered record that lies wholly before the first mutated byte is the
 *   original record at that LSN; no loss: every original record wholly before it is recovered;
 * - bounded memory: no store read asks for more than maxRecordSize + 8 + SCAN_CHUNK_SIZE bytes
 *   (the scanner reads each buffer it allocates whole), and for adversarial length fields the
 *   largest array allocated during open and the heap growth stay under maxRecordSize plus a
 *   stated constant;
 * - bounded work: store reads per image input stay within a bound linear in the image size,
 *   and each input finishes within INPUT_TIME_LIMIT_MS.
 *
 * A bug this harness found, kept as a regression test at the end: resync used to compute a CRC
 * over each plausible length it read, so n damaged bytes whose words read as lengths near n/2
 * cost O(n²) (0.4 s for 64 KiB, fourfold per doubling); src/resync.ts now checks each candidate
 * in bounded time.
 *
 * Knobs: WAL_FUZZ_INPUTS (images in memory, default 100,000), WAL_FUZZ_DIRS (segment
 * directories on disk, default 2,000), both times WAL_SCALE; WAL_SEED replays a run (the seed
 * is in the titles). The figures line counts both kinds of input.
 */

import { heapStats } from "bun:jsc";
import { describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { crc32c } from "../src/crc32c.ts";
import {
  DEFAULT_MAX_RECORD_SIZE,
  MemoryStore,
  Wal,
  WalError,
  type WalOptions,
  type WalRecord,
} from "../src/index.ts";
import { sealFrame } from "../src/record.ts";
import { SCAN_CHUNK_SIZE } from "../src/scan.ts";
import {
  applyDirectoryMutation,
  applyImageMutation,
  type DirectoryImage,
  type DirectoryMutation,
  directoryMutationArbitrary,
  type ImageMutation,
  imageMutationArbitrary,
  segmentIndices,
  segmentName,
  splitSegments,
} from "./support/fuzz-mutations.ts";
import { BrokenReadStore, MeteredStore, newMeter, type ReadMeter } from "./support/fuzz-store.ts";
import { reportFigures, sized } from "./support/knobs.ts";
import { mulberry32, randomBytes, seedFromEnv } from "./support/random.ts";
import { tempDir } from "./support/temp.ts";

const dir = tempDir("wal-db-fuzz-");
const SEED = seedFromEnv(0xf022);
const IMAGE_INPUTS = sized("WAL_FUZZ_INPUTS", 100_000);
const DIRECTORY_INPUTS = sized("WAL_FUZZ_DIRS", 2_000);
/** Far beyond what any input needs (well under a millisecond in memory, a few on disk). */
const INPUT_TIME_LIMIT_MS = 5_000;

// ---------------------------------------------------------------------------------------------
// Seeds: real logs, written by the library (and one by the Rust crate).

/** One record of a seed: its LSN in the log and its payload. */
interface SeedRecord {
  readonly lsn: number;
  readonly data: Uint8Array;
}

interface ImageSeed {
  readonly name: string;
  /**
   * How often inputs start from this seed, relative to the others. Scanning damage costs time
   * per byte after it, so the largest seed is drawn least, to keep the run within its budget.
   */
  readonly weight: number;
  readonly image: Uint8Array;
  readonly records: readonly SeedRecord[];
}

const next = mulberry32(SEED);
const bytesOf = (size: number) => randomBytes(next, size);
const smallPayloads = (count: number, max: number) =>
  Array.from({ length: count }, () => bytesOf(next() % (max + 1)));

/** Frames `payloads` from LSN 0 through a `Wal` over a `MemoryStore`. */
function imageSeed(name: string, weight: number, payloads: readonly Uint8Array[]): ImageSeed {
  const store = new MemoryStore();
  const wal = Wal.withStore(store);
  const records = payloads.map((data) => ({ lsn: wal.append(data), data }));
  wal.close();
  return { name, weight, image: store.snapshot(), records };
}

/** A frame as the log writes it, for payloads that are themselves frames. */
function frameOf(payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(8 + payload.length);
  const view = new DataView(frame.buffer);
  view.setUint32(4, payload.length, true);
  frame.set(payload, 8);
  view.setUint32(0, crc32c(frame, 4), true);
  return frame;
}

function rustSeed(): ImageSeed {
  const image = new Uint8Array(readFileSync(join(import.meta.dir, "fixtures/rust-compatible.wal")));
  const wal = Wal.withStore(new MemoryStore(image));
  const records = [...wal.iter()];
  wal.close();
  return { name: "rust-compatible.wal", weight: 2, image, records };
}

const IMAGE_SEEDS: readonly ImageSeed[] = [
  imageSeed("small records", 3, smallPayloads(30, 100)),
  imageSeed(
    "multi-KB and empty records",
    1,
    [0, 5, 2100, 0, 17, 4100, 1, 0, 200].map((size) => bytesOf(size)),
  ),
  imageSeed(
    "empty records",
    2,
    Array.from({ length: 30 }, () => new Uint8Array(0)),
  ),
  // Payloads that are frames: damage before them can make "skip" land inside a record.
  imageSeed(
    "frames inside records",
    2,
    smallPayloads(12, 60).map((payload, i) => (i % 2 === 0 ? frameOf(payload) : payload)),
  ),
  imageSeed(
    "text",
    2,
    ["a state change", "", "x", '{"op":"put","key":"k","value":42}', "last"].map((text) =>
      new TextEncoder().encode(text),
    ),
  ),
  rustSeed(),
];

/** A segment directory seed, read into memory: its files, its log bytes and its records. */
interface DirectorySeed {
  readonly name: string;
  readonly segmentSize: number;
  readonly image: DirectoryImage;
  /** The index of the first segment (the head's). */
  readonly first: number;
  /** The log bytes from `first × segmentSize` on: the segments concatenated. */
  readonly bytes: Uint8Array;
  /** The `head` file's bytes, or null when there is none. */
  readonly headFile: Uint8Array | null;
  readonly head: number;
  /** Every record written, those `truncateBefore` dropped too (their bytes may remain). */
  readonly records: readonly SeedRecord[];
}

let directoryCount = 0;
const newDirectory = (kind: string) => join(dir, `${kind}-${++directoryCount}`);

function directorySeed(
  name: string,
  segmentSize: number,
  payloads: readonly Uint8Array[],
  dropBefore = 0,
): DirectorySeed {
  const path = newDirectory("seed");
  const records: SeedRecord[] = [];
  {
    using wal = Wal.open(path, { segmentSize });
    for (const data of payloads) records.push({ lsn: wal.append(data), data });
    wal.sync();
    if (dropBefore > 0) wal.truncateBefore(records[dropBefore]!.lsn);
  }
  const files = new Map<string, Uint8Array>();
  for (const entry of readdirSync(path)) {
    if (entry !== "LOCK") files.set(entry, new Uint8Array(readFileSync(join(path, entry))));
  }
  rmSync(path, { recursive: true });
  const image = { files, directories: new Set<string>() };
  const indices = segmentIndices(image);
  const first = indices[0] ?? 0;
  const bytes = new Uint8Array(
    Buffer.concat(indices.map((index) => files.get(segmentName(index))!)),
  );
  const head = dropBefore > 0 ? records[dropBefore]!.lsn : 0;
  return {
    name,
    segmentSize,
    image,
    first,
    bytes,
    headFile: files.get("head") ?? null,
    head,
    records,
  };
}

const DIRECTORY_SEEDS: readonly DirectorySeed[] = [
  // 4 KiB, the smallest segmentSize, and an odd 6,400; records spanning up to four segments.
  directorySeed("4 KiB segments", 4096, smallPayloads(9, 3800)),
  directorySeed(
    "6400-byte segments",
    6400,
    [0, 1920, 0, 16_000, 448, 0, 5760, 192].map((size) => bytesOf(size)),
  ),
  directorySeed(
    "4 KiB segments, a record over 3",
    4096,
    [80, 12_000, 0, 320, 4800, 0, 40].map((size) => bytesOf(size)),
  ),
  directorySeed("4 KiB segments, head moved", 4096, smallPayloads(30, 1280), 12),
];

// ---------------------------------------------------------------------------------------------
// The properties.

const POLICIES: readonly { readonly name: string; readonly options: WalOptions }[] = [
  { name: "default", options: {} },
  { name: "recovery: skip", options: { recovery: "skip" } },
  { name: "onCorruption: fail", options: { onCorruption: "fail" } },
];

const maxRecordSizeArbitrary = fc.oneof(
  { weight: 3, arbitrary: fc.constant(DEFAULT_MAX_RECORD_SIZE) },
  { weight: 3, arbitrary: fc.constant(16 * 1024) },
  { weight: 2, arbitrary: fc.constant(4 * 1024) },
  { weight: 1, arbitrary: fc.constant(64) },
);

/** What each input's checks found, summed over the run (before any failure's shrinking). */
interface Tally {
  images: number;
  directories: number;
  opened: number;
  refused: number;
  lost: number;
  phantom: number;
  untyped: number;
  /** WalErrors after a successful open, reopens that disagree, refused opens that changed bytes. */
  inconsistent: number;
  /** Directory inputs whose append failed with a tolerated IO error (see `directoryProperty`). */
  failedAfterOpen: number;
  /** Reopens under "skip" where a frame from kept damage swallowed records (see swallowedBySkip). */
  reinterpreted: number;
  damagedRegions: number;
  maxReadBytes: number;
  /** The most store reads any image input made, per KiB of its image (rounded up). */
  maxReadsPerKiB: number;
  /** Refused opens by WalError code. */
  readonly refusals: Record<string, number>;
}

const newTally = (): Tally => ({
  images: 0,
  directories: 0,
  opened: 0,
  refused: 0,
  lost: 0,
  phantom: 0,
  untyped: 0,
  inconsistent: 0,
  failedAfterOpen: 0,
  reinterpreted: 0,
  damagedRegions: 0,
  maxReadBytes: 0,
  maxReadsPerKiB: 0,
  refusals: {},
});

/** The log as it was before the mutations, and how much of it they left as it was. */
interface Reference {
  /** Every original record by LSN. */
  readonly records: ReadonlyMap<number, Uint8Array>;
  /** The original records from the original head on. */
  readonly live: readonly SeedRecord[];
  /** The LSN of the first byte the mutations changed: every byte below it is original. */
  readonly intactEnd: number;
}

/** What went wrong with one input; empty when nothing did. */
interface Findings {
  opened: boolean;
  /** The code of the WalError a refused open threw. */
  refusal: string | null;
  lost: number;
  phantom: number;
  untyped: number;
  inconsistent: number;
  /** Tolerated WalErrors after a successful open (an IO error from a stray entry). */
  failedAfterOpen: number;
  /** Reopens under "skip" where a frame from kept damage swallowed records (see swallowedBySkip). */
  reinterpreted: number;
  damagedRegions: number;
  readonly problems: string[];
}

const describeError = (error: unknown) =>
  error instanceof WalError
    ? `${error.name} ${error.code}: ${error.message}`
    : `untyped ${(error as Error)?.constructor?.name ?? typeof error}: ${String(error)}`;

const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

/**
 * Runs the properties over one mutated log: `open` opens it (again) with the input's options,
 * and `refusedIntact`, when given, tells whether a refused open left the bytes as they were.
 */
function exercise(
  open: () => Wal,
  reference: Reference,
  payload: Uint8Array,
  refusedIntact?: () => boolean,
  tolerated?: (error: WalError) => boolean,
): Findings {
  const findings: Findings = {
    opened: false,
    refusal: null,
    lost: 0,
    phantom: 0,
    untyped: 0,
    inconsistent: 0,
    failedAfterOpen: 0,
    reinterpreted: 0,
    damagedRegions: 0,
    problems: [],
  };
  const fault = (where: string, error: unknown) => {
    if (error instanceof WalError && tolerated?.(error)) {
      findings.failedAfterOpen++;
    } else if (error instanceof WalError) {
      findings.inconsistent++;
      findings.problems.push(`${where} after a successful open threw ${describeError(error)}`);
    } else {
      findings.untyped++;
      findings.problems.push(`${where} threw ${describeError(error)}`);
    }
  };

  let wal: Wal;
  try {
    wal = open();
  } catch (error) {
    if (error instanceof WalError) findings.refusal = error.code;
    if (!(error instanceof WalError)) {
      findings.untyped++;
      findings.problems.push(`open threw ${describeError(error)}`);
    } else if (refusedIntact !== undefined && !refusedIntact()) {
      findings.inconsistent++;
      findings.problems.push(`open refused (${describeError(error)}) but changed the bytes`);
    }
    return findings;
  }
  findings.opened = true;
  findings.damagedRegions = wal.recovery.damagedRegions;

  let recovered: WalRecord[];
  let appended: WalRecord;
  try {
    recovered = [...wal.iter()];
    checkAgainstReference(recovered, reference, findings);
    if (recovered.length !== wal.recovery.records) {
      findings.inconsistent++;
      findings.problems.push(
        `recovery counted ${wal.recovery.records} records, iteration yielded ${recovered.length}`,
      );
    }
    const end = wal.recovery.end;
    appended = { lsn: wal.append(payload), data: payload };
    if (appended.lsn !== end) {
      findings.inconsistent++;
      findings.problems.push(`append after recovery landed at ${appended.lsn}, not ${end}`);
    }
    wal.sync();
  } catch (error) {
    fault("iter/append/sync", error);
    closeQuietly(wal, fault);
    // Whatever failed, the log must still open again, or refuse with a WalError.
    try {
      const reopened = open();
      [...reopened.iter()];
      closeQuietly(reopened, fault);
    } catch (reopenError) {
      if (!(reopenError instanceof WalError)) fault("reopen after a failure", reopenError);
    }
    return findings;
  }
  closeQuietly(wal, fault);

  let reopened: Wal;
  try {
    reopened = open();
  } catch (error) {
    fault("reopen", error);
    return findings;
  }
  try {
    const again = [...reopened.iter()];
    const expected = [...recovered, appended];
    const differs =
      again.length !== expected.length ||
      again.some((r, i) => r.lsn !== expected[i]!.lsn || !sameBytes(r.data, expected[i]!.data));
    const report = reopened.recovery;
    if (differs && swallowedBySkip(again, expected, findings.damagedRegions)) {
      // The documented limit of recovery: "skip" (docs/RELIABILITY.md, "Known limits"):
      // counted, not failed, and only in exactly this shape.
      findings.reinterpreted++;
    } else if (
      differs ||
      report.bytesDropped !== 0 ||
      report.damagedRegions !== findings.damagedRegions
    ) {
      findings.inconsistent++;
      findings.problems.push(
        `reopen is not stable: ${again.length} records (expected ${expected.length}), ` +
          `${report.bytesDropped} bytes dropped, ${report.damagedRegions} damaged regions ` +
          `(expected ${findings.damagedRegions})`,
      );
    }
  } catch (error) {
    fault("iterating the reopened log", error);
  }
  closeQuietly(reopened, fault);
  return findings;
}

/**
 * Whether a reopen under `recovery: "skip"` differs from the first open in one way only: a
 * frame that starts in damage the first open kept now validates (the append after recovery
 * rewrote the bytes it ends with exactly as they were) and covers records the first open
 * yielded, the append's included. "skip" cannot tell such a frame from a real one; the
 * default open cuts the damage instead, and is never allowed this.
 */
function swallowedBySkip(
  again: readonly WalRecord[],
  expected: readonly WalRecord[],
  damagedRegions: number,
): boolean {
  if (damagedRegions === 0) return false;
  const first = expected.findIndex(
    (record, i) => again[i]?.lsn !== record.lsn || !sameBytes(again[i]!.data, record.data),
  );
  const swallowing = again[first];
  const swallowed = expected[first];
  if (swallowing === undefined || swallowed === undefined) return false;
  const swallowingEnd = swallowing.lsn + 8 + swallowing.data.length;
  return swallowing.lsn < swallowed.lsn && swallowingEnd > swallowed.lsn;
}

function closeQuietly(wal: Wal, fault: (where: string, error: unknown) => void): void {
  try {
    wal.close();
  } catch (error) {
    fault("close", error);
  }
}

/** Counts phantom and lost records among `recovered`, against the intact prefix. */
function checkAgainstReference(
  recovered: readonly WalRecord[],
  reference: Reference,
  findings: Findings,
): void {
  const { intactEnd } = reference;
  for (const record of recovered) {
    if (record.lsn + 8 + record.data.length > intactEnd) continue;
    const original = reference.records.get(record.lsn);
    if (original === undefined || !sameBytes(original, record.data)) {
      findings.phantom++;
      findings.problems.push(
        `phantom: a ${record.data.length}-byte record at ${record.lsn}, within the intact ` +
          `prefix [0, ${intactEnd}), is not the original record there`,
      );
    }
  }
  const lsns = new Set(recovered.map((record) => record.lsn));
  for (const original of reference.live) {
    if (original.lsn + 8 + original.data.length > intactEnd) break;
    if (!lsns.has(original.lsn)) {
      findings.lost++;
      findings.problems.push(
        `lost: the original record at ${original.lsn} lies within the intact prefix ` +
          `[0, ${intactEnd}) but was not recovered`,
      );
    }
  }
}

/** The offset of the first byte where `mutated` differs from `original` (or one ends). */
function firstDifference(original: Uint8Array, mutated: Uint8Array): number {
  const common = Math.min(original.length, mutated.length);
  for (let at = 0; at < common; at++) if (original[at] !== mutated[at]) return at;
  return original.length === mutated.length ? Number.POSITIVE_INFINITY : common;
}

/**
 * Bounded work: the store reads one image input may make. Images here are smaller than the
 * scanner's chunk, so each scan (recovery, iteration, and both again after the reopen) reads its
 * range in a few calls, plus one call per damaged region that recovery checks as an oversize
 * record; the most measured is under 30 on a 466-byte image. A loop that re-read per byte, or
 * per candidate offset, would make thousands. Reads do not see CPU spent on bytes already
 * buffered: the regression test at the end of this file covers resync's CRC work, and INPUT_TIME_LIMIT_MS
 * is the backstop for a loop that spins without reading.
 */
const readBound = (size: number) => 64 + 16 * Math.ceil(size / 1024);

interface ImageInput {
  readonly seed: number;
  readonly mutations: readonly ImageMutation[];
  readonly policy: number;
  readonly maxRecordSize: number;
  readonly payload: Uint8Array;
}

const imageInputArbitrary: fc.Arbitrary<ImageInput> = fc.record({
  seed: fc.oneof(
    ...IMAGE_SEEDS.map((seed, index) => ({ weight: seed.weight, arbitrary: fc.constant(index) })),
  ),
  mutations: fc.array(imageMutationArbitrary, { minLength: 1, maxLength: 4 }),
  policy: fc.nat({ max: POLICIES.length - 1 }),
  maxRecordSize: maxRecordSizeArbitrary,
  payload: fc.uint8Array({ maxLength: 40 }),
});

const OTHER_IMAGES = IMAGE_SEEDS.map((seed) => seed.image);

/** The mutated image of `input`, and where its intact prefix ends. */
function mutateImage(input: ImageInput): { image: Uint8Array; reference: Reference } {
  const seed = IMAGE_SEEDS[input.seed]!;
  const context = {
    boundaries: seed.records.map((record) => record.lsn),
    maxRecordSize: input.maxRecordSize,
    others: OTHER_IMAGES,
  };
  let image = seed.image;
  for (const mutation of input.mutations) image = applyImageMutation(image, mutation, context);
  return {
    image,
    reference: {
      records: new Map(seed.records.map((record) => [record.lsn, record.data])),
      live: seed.records,
      intactEnd: firstDifference(seed.image, image),
    },
  };
}

/**
 * One image input, through `makeStore` (a metered `MemoryStore`, or the negative control's
 * broken one). Returns the findings and the read meter; adds to `tally` unless it is null.
 */
function runImage(
  input: ImageInput,
  makeStore: (bytes: Uint8Array, meter: ReadMeter) => MeteredStore,
): { findings: Findings; meter: ReadMeter; size: number; elapsed: number } {
  const started = performance.now();
  const { image, reference } = mutateImage(input);
  const meter = newMeter();
  const options: WalOptions = {
    ...POLICIES[input.policy]!.options,
    maxRecordSize: input.maxRecordSize,
  };
  let store: MeteredStore | undefined;
  const open = () => {
    store = makeStore(store === undefined ? image : store.inner.snapshot(), meter);
    return Wal.withStore(store, options);
  };
  const findings = exercise(open, reference, input.payload, () =>
    sameBytes(store!.inner.snapshot(), image),
  );
  return { findings, meter, size: image.length, elapsed: performance.now() - started };
}

/** Every problem with one image input, the memory and work bounds included. */
function imageProblems(run: ReturnType<typeof runImage>, input: ImageInput): string[] {
  const problems = [...run.findings.problems];
  const readLimit = input.maxRecordSize + 8 + SCAN_CHUNK_SIZE;
  if (run.meter.largestRead > readLimit) {
    problems.push(`a read asked for ${run.meter.largestRead} bytes, above ${readLimit}`);
  }
  if (run.meter.reads > readBound(run.size)) {
    problems.push(
      `${run.meter.reads} store reads for a ${run.size}-byte image, above ${readBound(run.size)}`,
    );
  }
  if (run.elapsed > INPUT_TIME_LIMIT_MS) {
    problems.push(`took ${Math.round(run.elapsed)} ms, above ${INPUT_TIME_LIMIT_MS} ms`);
  }
  return problems;
}

function addFindings(tally: Tally, findings: Findings): void {
  if (findings.opened) tally.opened++;
  else tally.refused++;
  if (findings.refusal !== null) {
    tally.refusals[findings.refusal] = (tally.refusals[findings.refusal] ?? 0) + 1;
  }
  tally.lost += findings.lost;
  tally.phantom += findings.phantom;
  tally.untyped += findings.untyped;
  tally.inconsistent += findings.inconsistent;
  tally.failedAfterOpen += findings.failedAfterOpen;
  tally.reinterpreted += findings.reinterpreted;
  tally.damagedRegions += findings.damagedRegions;
}

/**
 * The image property over `makeStore`'s stores: throws, listing every problem, when an input
 * breaks one. Adds each input to `tally` until the first failure (shrinking reruns are not
 * counted).
 */
function imageProperty(
  tally: Tally,
  makeStore: (bytes: Uint8Array, meter: ReadMeter) => MeteredStore,
) {
  let failed = false;
  return fc.property(imageInputArbitrary, (input) => {
    const run = runImage(input, makeStore);
    const problems = imageProblems(run, input);
    if (!failed) {
      tally.images++;
      addFindings(tally, run.findings);
      tally.maxReadBytes = Math.max(tally.maxReadBytes, run.meter.largestRead);
      tally.maxReadsPerKiB = Math.max(
        tally.maxReadsPerKiB,
        Math.ceil(run.meter.reads / Math.max(1, run.size / 1024)),
      );
    }
    if (problems.length > 0) {
      failed = true;
      throw new Error(`${POLICIES[input.policy]!.name}: ${problems.join("; ")}`);
    }
  });
}

interface DirectoryInput {
  readonly seed: number;
  readonly bytes: readonly ImageMutation[];
  readonly files: readonly DirectoryMutation[];
  readonly policy: number;
  /** Open with another segment size than the log was written with (0: the right one). */
  readonly sizeDelta: number;
  readonly payload: Uint8Array;
}

const directoryInputArbitrary: fc.Arbitrary<DirectoryInput> = fc
  .record({
    seed: fc.nat({ max: DIRECTORY_SEEDS.length - 1 }),
    // Bytes, files or both; 1–4 mutations in all.
    bytes: fc.array(imageMutationArbitrary, { maxLength: 3 }),
    files: fc.array(directoryMutationArbitrary, { maxLength: 3 }),
    policy: fc.nat({ max: POLICIES.length - 1 }),
    sizeDelta: fc.oneof(
      { weight: 15, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.constantFrom(-1, 1, 64) },
    ),
    payload: fc.uint8Array({ maxLength: 300 }),
  })
  .filter((input) => {
    const count = input.bytes.length + input.files.length + (input.sizeDelta === 0 ? 0 : 1);
    return count >= 1 && count <= 4;
  });

/**
 * The mutated directory of `input`: byte mutations first, on the log bytes (then split into
 * segments again), then the file mutations in order. The intact prefix ends at the first
 * changed byte of the segments that still form one chain from the head's, or at 0 when the
 * `head` file changed.
 */
function mutateDirectory(input: DirectoryInput): { image: DirectoryImage; reference: Reference } {
  const seed = DIRECTORY_SEEDS[input.seed]!;
  const base = seed.first * seed.segmentSize;
  const boundaries = seed.records.map((record) => record.lsn);
  const byteContext = {
    boundaries: boundaries.filter((lsn) => lsn >= base).map((lsn) => lsn - base),
    maxRecordSize: DEFAULT_MAX_RECORD_SIZE,
    others: OTHER_IMAGES,
  };
  let bytes = seed.bytes;
  for (const mutation of input.bytes) bytes = applyImageMutation(bytes, mutation, byteContext);
  const files = new Map(seed.image.files);
  for (const name of segmentIndices(seed.image).map(segmentName)) files.delete(name);
  for (const [name, segment] of splitSegments(bytes, seed.first, seed.segmentSize)) {
    files.set(name, segment);
  }
  let image: DirectoryImage = { files, directories: new Set() };
  const context = { segmentSize: seed.segmentSize, boundaries };
  for (const mutation of input.files) image = applyDirectoryMutation(image, mutation, context);

  const head = image.files.get("head") ?? null;
  const headIntact =
    head === null
      ? seed.headFile === null
      : seed.headFile !== null && sameBytes(head, seed.headFile);
  const chain: Uint8Array[] = [];
  for (let index = seed.first; ; index++) {
    const segment = image.files.get(segmentName(index));
    if (segment === undefined) break;
    chain.push(segment);
    if (segment.length !== seed.segmentSize) break;
  }
  const difference = firstDifference(seed.bytes, new Uint8Array(Buffer.concat(chain)));
  return {
    image,
    reference: {
      records: new Map(seed.records.map((record) => [record.lsn, record.data])),
      live: seed.records.filter((record) => record.lsn >= seed.head),
      intactEnd: headIntact ? base + difference : 0,
    },
  };
}

/** Writes `image` into a new directory; returns its path. */
function writeDirectory(image: DirectoryImage): string {
  const path = newDirectory("input");
  mkdirSync(path);
  for (const [name, bytes] of image.files) writeFileSync(join(path, name), bytes);
  for (const name of image.directories) mkdirSync(join(path, name));
  return path;
}

function directoryProperty(tally: Tally) {
  let failed = false;
  return fc.property(directoryInputArbitrary, (input) => {
    const started = performance.now();
    const seed = DIRECTORY_SEEDS[input.seed]!;
    const { image, reference } = mutateDirectory(input);
    const path = writeDirectory(image);
    const options: WalOptions = {
      ...POLICIES[input.policy]!.options,
      segmentSize: seed.segmentSize + input.sizeDelta,
    };
    let findings: Findings;
    try {
      // A stray directory named like the next segment makes the append that needs that
      // segment fail with IO (EISDIR): a typed refusal, not a finding.
      findings = exercise(
        () => Wal.open(path, options),
        reference,
        input.payload,
        undefined,
        (error) => error.code === "IO",
      );
    } finally {
      rmSync(path, { recursive: true, force: true });
    }
    const problems = [...findings.problems];
    const elapsed = performance.now() - started;
    if (elapsed > INPUT_TIME_LIMIT_MS) {
      problems.push(`took ${Math.round(elapsed)} ms, above ${INPUT_TIME_LIMIT_MS} ms`);
    }
    if (!failed) {
      tally.directories++;
      addFindings(tally, findings);
    }
    if (problems.length > 0) {
      failed = true;
      throw new Error(`${seed.name}, ${POLICIES[input.policy]!.name}: ${problems.join("; ")}`);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// The runs.

/** fast-check's report of a failed run with the property's own message, or null. */
function failureOf<Ts>(result: fc.RunDetails<Ts>): string | null {
  if (!result.failed) return null;
  const error = result.errorInstance;
  return `${fc.defaultReportMessage(result)}\n${error instanceof Error ? error.message : String(error)}`;
}

const tally = newTally();

describe("fuzz: Wal.open() of mutated logs", () => {
  test("the seeds are real logs that open clean", () => {
    for (const seed of IMAGE_SEEDS) {
      using wal = Wal.withStore(new MemoryStore(seed.image));
      expect(wal.recovery.bytesDropped, seed.name).toBe(0);
      expect(
        [...wal.iter()].map((r) => r.lsn),
        seed.name,
      ).toEqual(seed.records.map((r) => r.lsn));
    }
    for (const seed of DIRECTORY_SEEDS) {
      const path = writeDirectory(seed.image);
      {
        using wal = Wal.open(path, { segmentSize: seed.segmentSize });
        expect(wal.recovery.bytesDropped, seed.name).toBe(0);
        expect(wal.head, seed.name).toBe(seed.head);
        expect(
          [...wal.iter()].map((r) => r.lsn),
          seed.name,
        ).toEqual(seed.records.filter((r) => r.lsn >= seed.head).map((r) => r.lsn));
      }
      rmSync(path, { recursive: true });
      // Segments small enough that records straddle them, and logs that span many.
      expect(segmentIndices(seed.image).length, seed.name).toBeGreaterThanOrEqual(4);
    }
  });

  test(`Wal.withStore() of ${IMAGE_INPUTS} mutated images throws only WalError, keeps the intact prefix and reopens stable (WAL_SEED=${SEED})`, () => {
    const result = fc.check(
      imageProperty(tally, (bytes, meter) => new MeteredStore(bytes, meter)),
      {
        seed: SEED,
        numRuns: IMAGE_INPUTS,
      },
    );
    expect(failureOf(result)).toBeNull();
  }, 600_000);

  test(`Wal.open() of ${DIRECTORY_INPUTS} mutated segment directories throws only WalError, keeps the intact prefix and reopens stable (WAL_SEED=${SEED})`, () => {
    const result = fc.check(directoryProperty(tally), {
      seed: SEED + 1,
      numRuns: DIRECTORY_INPUTS,
    });
    expect(failureOf(result)).toBeNull();
  }, 600_000);

  test('the "only WalError" property catches a store whose read throws a plain Error (negative control)', () => {
    const control = newTally();
    const result = fc.check(
      imageProperty(control, (bytes, meter) => new BrokenReadStore(bytes, meter)),
      { seed: SEED, numRuns: 20 },
    );
    expect(result.failed).toBe(true);
    expect(failureOf(result)).toContain("open threw untyped Error");
    expect(control.untyped).toBeGreaterThan(0);
  });

  test("the harness reports its figures, and every count of damage is 0", () => {
    console.log(`fuzz: refused opens by code ${JSON.stringify(tally.refusals)}`);
    reportFigures("fuzz", {
      checked: tally.images + tally.directories,
      unit: "fuzz inputs",
      lost: tally.lost,
      phantom: tally.phantom,
      untyped: tally.untyped,
      extra: {
        images: tally.images,
        directories: tally.directories,
        opened: tally.opened,
        refused: tally.refused,
        inconsistent: tally.inconsistent,
        failedAfterOpen: tally.failedAfterOpen,
        reinterpreted: tally.reinterpreted,
        damagedRegions: tally.damagedRegions,
        maxReadBytes: tally.maxReadBytes,
        maxReadsPerKiB: tally.maxReadsPerKiB,
      },
      seed: SEED,
    });
    expect(tally.images).toBe(IMAGE_INPUTS);
    expect(tally.directories).toBe(DIRECTORY_INPUTS);
    expect({
      lost: tally.lost,
      phantom: tally.phantom,
      untyped: tally.untyped,
      inconsistent: tally.inconsistent,
    }).toEqual({ lost: 0, phantom: 0, untyped: 0, inconsistent: 0 });
    // Both outcomes happen: the run is not all refusals, nor all clean opens.
    expect(tally.opened).toBeGreaterThan(0);
    expect(tally.refused).toBeGreaterThan(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Memory during recovery, measured directly, for adversarial length fields.

/**
 * What an open may add beyond maxRecordSize, both to the heap an open log keeps and to the
 * process's RSS meanwhile: a scanner chunk (SCAN_CHUNK_SIZE), the chunk an oversize record's CRC
 * is checked through, the Wal's 64 KiB frame scratch and its shared state, and generous slack
 * for the allocator and the JIT. A length field that drove an allocation would show as
 * gigabytes.
 */
const GROWTH_CONSTANT = 16 * 1024 * 1024;
/**
 * RSS also holds garbage the collector has not reclaimed yet: with maxRecordSize above the
 * chunk, resync allocates a record-sized buffer for each plausible length it tries and a fresh
 * chunk after it, so transient garbage of a few such buffers is normal (about 17 MiB measured
 * at 2 MiB). Twice the retained constant covers it.
 */
const RSS_CONSTANT = 2 * GROWTH_CONSTANT;

/**
 * Opens `image` with `options` while watching every `Uint8Array` the library allocates (the
 * global constructor is wrapped for the duration of the open: the scanner, the CRC check of an
 * oversize record and the Wal allocate through it) for the largest, and measures the heap the
 * open log keeps and the RSS growth. Peak heap cannot be sampled inside a synchronous call; the
 * largest single allocation bounds it, since the scanner holds one buffer at a time.
 */
function measureOpen(image: Uint8Array, options: WalOptions) {
  const store = new MemoryStore(image);
  Bun.gc(true);
  const heapBefore = heapStats();
  const rssBefore = process.memoryUsage.rss();
  let largest = 0;
  const original = globalThis.Uint8Array;
  const counting = new Proxy(original, {
    construct(target, args, newTarget) {
      const array = Reflect.construct(target, args, newTarget) as Uint8Array;
      largest = Math.max(largest, array.length);
      return array;
    },
  });
  let wal: Wal | undefined;
  let thrown: unknown = null;
  (globalThis as { Uint8Array: unknown }).Uint8Array = counting;
  try {
    wal = Wal.withStore(store, options);
  } catch (error) {
    thrown = error;
  } finally {
    (globalThis as { Uint8Array: unknown }).Uint8Array = original;
  }
  const rssGrowth = process.memoryUsage.rss() - rssBefore;
  // With the log still open: what it keeps, not what it freed.
  Bun.gc(true);
  const heapAfter = heapStats();
  const heapGrowth =
    heapAfter.heapSize +
    heapAfter.extraMemorySize -
    heapBefore.heapSize -
    heapBefore.extraMemorySize;
  wal?.close();
  return { largest, heapGrowth, rssGrowth, thrown, opened: wal !== undefined };
}

/** A real log of `count` records of `size` random bytes. */
function logOf(count: number, size: number): { image: Uint8Array; lsns: number[] } {
  const store = new MemoryStore();
  const wal = Wal.withStore(store);
  const lsns = Array.from({ length: count }, () => wal.append(bytesOf(size)));
  wal.close();
  return { image: store.snapshot(), lsns };
}

const ADVERSARIAL_LENGTHS = [
  "0xFFFFFFFF",
  "0xFFFFFFF8",
  "2^31",
  "maxRecordSize",
  "maxRecordSize + 1",
  "to the end",
] as const;

describe.each([
  // A small limit, the default, and one above the scanner's chunk, where a record gets a buffer
  // of its own: the log is then large enough that a length of maxRecordSize fits in it.
  { maxRecordSize: 4 * 1024, log: () => logOf(64, 1000) },
  { maxRecordSize: DEFAULT_MAX_RECORD_SIZE, log: () => logOf(64, 1000) },
  { maxRecordSize: 2 * 1024 * 1024, log: () => logOf(40, 64 * 1024) },
])(
  "fuzz: memory of Wal.open() over a forged length, maxRecordSize $maxRecordSize",
  ({ maxRecordSize, log }) => {
    const { image, lsns } = log();
    const at = lsns[4]!;
    test.each(
      ADVERSARIAL_LENGTHS.flatMap((value) => [
        { value, crc: false },
        { value, crc: true },
      ]),
    )(
      "a length of $value (matching CRC: $crc) allocates at most maxRecordSize + a constant",
      ({ value, crc }) => {
        const forged = applyImageMutation(
          image,
          { kind: "length", pick: 0, anywhere: false, value, random: 0, crc },
          { boundaries: [at], maxRecordSize, others: [] },
        );
        const measured = measureOpen(forged, { maxRecordSize });
        if (measured.thrown !== null) expect(measured.thrown).toBeInstanceOf(WalError);
        expect(measured.largest).toBeLessThanOrEqual(Math.max(maxRecordSize + 8, SCAN_CHUNK_SIZE));
        expect(measured.heapGrowth).toBeLessThanOrEqual(GROWTH_CONSTANT);
        expect(measured.rssGrowth).toBeLessThanOrEqual(maxRecordSize + RSS_CONSTANT);
      },
    );
  },
);

// ---------------------------------------------------------------------------------------------
// A bug the fuzzer found: resync's work was quadratic in the bytes it skips.

test("resync over 4 MiB whose every word reads as a plausible length finds the record after it", () => {
  // Every 4-byte word reads as length n/2, so nearly every offset is a candidate whose CRC
  // spans half the region: about n²/16 bytes of CRC for a search that checks each candidate by
  // its payload (hours here, so the test would time out). A valid record follows the region.
  const size = 4 * 1024 * 1024;
  const record = new TextEncoder().encode("the record after the damage");
  const frame = new Uint8Array(8 + record.length);
  frame.set(record, 8);
  sealFrame(frame, record.length);
  const image = new Uint8Array(size + frame.length);
  const view = new DataView(image.buffer);
  for (let at = 0; at + 4 <= size; at += 4) view.setUint32(at, size / 2, true);
  image.set(frame, size);
  using wal = Wal.withStore(new MemoryStore(image), { recovery: "skip" });
  const records = [...wal.iter()];
  expect(records.map((r) => r.lsn)).toEqual([size]);
  expect(new TextDecoder().decode(records[0]!.data)).toBe("the record after the damage");
});
