/**
 * @module
 * `wal-db verify <path>`: checks every record of a log, read-only. Clean (exit 0) means
 * `Wal.open` would cut nothing; otherwise (exit 1) it names the offset and reason of the first
 * damage and what an open would cut there. `wal-db verify s3://bucket/prefix` checks an
 * archive instead (verify-archive.ts).
 */

import { WalError } from "../index.ts";
import {
  ARCHIVE_FLAGS,
  ARCHIVE_FLAGS_HELP,
  CREDENTIALS_HELP,
  isArchiveUrl,
} from "./archive-flags.ts";
import { parseCommandArgs } from "./args.ts";
import { type Command, EXIT, usageError } from "./command.ts";
import { describeCut, type WouldCut, wouldCut } from "./cut.ts";
import { LOG_FLAGS, LOG_FLAGS_HELP, type LogFlagValues, openLogForReading } from "./open-log.ts";
import { Output } from "./output.ts";
import { runArchiveVerify } from "./verify-archive.ts";

const HELP = `Usage: wal-db verify <path> [options]
       wal-db verify s3://bucket/prefix [--json] [--endpoint URL]

Checks every record of a log (length, checksum) and the layout of a segmented log's files.
Read-only: takes no lock and never changes a byte.

A log is clean when Wal.open would cut nothing from it: a zero-filled tail after the last
record is clean. A torn tail (what a crash mid-append leaves; it loses no synced record) is
reported like damage in the middle, with its kind, since an open will cut it. The offset and
length name the damaged bytes themselves; the unused zeros before and after them (the
zero-filled tail) are counted apart.

An s3://bucket/prefix URL verifies the log's archive instead: a restore of the newest point
into a temporary directory (removed afterwards) checks every object it needs and every
record; then every other object (older segments, superseded partials) is checked against the
length and CRC-32C its key names. It prints what the archive holds and the points it can
restore to, and names every damaged or missing object.

Options:
      --json              print one JSON object, clean or not
${LOG_FLAGS_HELP}
${ARCHIVE_FLAGS_HELP}
  -h, --help              show this help

${CREDENTIALS_HELP}

Exit codes: 0 clean, 1 damaged (the first damage's offset and reason are printed; for an
archive, every damaged or missing object), 2 bad arguments, 3 the log could not be read, or
the path holds no wal-db log (a FIFO, a directory of other files), or no archive is at the URL
or the store could not be reached.`;

/** What `verify --json` prints. */
interface VerifyReport {
  readonly path: string;
  readonly ok: boolean;
  readonly records: number;
  readonly head: number;
  readonly end: number;
  /** The cut an open would make at the first damage, or null when clean. */
  readonly damage: WouldCut | null;
  /** When the files themselves do not form a log (a missing segment, a bad head file). */
  readonly layoutError: string | null;
}

/** `wal-db verify`. */
export const verifyCommand: Command = {
  name: "verify",
  summary: "check every record; exit 1 with the first damage's offset and reason",
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(
      argv,
      { json: { type: "boolean" }, ...LOG_FLAGS, ...ARCHIVE_FLAGS },
      ["path"],
    );
    const path = positionals[0]!;
    checkFlagsFor(path, values);
    if (isArchiveUrl(path)) return await runArchiveVerify(path, values);
    const out = new Output();
    const report = verify(path, values);
    if (values.json === true) out.line(JSON.stringify(report));
    else out.line(summary(report));
    out.flush();
    return report.ok ? EXIT.ok : EXIT.damaged;
  },
};

/**
 * Refuses the flags that do not apply to what `path` is: an archive's segment size is in its
 * `log.json`, and a local log is reached without an endpoint. A flag that would be ignored
 * is a usage error, not a silent surprise.
 */
function checkFlagsFor(path: string, values: LogFlagValues & { endpoint?: string }): void {
  if (isArchiveUrl(path)) {
    for (const flag of ["segment-size", "max-record-size"] as const) {
      if (values[flag] !== undefined)
        throw usageError(
          `--${flag} is for a local log; an archive's log.json names its segment size`,
        );
    }
  } else if (values.endpoint !== undefined) {
    throw usageError(`--endpoint is for an s3://bucket/prefix archive, not a local path`);
  }
}

function verify(path: string, values: LogFlagValues): VerifyReport {
  let log: ReturnType<typeof openLogForReading>;
  try {
    // No visit of its own: the open's scan is the check, and this draws its progress bar.
    log = openLogForReading(path, values, { visit: { label: "verify", record: () => {} } });
  } catch (error) {
    // A segmented log whose files do not form one log is damage, not a failure to read.
    if (error instanceof WalError && error.code === "CORRUPTION") {
      return {
        path,
        ok: false,
        records: 0,
        head: 0,
        end: 0,
        damage: null,
        layoutError: error.message,
      };
    }
    throw error;
  }
  try {
    // The open checked every record's CRC: what it kept is the count.
    const damage = wouldCut(log);
    const { head, end, records } = log.wal.recovery;
    return { path, ok: damage === null, records, head, end, damage, layoutError: null };
  } finally {
    log.wal.close();
  }
}

function summary(report: VerifyReport): string {
  if (report.layoutError !== null) return `DAMAGED ${report.path}: ${report.layoutError}`;
  const extent = `${report.records} record${report.records === 1 ? "" : "s"}, LSN ${report.head} to ${report.end}`;
  if (report.damage === null) return `OK ${report.path}: ${extent}`;
  return `DAMAGED ${report.path}: ${extent}, then ${describeCut(report.damage)}`;
}
