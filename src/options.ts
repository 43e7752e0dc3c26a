/**
 * @module
 * The options `Wal.open` and `Wal.withStore` take, their defaults, and their validation.
 * Validation runs before anything is opened, so a bad option never touches the disk.
 */

import { type Codec, codecs } from "./codec.ts";
import { type CorruptionError, describeValue, invalidArgument } from "./errors.ts";
import { LSN_LIMIT, PAYLOAD_SIZE_LIMIT } from "./record.ts";

/**
 * Options for `Wal.open` and `Wal.withStore`. Every field is optional. `T` is the
 * type of the records' values: `Uint8Array` unless a `codec` says otherwise.
 */
export interface WalOptions<T = Uint8Array> {
  /**
   * How record values become payload bytes and back (see {@link Codec}): `append` and
   * `commit` take values of type `T`, and `iter`, `iterFrom`, `follow` and `replay` give them
   * back. The frame format is unchanged; a codec may compress or encrypt the payload.
   *
   * @default codecs.bytes: payloads as they are (strings appended as UTF-8)
   * @example Wal.open<Order>("orders.wal", { codec: codecs.json })
   */
  codec?: Codec<T>;

  /**
   * Whether `Wal.open` may create the log. With `false` it opens an existing log only: a
   * missing file, or a directory that holds no segmented log, is `NOT_FOUND` and nothing is
   * created, so a mistyped path never becomes a fresh empty log (as `bun:sqlite`'s
   * `create: false`). `Wal.openReadOnly` never creates anything, whatever this says.
   *
   * @default true
   * @example Wal.open("app.wal", { create: false })
   */
  create?: boolean;

  /**
   * The largest payload, in bytes, that `append` accepts and that recovery believes.
   *
   * `append` rejects a larger record with `RECORD_TOO_LARGE` before writing anything. Recovery
   * treats a header that claims a larger length as the end of the valid log, before reading or
   * allocating its payload, so a corrupt length can never drive a huge allocation. Open an
   * existing log with at least the size it was written with, or its larger records read as
   * damage and are cut.
   *
   * @default 67108864 (64 MiB, as the Rust crate)
   * Minimum 0, maximum 4294967295 (the length field is a u32).
   * @example Wal.open("app.wal", { maxRecordSize: 1024 * 1024 })
   */
  maxRecordSize?: number;

  /**
   * How long, in milliseconds, a sync waits for another thread that makes no progress before
   * it gives up with `STALLED` and poisons the log. Another thread stalls when a Worker dies
   * between reserving its bytes and writing them, or a barrier never returns; without a limit
   * every later sync would wait forever.
   *
   * @default 30000. Minimum 1, maximum 2147483647.
   */
  stallTimeout?: number;

  /**
   * How many `commit` calls of one thread may wait for durability at once. Past it, a `commit`
   * waits for a barrier to finish before it appends: back-pressure, so a slow disk cannot make
   * pending commits (and the unsynced bytes behind them) grow without bound.
   *
   * @default 16384. Minimum 1.
   */
  maxPendingCommits?: number;

  /**
   * Store the log as a directory of segment files of this many bytes each, instead of one
   * file: `Wal.open(dir, { segmentSize })`. Records span segments freely; segments are created
   * as the log grows, and `truncateBefore` deletes the ones a checkpoint made obsolete.
   *
   * The size is not stored on disk, but every segment except the newest holds exactly that many
   * bytes: an existing log of two or more segments opens without it (`Wal.open(dir)` reads the
   * size from its files). It is needed to create a log, and when the files cannot tell: a log of
   * one segment, or none yet (the error says so). A size the files contradict fails with
   * `SEGMENT_SIZE_MISMATCH`, naming both sizes.
   *
   * @default undefined: a single-file log, or the size an existing directory's segments show.
   * Minimum 4096 (4 KiB; smaller segments only multiply files and barriers), maximum 2^53 - 1.
   * A log written with smaller segments (the Rust crate takes any size above 0) opens with the
   * size left out, read from its files.
   * @example Wal.open("wal-dir", { segmentSize: 64 * 1024 * 1024 })
   */
  segmentSize?: number;

