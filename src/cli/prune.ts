/**
 * @module
 * `wal-db prune s3://bucket/prefix --before LSN`: remote retention, on request
 * (src/archive/prune.ts does the work): deletes the archive's objects that only restores to
 * points below the newest head at or below LSN need.
 */

import { pruneArchive } from "../archive/prune.ts";
import {
  ARCHIVE_FLAGS,
  ARCHIVE_FLAGS_HELP,
  archiveSettings,
  archiveUrl,
  CREDENTIALS_HELP,
} from "./archive-flags.ts";
import { parseCommandArgs, parseLsn } from "./args.ts";
import { type Command, EXIT, usageError } from "./command.ts";
import { Output } from "./output.ts";

const HELP = `Usage: wal-db prune <url> --before LSN [options]

Deletes the objects of the archive at <url> (s3://bucket/prefix) that only restores to points
below LSN need. The archive is cut at its newest head at or below LSN: a restore to that head
or any later point reads what it read before, and 'wal-db verify' calls what went unarchived.
Nothing else ever deletes an archive's data. Safe while an archiver runs.

Options:
      --before LSN        keep what restores to LSN and later points need (required)
${ARCHIVE_FLAGS_HELP}
      --json              print one JSON object
  -h, --help              show this help

${CREDENTIALS_HELP}

Exit codes: 0 pruned (or nothing to prune), 2 bad arguments, 3 no archive at <url>, or the
store failed (what was deleted stays deleted; run it again).`;

/** `wal-db prune`. */
export const pruneCommand: Command = {
  name: "prune",
  summary: "delete what only restores below an LSN need from s3://bucket/prefix",
  help: HELP,
  async run(argv) {
    const { values, positionals, optionName } = parseCommandArgs(
      argv,
      { before: { type: "string" }, json: { type: "boolean" }, ...ARCHIVE_FLAGS },
      ["url"],
    );
    const from = archiveUrl(positionals[0]!);
    const beforeLsn = parseLsn(optionName("before"), values.before);
    if (beforeLsn === undefined) throw usageError("missing --before LSN");
    const report = await pruneArchive({ from, beforeLsn, ...archiveSettings(values) });
    const out = new Output();
    out.line(
      values.json === true
        ? JSON.stringify({ from, ...report })
        : `pruned ${from}: ${report.objects} object${report.objects === 1 ? "" : "s"}, ` +
            `${report.bytes} bytes deleted; the oldest point is LSN ${report.head}`,
    );
    out.flush();
    return EXIT.ok;
  },
};
