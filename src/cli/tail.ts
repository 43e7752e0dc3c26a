/**
 * @module
 * `wal-db tail <path>`: the last records of a log, and with `--follow` every record another
 * process appends after them, as it lands.
 *
 * Following works across processes, which share no memory with the writer. The first read is
 * a read-only open, as every reading command makes. After it, the command remembers where the
 * next record starts and looks only there: it reopens the log's bytes (no recovery scan) and
 * reads the frames that now validate, so each look costs what it prints, not the log's size.
 * A frame that does not validate yet (a write in progress, the zero-filled tail) ends the look.
 *
 * It looks when `fs.watch` reports a change (inotify on Linux, kqueue or FSEvents elsewhere),
 * and at least every `--interval` ms whatever the watch says: Bun's `fs.watch` has lost
 * change events (oven-sh/bun#7919, #14568, #3657), and network file systems report none. The
 * watch is set before the first read, so a record that lands between the two raises an event.
 */

import { type FSWatcher, watch } from "node:fs";
import type { WalRecord } from "../index.ts";
import { HEADER_SIZE, writeHeader } from "../record.ts";
import { RecordScanner, Scan } from "../scan.ts";
import { parseChoice, parseCommandArgs, parseInteger, parseLsn, parseRecordCount } from "./args.ts";
import { CliError, type Command, describeError, EXIT, exitCodeOf } from "./command.ts";
import { damageNote } from "./cut.ts";
import {
  LOG_FLAGS,
  LOG_FLAGS_HELP,
  type LogFlagValues,
  locateLog,
  type OpenedLog,
  openLogForReading,
  openStoreForReading,
} from "./open-log.ts";
import { Output } from "./output.ts";
import { formatRecord, RECORD_FORMATS, type RecordFormat } from "./record-format.ts";
import { scanLog } from "./scan.ts";

/** Records printed without `--from`, as Unix `tail` prints ten lines. */
const DEFAULT_LINES = 10;
/** The longest wait for a record when no change event comes (`--interval`). */
const DEFAULT_INTERVAL_MS = 1000;
/**
 * Bytes read ahead per look while following. Between two looks a few records land, then the
 * zero-filled tail starts: a scan-sized chunk would read a megabyte of zeros each time.
 */
const FOLLOW_CHUNK_SIZE = 64 * 1024;
/** How soon a look that found records looks again (see `follow`). */
const RELOOK_MS = 10;

const HELP = `Usage: wal-db tail <path> [options]

Prints the last records of a log (text format: <lsn><TAB><payload, escaped>). With --follow,
keeps running and prints each record another process appends, once it is in the file. Each
look reads only past the last record printed. It looks when the file system reports a change
(fs.watch: inotify on Linux) and at least every --interval ms, since change events can be
lost and network file systems send none. Stops cleanly on Ctrl-C (SIGINT) or SIGTERM.
Read-only: takes no lock.

Options:
  -n, --lines N           print the last N records (default ${DEFAULT_LINES}); ignored with --from
      --from LSN          print every record from this LSN (a record's start) on instead
  -f, --follow            keep printing records as they are appended
      --interval MS       with --follow, look at least this often (default ${DEFAULT_INTERVAL_MS})
      --poll              with --follow, do not watch the file; look every --interval ms
      --format FORMAT     text, json or hex (default text; see 'wal-db dump --help')
${LOG_FLAGS_HELP}
  -h, --help              show this help

When valid records follow damage, the records printed stop at the damage, as an open would
keep them; a line on stderr says so. With --follow it goes on looking there: a writer's open
cuts the damage, and appends from that point.

Exit codes: 0 done (or stopped by a signal); 1 without --follow, the records printed stop at
damage that valid records follow; while following, the log was cut below a record already
printed, or records were dropped before they were printed; 2 bad arguments; 3 the log could
not be read, or the path holds no wal-db log (a FIFO, a directory of other files).`;

