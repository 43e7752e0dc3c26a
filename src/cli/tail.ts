/**
 * @module
 * `wal-db tail <path>`: the last records of a log, and with `--follow` every record another
 * process appends after them, as it lands.
 *
 * Following works across processes, which share no memory with the writer: the command
 * watches the log's file (its directory, for a segmented log) with `fs.watch`, which is
 * inotify on Linux and kqueue or FSEvents elsewhere, so an idle log costs nothing; when a
 * change is reported, it reopens the log read-only and prints the records from the one after
 * the last it printed. The watch is set before the first read, so a record that lands between
 * the two is caught by the event it raises.
 */

import { type FSWatcher, watch } from "node:fs";
import type { WalRecord } from "../index.ts";
import { parseChoice, parseCommandArgs, parseFromLsn, parseInteger } from "./args.ts";
import { CliError, type Command, describeError, EXIT, exitCodeOf } from "./command.ts";
import { LOG_FLAGS, LOG_FLAGS_HELP, openLogForReading } from "./open-log.ts";
import { Output } from "./output.ts";
import { formatRecord, RECORD_FORMATS, type RecordFormat } from "./record-format.ts";
import { scanLog } from "./scan.ts";

/** Frame header bytes before a payload (docs/ON_DISK_FORMAT.md): the next LSN is lsn + 8 + n. */
const FRAME_HEADER_SIZE = 8;
/** Records printed without `--from`, as Unix `tail` prints ten lines. */
const DEFAULT_LINES = 10;

const HELP = `Usage: wal-db tail <path> [options]

Prints the last records of a log (text format: <lsn><TAB><payload, escaped>). With --follow,
keeps running and prints each record another process appends, once it is in the file: the
log's file is watched (inotify on Linux), never polled, and reopened read-only when it
changes. Stops cleanly on Ctrl-C (SIGINT) or SIGTERM. Read-only: takes no lock.

Options:
  -n, --lines N           print the last N records (default ${DEFAULT_LINES}); ignored with --from
      --from LSN          print every record from this LSN (a record's start) on instead
  -f, --follow            keep printing records as they are appended
      --format FORMAT     text, json or hex (default text; see 'wal-db dump --help')
${LOG_FLAGS_HELP}
  -h, --help              show this help

Exit codes: 0 done (or stopped by a signal), 2 bad arguments, 3 the log could not be read.`;

/** `wal-db tail`. */
export const tailCommand: Command = {
  name: "tail",
  summary: "print the last records; --follow prints new ones as another process appends",
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(
      argv,
      {
        lines: { type: "string", short: "n" },
        from: { type: "string" },
        follow: { type: "boolean", short: "f" },
        format: { type: "string" },
        ...LOG_FLAGS,
      },
      ["path"],
    );
    const out = new Output();
    const path = positionals[0]!;
    const format = parseChoice("format", values.format, RECORD_FORMATS, "text");
    const lines = parseInteger("lines", values.lines, DEFAULT_LINES, {
      min: 0,
      max: Number.MAX_SAFE_INTEGER,
    });
    const from = parseFromLsn(values.from);
    const reader = new LogReader(path, values, format, out);
    if (values.follow !== true) {
      if (from === undefined) reader.printLast(lines);
      else reader.printFrom(from);
      return EXIT.ok;
    }
    return follow(path, reader, from, lines);
  },
};

/** Prints records of one log, remembering where the next unprinted one starts. */
class LogReader {
  /** The LSN after the last record printed (or skipped over): where the next read starts. */
  next = 0;
  /**
   * True once a read found the log reaching `next`. A log that ends before `next` after that
   * was cut behind the reader; before it, `--from` is just ahead of the writer.
   */
  reached = false;

  constructor(
    private readonly path: string,
    private readonly flags: Parameters<typeof openLogForReading>[1],
    private readonly format: RecordFormat,
    private readonly out: Output,
  ) {}

  /** Prints the last `count` records and moves `next` to the end of the log. */
  printLast(count: number): void {
    const log = openLogForReading(this.path, this.flags);
    try {
      // A ring of the last `count` records: memory stays bounded by what is printed.
      const last: WalRecord[] = [];
      if (count > 0) {
        scanLog(log.wal, "tail", (record) => {
          if (last.push(record) > count) last.shift();
          return true;
        });
      }
      for (const record of last) this.print(record);
      this.next = log.wal.recovery.end;
      this.reached = true;
    } finally {
      log.wal.close();
      this.out.flush();
    }
  }

  /**
   * Prints every record from `from` (or from `next`) to the end of the log as it is now.
   * @returns false when the log now ends before `next` although an earlier read reached it:
   * it was cut behind this reader.
   */
  printFrom(from = this.next): boolean {
    const log = openLogForReading(this.path, this.flags);
    try {
      const { end, head } = log.wal.recovery;
      this.next = from;
      if (end < from) return !this.reached;
      this.reached = true;
      scanLog(log.wal, "tail", (record) => this.print(record), Math.max(from, head));
      return true;
    } finally {
      log.wal.close();
      this.out.flush();
    }
  }

  private print({ lsn, data }: WalRecord): boolean {
    this.out.line(formatRecord(this.format, lsn, data));
    this.next = lsn + FRAME_HEADER_SIZE + data.length;
    return !this.out.closed;
  }
}

/**
 * Prints what `from` (or the last `lines` records) selects, then every record appended after
 * it, until SIGINT or SIGTERM. Resolves with the exit code.
 */
function follow(
  path: string,
  reader: LogReader,
  from: number | undefined,
  lines: number,
): Promise<number> {
  return new Promise<number>((resolve) => {
    let watcher: FSWatcher | undefined;
    let scheduled = false;
    const stop = (code: number) => {
      watcher?.close();
      watcher = undefined;
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      resolve(code);
    };
    const onSignal = () => stop(EXIT.ok);
    const fail = (error: unknown) => {
      process.stderr.write(`wal-db: tail: ${describeError(error)}\n`);
      stop(exitCodeOf(error));
    };
    const readNew = () => {
      scheduled = false;
      if (watcher === undefined) return;
      try {
        if (!reader.printFrom()) {
          throw new CliError(
            `${path} now ends before LSN ${reader.next}: the log was cut or replaced`,
            EXIT.failed,
          );
        }
      } catch (error) {
        fail(error);
      }
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    try {
      // Watch first, read second: a record appended in between raises an event read below.
      watcher = watch(path, () => {
        // A burst of writes (a record, its zero fill, the next record) becomes one reread.
        if (!scheduled) {
          scheduled = true;
          setImmediate(readNew);
        }
      });
      watcher.on("error", fail);
      if (from === undefined) reader.printLast(lines);
      else reader.printFrom(from);
    } catch (error) {
      fail(error);
    }
  });
}
