/**
 * @module
 * `wal-db restore s3://bucket/prefix <dir>`: brings an archived log back into a new or empty
 * directory (src/archive/restore.ts does the work and every check), with a progress bar on a
 * terminal and one line that says what was restored.
 */

import { type RestoreReport, restoreArchive } from "../archive/restore.ts";
import {
  ARCHIVE_FLAGS,
  ARCHIVE_FLAGS_HELP,
  archiveSettings,
  archiveUrl,
  CREDENTIALS_HELP,
} from "./archive-flags.ts";
import { parseCommandArgs, parseLsn } from "./args.ts";
import { type Command, EXIT } from "./command.ts";
import { Output } from "./output.ts";
import { ProgressBar } from "./progress.ts";

const HELP = `Usage: wal-db restore <url> <dir> [options]

Restores the log archived at <url> (s3://bucket/prefix, as 'wal-db archive' or wal.archive()
wrote it) into <dir>, which must not exist or be empty; open it with Wal.open(<dir>). Every
object is checked against its length and the CRC-32C its key names, and every record against
its own. The log is written beside <dir> and moved into place only once whole: a restore that
fails leaves <dir> as it was.

Options:
      --until LSN         restore only the records that end at or below LSN, from the newest
                          head at or below it (default: everything archived)
${ARCHIVE_FLAGS_HELP}
      --json              print one JSON object
  -h, --help              show this help

${CREDENTIALS_HELP}

Exit codes: 0 restored, 1 the archive is damaged (the missing or damaged object is named),
2 bad arguments (a bad URL, a <dir> that holds anything, --until below the oldest head),
3 no archive at <url>, or the store could not be reached.`;

/** `wal-db restore`. */
export const restoreCommand: Command = {
  name: "restore",
  summary: "restore an archived log from s3://bucket/prefix into a new directory",
  help: HELP,
  async run(argv) {
    const { values, positionals, optionName } = parseCommandArgs(
      argv,
      { until: { type: "string" }, json: { type: "boolean" }, ...ARCHIVE_FLAGS },
      ["url", "dir"],
    );
    const from = archiveUrl(positionals[0]!);
    const untilLsn = parseLsn(optionName("until"), values.until);
    // The total is known once the listing is read, so the bar starts with the first object.
    let bar: ProgressBar | undefined;
    let report: RestoreReport;
    try {
      report = await restoreArchive({
        from,
        to: positionals[1]!,
        ...archiveSettings(values),
        ...(untilLsn === undefined ? {} : { untilLsn }),
        onProgress(done, total) {
          bar ??= new ProgressBar("restore", total);
          bar.update(done);
        },
      });
    } finally {
      bar?.finish();
    }
    const out = new Output();
    out.line(values.json === true ? JSON.stringify({ from, ...report }) : summary(from, report));
    out.flush();
    return EXIT.ok;
  },
};

function summary(from: string, report: RestoreReport): string {
  const { objects, bytes, head, end, path, segmentSize } = report;
  return (
    `restored ${from} to ${path}: ${objects} object${objects === 1 ? "" : "s"}, ${bytes} bytes, ` +
    `LSN ${head} to ${end}, ${segmentSize}-byte segments`
  );
}