  /**
   * How many bytes of zero-filled space a single-file log keeps written past its last record.
   * A barrier after a write into space the file already holds costs markedly less than one
   * after a write that grows the file (no size or allocation change to journal): about 1.4×
   * the durable commits per second on ext4. An all-zero header is never a valid record, so
   * recovery reads the zeros as the end of the log and keeps them. Writes of at least a
   * quarter of this size are not followed by zeros: they gain nothing from them, and neither
   * do appends with no barrier since the last zeros, so those are written only once the log
   * was synced since. 0 turns the zero fill off (the file then ends at its last record, as the
   * Rust crate writes it).
   *
   * The zeros never cost an append: on a disk without room for them (the zero write fails with
   * ENOSPC, EDQUOT or EFBIG) that fill is given up, whatever part of it was written is cut
   * again, and the record is written as if `preallocate` were 0; the next fill after a barrier
   * tries again. Any other error of the zero write fails the append and poisons the log.
   *
   * @default 1048576 (1 MiB) for a single-file log; 0 for a segmented log (which refuses any
   * other value) or another store. Minimum 0, maximum 1073741824 (1 GiB).
   * @example Wal.open("app.wal", { preallocate: 4 * 1024 * 1024 })
   */
  preallocate?: number;

  /**
   * Called by open for each record recovery keeps, in LSN order, while it scans the log: the
   * fastest way to rebuild an engine's state, since every record is read and checksum-checked
   * once, where `open` then `iter` reads and checks the log twice. `data` is a view into the
   * scan's buffer, valid only during the call: copy what you keep. Records that recovery cuts
   * (after damage, by default) are not passed. If open then throws (`onCorruption: "fail"`, a
   * record over `maxRecordSize`, ...), discard what it passed; if `replay` throws, open throws
   * that error and the log is left unchanged.
   * With a `codec`, `data` is the decoded value (decoded from a copy, which it may keep).
   *
   * @default undefined (no replay)
   * @example Wal.open("app.wal", { replay: (data, lsn) => engine.apply(lsn, data) })
   */
  replay?: (data: T, lsn: number) => void;

  /**
   * What iteration does at a damaged record: `"stop"` throws a `CorruptionError` there;
   * `"skip"` reports the damaged region to `onCorrupt` and continues at the next offset where a
   * whole record validates (found by scanning forward, so a damaged length field is survived).
   * With `"skip"`, open keeps damaged regions that valid records follow instead of cutting them
   * (see `onCorruption`).
   *
   * @default "stop"
   */
  recovery?: "stop" | "skip";

  /**
   * Called once per damaged region that iteration skips under `recovery: "skip"`, with the
   * region's offset and the reason, before iteration continues after it.
   *
   * @default undefined (skipped regions are not reported)
   * @example Wal.open("app.wal", { recovery: "skip", onCorrupt: (e) => log.warn(e.message) })
   */
  onCorrupt?: (error: CorruptionError) => void;

  /**
   * What open does when the log holds damage that valid records follow (a torn tail with
   * nothing valid after it is cut in every mode: it is what a crash mid-append leaves).
   * `"truncate"` cuts the log at the first damaged record, as the Rust crate does (under
   * `recovery: "skip"`, only after the last valid record); `"fail"` refuses to open with a
   * `CORRUPTION` error and changes nothing, so an operator can decide before records are cut.
   *
   * @default "truncate"
   */
  onCorruption?: "truncate" | "fail";