/** `wal-db tail`. */
export const tailCommand: Command = {
  name: "tail",
  summary: "print the last records; --follow prints new ones as another process appends",
  help: HELP,
  async run(argv) {
    const { values, positionals, optionName } = parseCommandArgs(
      argv,
      {
        lines: { type: "string", short: "n" },
        from: { type: "string" },
        follow: { type: "boolean", short: "f" },
        interval: { type: "string" },
        poll: { type: "boolean" },
        format: { type: "string" },
        ...LOG_FLAGS,
      },
      ["path"],
    );
    const out = new Output();
    const path = positionals[0]!;
    const format = parseChoice("--format", values.format, RECORD_FORMATS, "text");
    const lines = parseRecordCount(optionName("lines"), values.lines, DEFAULT_LINES);
    const intervalMs = parseInteger("--interval", values.interval, DEFAULT_INTERVAL_MS, {
      min: 1,
      max: 24 * 60 * 60 * 1000,
      noun: "milliseconds",
    });
    const from = parseLsn("--from", values.from);
    // Before the watch that --follow sets: a path that holds no log fails as it does for
    // every reading command, not as a failed watch.
    locateLog(path, values);
    const reader = new LogReader(path, values, format, out);
    if (values.follow !== true) {
      if (from === undefined) reader.printLast(lines);
      else reader.printFrom(from);
      return reader.damaged ? EXIT.damaged : EXIT.ok;
    }
    return follow(reader, from, lines, { intervalMs, watch: values.poll !== true });
  },
};

/** Prints records of one log, remembering where the next unprinted one starts. */
class LogReader {
  /** The LSN after the last record printed (or skipped over): where the next look starts. */
  private next = 0;
  /**
   * The LSN and header bytes of the last record printed or passed, or null before there is
   * one. Each look checks those bytes are still there: if not, the log was cut (or replaced)
   * below what was printed, and records appended since sit at LSNs this reader has passed.
   */
  private last: { lsn: number; header: Uint8Array } | null = null;
  /** Whether the first read stopped at damage that valid records follow. */
  damaged = false;
  /** A segmented log's segment size, once its files have shown it. */
  private segmentSize: number | undefined;

  constructor(
    readonly path: string,
    private readonly flags: LogFlagValues,
    private readonly format: RecordFormat,
    private readonly out: Output,
  ) {}

  /** Prints the last `count` records and moves `next` to the end of the log. */
  printLast(count: number): void {
    const log = openLogForReading(this.path, this.flags);
    try {
      // One record at least: the newest becomes `last`, which later looks check is still there.
      const newest = log.wal.last(Math.max(count, 1));
      for (const record of newest.slice(newest.length - count)) {
        this.print(record.lsn, record.data);
      }
      this.pass(newest.at(-1));
      this.next = log.wal.recovery.end;
      this.noteDamage(log);
    } finally {
      log.wal.close();
      this.out.flush();
    }
  }

  /**
   * Prints every record from `from` to the end of the log as it is now. A `from` past the end
   * is where following starts: it prints nothing now.
   */
  printFrom(from: number): void {
    const log = openLogForReading(this.path, this.flags);
    try {
      // Below the head, iterFrom refuses it (INVALID_ARGUMENT, exit 2), as dump's does.
      this.next = from;
      if (log.wal.recovery.end < from) return;
      let printed: WalRecord | undefined;
      scanLog(
        log.wal,
        "tail",
        (record) => {
          printed = record;
          return this.print(record.lsn, record.data);
        },
        from,
      );
      this.pass(printed);
      if (!this.out.closed) this.noteDamage(log);
    } finally {
      log.wal.close();
      this.out.flush();
    }
  }