  /**
   * Called when a durability barrier took at least `slowSyncThreshold` milliseconds, with how
   * long it took: the disk is in trouble long before it fails (etcd warns at one second).
   * Barriers run in whichever thread syncs; the hook runs in this `Wal`'s thread, when a sync,
   * `appendAndSync` or `commit` of it returns after the slow barrier (once per such return).
   *
   * @default undefined (slow barriers are only counted, in `stats().slowSyncs`)
   * @example Wal.open("app.wal", { onSlowSync: (ms) => console.warn(`fdatasync took ${ms} ms`) })
   */
  onSlowSync?: (ms: number) => void;

  /**
   * How long, in milliseconds, a barrier must take to count as slow (`onSlowSync`,
   * `stats().slowSyncs`). For the whole log: the last `Wal` opened or attached with it sets it.
   *
   * @default 1000. Minimum 0, maximum 2000000.
   */
  slowSyncThreshold?: number;
}

/** {@link WalOptions} with every default applied and every value checked. */
export interface ResolvedOptions {
  readonly create: boolean;
  readonly maxRecordSize: number;
  readonly stallTimeout: number;
  readonly maxPendingCommits: number;
  readonly segmentSize: number | undefined;
  /** Undefined when not given: the store's kind decides (see `WalOptions.preallocate`). */
  readonly preallocate: number | undefined;
  readonly recovery: "stop" | "skip";
  readonly onCorrupt: ((error: CorruptionError) => void) | undefined;
  readonly onCorruption: "truncate" | "fail";
  /** Called with the payload bytes when there is no codec, with the decoded value otherwise. */
  readonly replay: ((data: never, lsn: number) => void) | undefined;
  /** Undefined for payloads as they are (no codec, or `codecs.bytes`). */
  readonly codec: Codec<unknown> | undefined;
  readonly onSlowSync: ((ms: number) => void) | undefined;
  readonly slowSyncThreshold: number;
}

/** 64 MiB: generous for any single state change, small enough to bound a corrupt length. */
export const DEFAULT_MAX_RECORD_SIZE = 64 * 1024 * 1024;

/** 1 MiB: a barrier's worth of zeros every ~4,000 small records, amortised to nothing. */
export const DEFAULT_PREALLOCATE = 1024 * 1024;

/** The most zero-filled space `preallocate` asks for: more gains nothing and wastes disk. */
const PREALLOCATE_LIMIT = 1024 * 1024 * 1024;

/** 1 s, as etcd: a barrier that long means the disk, not the load, is the problem. */
export const DEFAULT_SLOW_SYNC_THRESHOLD = 1000;

/** 30 s: far beyond any healthy write or barrier, short enough that a dead Worker surfaces. */
export const DEFAULT_STALL_TIMEOUT = 30_000;

/** Enough pending commits to keep the disk busy, bounded so a stalled disk cannot exhaust memory. */
export const DEFAULT_MAX_PENDING_COMMITS = 16_384;

/**
 * 4 KiB, a page: the smallest `segmentSize` an option may give. Below it a log is mostly
 * files (each roll costs a barrier, a file and a directory barrier: `segmentSize: 1` made
 * fourteen files of one 13-byte record). The Rust crate refuses only 0, so a log it wrote may
 * have smaller segments: the files' own size is taken as they show it, never checked here.
 */
export const SEGMENT_SIZE_MIN = 4096;

const KNOWN_OPTIONS = new Set<string>([
  "maxRecordSize",
  "stallTimeout",
  "maxPendingCommits",
  "segmentSize",
  "preallocate",
  "recovery",
  "onCorrupt",
  "onCorruption",
  "replay",
  "codec",
  "onSlowSync",
  "slowSyncThreshold",
  "create",
]);