  /**
   * Looks past the last record printed and prints the records that are whole there now.
   * @returns how many it printed.
   * @throws CliError (exit 1) when the log was cut below `next`, or its head moved past
   * records not yet printed.
   */
  printNew(): number {
    const opened = openStoreForReading(this.path, this.flags, this.segmentSize);
    const { store, maxRecordSize } = opened;
    this.segmentSize = opened.segmentSize;
    try {
      const head = store.head ?? 0;
      if (head > this.next) {
        throw new CliError(
          `records from LSN ${this.next} to ${head} were dropped (truncateBefore) before they were printed`,
          EXIT.damaged,
        );
      }
      if (this.last !== null && this.last.lsn >= head) {
        const header = new Uint8Array(HEADER_SIZE);
        const read = store.read(header, this.last.lsn);
        if (read < HEADER_SIZE || !header.every((byte, i) => byte === this.last!.header[i])) {
          throw new CliError(
            `the record at LSN ${this.last.lsn}, already printed, is gone: the log was cut or replaced`,
            EXIT.damaged,
          );
        }
      }
      const scanner = new RecordScanner(
        store,
        this.next,
        Math.max(this.next, store.size),
        maxRecordSize,
        FOLLOW_CHUNK_SIZE,
      );
      let printed = 0;
      while (scanner.next() === Scan.Record) {
        printed++;
        const { lsn, buffer, payloadOffset, payloadLength } = scanner;
        const payload = buffer.subarray(payloadOffset, payloadOffset + payloadLength);
        this.print(lsn, payload);
        this.last = { lsn, header: buffer.slice(payloadOffset - HEADER_SIZE, payloadOffset) };
        if (this.out.closed) break;
      }
      return printed;
    } finally {
      store.close();
      this.out.flush();
    }
  }

  /** Prints one record and moves `next` past it; false once stdout's reader went away. */
  private print(lsn: number, data: Uint8Array): boolean {
    this.out.line(formatRecord(this.format, lsn, data));
    this.next = lsn + HEADER_SIZE + data.length;
    return !this.out.closed;
  }

  /** Says on stderr when the records printed stop at damage that valid records follow. */
  private noteDamage(log: OpenedLog): void {
    const note = damageNote("tail", log);
    if (note === null) return;
    this.out.flush();
    process.stderr.write(note);
    this.damaged = true;
  }

  /** Notes `record` as the last one read: its header is what later looks check is still there. */
  private pass(record: WalRecord | undefined): void {
    if (record === undefined) return;
    const header = new Uint8Array(HEADER_SIZE);
    writeHeader(header, record.data);
    this.last = { lsn: record.lsn, header };
  }
}

/**
 * Prints what `from` (or the last `lines` records) selects, then every record appended after
 * it, until SIGINT or SIGTERM. Resolves with the exit code.
 */
function follow(
  reader: LogReader,
  from: number | undefined,
  lines: number,
  how: { intervalMs: number; watch: boolean },
): Promise<number> {
  return new Promise<number>((resolve) => {
    let watcher: FSWatcher | undefined;
    let timer: ReturnType<typeof setInterval> | undefined;
    let stopped = false;
    let scheduled = false;
    const stop = (code: number) => {
      if (stopped) return;
      stopped = true;
      watcher?.close();
      clearInterval(timer);
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      resolve(code);
    };
    const onSignal = () => stop(EXIT.ok);
    const fail = (error: unknown) => {
      process.stderr.write(`wal-db: tail: ${describeError(error)}\n`);
      stop(exitCodeOf(error));
    };
    const look = () => {
      scheduled = false;
      if (stopped) return;
      try {
        // Bun's watcher merges events, so writes just after the ones it reported may raise
        // none: a look that found records looks again soon, until one finds nothing.
        if (reader.printNew() > 0) setTimeout(schedule, RELOOK_MS);
      } catch (error) {
        fail(error);
      }
    };
    // A burst of writes (a record, its zero fill, the next record) becomes one look.
    const schedule = () => {
      if (scheduled) return;
      scheduled = true;
      setImmediate(look);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    try {
      // Watch first, read second: a record appended in between raises an event looked at below.
      if (how.watch) {
        watcher = watch(reader.path, schedule);
        watcher.on("error", fail);
      }
      timer = setInterval(schedule, how.intervalMs);
      if (from === undefined) reader.printLast(lines);
      else reader.printFrom(from);
    } catch (error) {
      fail(error);
    }
  });
}