/** Applies defaults and rejects unknown keys (a typo must not silently mean the default). */
export function resolveOptions(options: unknown): ResolvedOptions {
  if (options === undefined) options = {};
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw invalidArgument(`options must be an object, got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) {
      throw invalidArgument(
        `unknown option "${key.length > 60 ? `${key.slice(0, 60)}…` : key}"${optionHint(key)}; ` +
          `known options: ${[...KNOWN_OPTIONS].join(", ")}`,
      );
    }
  }
  const {
    maxRecordSize = DEFAULT_MAX_RECORD_SIZE,
    stallTimeout = DEFAULT_STALL_TIMEOUT,
    maxPendingCommits = DEFAULT_MAX_PENDING_COMMITS,
    segmentSize,
    preallocate,
    recovery = "stop",
    onCorrupt,
    onCorruption = "truncate",
    replay,
    codec,
    onSlowSync,
    slowSyncThreshold = DEFAULT_SLOW_SYNC_THRESHOLD,
    create = true,
  } = options as WalOptions<unknown>;
  if (typeof create !== "boolean") {
    throw invalidArgument(`create must be true or false, got ${describeValue(create)}`);
  }
  for (const [name, value] of [
    ["onCorrupt", onCorrupt],
    ["replay", replay],
    ["onSlowSync", onSlowSync],
  ] as const) {
    if (value !== undefined && typeof value !== "function") {
      throw invalidArgument(`${name} must be a function, got ${describeValue(value)}`);
    }
  }
  return {
    create,
    maxRecordSize: checkInteger("maxRecordSize", maxRecordSize, 0, PAYLOAD_SIZE_LIMIT),
    stallTimeout: checkInteger("stallTimeout", stallTimeout, 1, 2 ** 31 - 1),
    maxPendingCommits: checkInteger("maxPendingCommits", maxPendingCommits, 1, 2 ** 31 - 1),
    segmentSize: segmentSize === undefined ? undefined : checkSegmentSize(segmentSize),
    preallocate:
      preallocate === undefined
        ? undefined
        : checkInteger("preallocate", preallocate, 0, PREALLOCATE_LIMIT),
    recovery: checkChoice("recovery", recovery, ["stop", "skip"] as const),
    onCorrupt,
    onCorruption: checkChoice("onCorruption", onCorruption, ["truncate", "fail"] as const),
    replay,
    codec: checkCodec(codec),
    onSlowSync,
    slowSyncThreshold: checkInteger("slowSyncThreshold", slowSyncThreshold, 0, 2_000_000),
  };
}

/** `segmentSize` when it is an integer from {@link SEGMENT_SIZE_MIN} to 2^53 - 1. */
function checkSegmentSize(value: unknown): number {
  if (
    typeof value === "number" &&
    Number.isInteger(value) &&
    value > 0 &&
    value < SEGMENT_SIZE_MIN
  ) {
    throw invalidArgument(
      `segmentSize must be at least ${SEGMENT_SIZE_MIN} bytes (4 KiB), got ${value}: smaller ` +
        "segments only multiply files and barriers. A log written with smaller segments (the " +
        "Rust crate allows them) opens without segmentSize once it has two segments or more: " +
        "its files then give the size",
    );
  }
  return checkInteger("segmentSize", value, SEGMENT_SIZE_MIN, LSN_LIMIT);
}

/**
 * Options of other storage libraries that wal-db lacks, by their name in lower case without
 * `_` or `-`, and what to do instead: the names a user of bun:sqlite (`readonly`, `readwrite`),
 * lmdb-js (`readOnly`, `compression`, `encoding`, `noSync`) or LevelDB (`createIfMissing`,
 * `valueEncoding`, `sync`) reaches for first. A Map, so that no key finds `Object.prototype`.
 */
const FOREIGN_OPTIONS: ReadonlyMap<string, string> = (() => {
  const hints = new Map<string, string>();
  const add = (hint: string, ...names: string[]) => {
    for (const name of names) hints.set(name, hint);
  };
  add(
    "Wal.open opens a log to write; to read one only (no lock, nothing written), call " +
      "Wal.openReadOnly(path, options) instead",
    "readonly",
    "readwrite",
  );
  add(
    "there is no sync mode: append returns once the bytes are in the page cache, and " +
      "wal.sync(), wal.appendAndSync(record) or await wal.commit(record) makes records durable",
    "sync",
    "fsync",
    "nosync",
    "syncwrites",
    "syncmode",
    "synchronous",
    "durable",
  );
  add(
    "payloads are stored as given; compress them in a codec ({ codec: { encode, decode } })",
    "compression",
    "compress",
  );
  add(
    "values become payload bytes through the codec option (for example { codec: codecs.json })",
    "encoding",
    "encoder",
    "valueencoding",
    "serializer",
  );
  add("the option is create (true by default)", "createifmissing");
  add("the log's path is the first argument of Wal.open", "path", "filename", "directory");
  return hints;
})();

/** Edits that still count as a misspelling of a known option (case and `_`/`-` aside). */
const OPTION_DISTANCE_MAX = 2;
/** The length of the longest known option's name. */
const LONGEST_OPTION = Math.max(...[...KNOWN_OPTIONS].map((name) => name.length));

/**
 * What an unknown option `key` most likely meant, as a clause for its error: what to do
 * instead of an option another library has ({@link FOREIGN_OPTIONS}), or the known option
 * within {@link OPTION_DISTANCE_MAX} edits of it, ignoring case, `_` and `-`; "" for neither.
 */
function optionHint(key: string): string {
  const normal = normalOptionName(key);
  const foreign = FOREIGN_OPTIONS.get(normal);
  if (foreign !== undefined) return `: ${foreign}`;
  // A name longer than every option by more than the edits allowed is near none of them; and
  // the table below grows with the name, which a hostile caller chooses.
  if (normal.length > LONGEST_OPTION + OPTION_DISTANCE_MAX) return "";
  let nearest: string | undefined;
  let nearestDistance = Math.min(OPTION_DISTANCE_MAX, Math.floor(normal.length / 3)) + 1;
  for (const known of KNOWN_OPTIONS) {
    const distance = editDistance(normal, normalOptionName(known));
    if (distance < nearestDistance) [nearest, nearestDistance] = [known, distance];
  }
  if (nearest === undefined) return "";
  const exact = nearestDistance === 0 ? " (option names are camelCase)" : "";
  return `: did you mean "${nearest}"?${exact}`;
}

/** `name` in lower case without `_` and `-`, so `read_only` and `ReadOnly` compare equal. */
function normalOptionName(name: string): string {
  return name.toLowerCase().replace(/[_-]/g, "");
}

/**
 * Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`: the optimal string
 * alignment distance. Option names are short, so the full table costs nothing.
 */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const row = rows[i]!;
      const above = rows[i - 1]!;
      row[j] = Math.min(above[j]! + 1, row[j - 1]! + 1, above[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j]!, rows[i - 2]![j - 2]! + 1);
      }
    }
  }
  return rows[a.length]![b.length]!;
}

/** `codec` when it has `encode` and `decode` functions; undefined for none or `codecs.bytes`. */
function checkCodec(codec: unknown): Codec<unknown> | undefined {
  if (codec === undefined || codec === codecs.bytes) return undefined;
  const { encode, decode } = (codec ?? {}) as Partial<Codec<unknown>>;
  if (typeof encode !== "function" || typeof decode !== "function") {
    throw invalidArgument(
      `codec must have encode(value) and decode(bytes) functions, got ${describeValue(codec)}`,
    );
  }
  return codec as Codec<unknown>;
}

/** `value` when it is one of `choices`; otherwise an `INVALID_ARGUMENT` naming them. */
function checkChoice<T extends string>(name: string, value: unknown, choices: readonly T[]): T {
  if (!choices.includes(value as T)) {
    throw invalidArgument(
      `${name} must be ${choices.map((choice) => `"${choice}"`).join(" or ")}, got ${describeValue(value)}`,
    );
  }
  return value as T;
}

/** `value` when it is an integer in `[min, max]`; otherwise an `INVALID_ARGUMENT` naming it. */
export function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw invalidArgument(
      `${name} must be an integer from ${min} to ${max}, got ${describeValue(value)}`,
    );
  }
  return value;
}
