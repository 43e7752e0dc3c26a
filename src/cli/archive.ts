/**
 * @module
 * `wal-db archive <dir> --to s3://bucket/prefix`: ships a segmented log to an object store with
 * the library's archiver (`wal.archive`, src/archive/archiver.ts), printing each advance of the
 * archived LSN. `--once` uploads what is durable and stops; otherwise it runs until SIGINT or
 * SIGTERM, and uploads what is durable then before it stops, so a stop loses no upload.
 */

import type { ArchiveOptions } from "../archive/archiver.ts";
import { Wal } from "../index.ts";
import { SEGMENT_SIZE_MIN } from "../options.ts";
import { nodeFileSystem } from "../store/file-system.ts";
import { listSegments } from "../store/segment-layout.ts";
import {
  ARCHIVE_FLAGS,
  ARCHIVE_FLAGS_HELP,
  archiveSettings,
  archiveUrl,
  CREDENTIALS_HELP,
} from "./archive-flags.ts";
import { parseCommandArgs, parseInteger } from "./args.ts";
import { type Command, describeError, EXIT, existingDirectory, usageError } from "./command.ts";
import { Output } from "./output.ts";

const HELP = `Usage: wal-db archive <dir> --to s3://bucket/prefix [options]

Archives the segmented log in <dir> to an S3-compatible store: every sealed segment once, the
durable part of the active one every --interval ms, the head when it moves (the layout
'wal-db restore' and 'wal-db verify s3://...' read). An archive already at the prefix is
continued, never uploaded twice. Prints one line each time the archived LSN moves.

It opens the log as its writer (Wal.open: it takes the log's lock and recovers it), so it is
for a log no process has open: a running application archives with wal.archive() instead.

Options:
      --to URL            the archive, s3://bucket/prefix (required)
      --interval MS       how often the active segment is uploaded (default 1000)
      --once              upload everything durable now, then stop
      --segment-size SIZE the log's segment size, for a log whose files do not show it
                          (one segment above index 0; k, M, G suffixes)
${ARCHIVE_FLAGS_HELP}
  -h, --help              show this help

Without --once it runs until Ctrl-C (SIGINT) or SIGTERM, then uploads what is durable and
stops. A failed upload is printed on stderr and retried; the log is not affected.

${CREDENTIALS_HELP}

Exit codes: 0 stopped with everything durable archived, 2 bad arguments, 3 the log could not
be opened (locked by another process, not a segmented log), the prefix holds another log's
archive, or the last upload failed.`;

/** The longest --interval: a day. */
const INTERVAL_MAX_MS = 86_400_000;

/** `wal-db archive`. */
export const archiveCommand: Command = {
  name: "archive",
  summary: "ship a segmented log's durable bytes to s3://bucket/prefix",
  help: HELP,
  async run(argv) {
    const { values, positionals, optionName } = parseCommandArgs(
      argv,
      {
        to: { type: "string" },
        interval: { type: "string" },
        once: { type: "boolean" },
        "segment-size": { type: "string" },
        ...ARCHIVE_FLAGS,
      },
      ["dir"],
    );
    if (values.to === undefined) throw usageError("missing --to s3://bucket/prefix");
    const to = archiveUrl(values.to);
    const settings = archiveSettings(values);
    const interval =
      values.interval === undefined
        ? undefined
        : parseInteger(optionName("interval"), values.interval, 0, {
            min: 1,
            max: INTERVAL_MAX_MS,
            noun: "milliseconds",
          });
    const segmentSize =
      values["segment-size"] === undefined
        ? undefined
        : parseInteger(optionName("segment-size"), values["segment-size"], 0, {
            min: SEGMENT_SIZE_MIN,
            max: Number.MAX_SAFE_INTEGER,
            units: true,
          });
    const dir = existingDirectory(positionals[0]!);
    if (segmentSize === undefined) requireSizeEvidence(dir);
    // Listening before anything starts: a signal during the first listing still stops cleanly.
    const stop = values.once === true ? undefined : nextSignal();
    try {
      return await archiveUntil(
        dir,
        { to, ...settings, ...(interval === undefined ? {} : { interval }) },
        segmentSize,
        stop?.signalled,
      );
    } finally {
      stop?.cancel();
    }
  },
};

/**
 * Archives the log in `dir` until `stop` resolves (at once when it is undefined), then
 * uploads what is durable, closes the archiver and the log.
 */
async function archiveUntil(
  dir: string,
  options: Omit<ArchiveOptions, "onArchived" | "onError">,
  segmentSize: number | undefined,
  stop: Promise<void> | undefined,
): Promise<number> {
  using wal = Wal.open(dir, segmentSize === undefined ? {} : { segmentSize });
  const out = new Output();
  const archiver = await wal.archive({
    ...options,
    onArchived(lsn) {
      out.line(`archived LSN ${lsn}`);
      out.flush();
    },
    onError(error) {
      process.stderr.write(`wal-db: archive: ${describeError(error)} (retrying)\n`);
    },
  });
  try {
    await stop;
    // Whatever was durable when the stop came goes up before the archiver closes.
    const archived = await archiver.flush();
    out.line(`stopped: ${archiver.url} holds ${dir} to LSN ${archived}`);
    out.flush();
  } finally {
    await archiver.close();
  }
  return EXIT.ok;
}

/**
 * Fails unless the files of `dir` show its segment size: two or more segments (every one but
 * the newest is full). The archive records the size in `log.json` for every restore to come, and
 * a writer's open of one segment could only guess it.
 * @throws CliError (usage) naming `--segment-size`.
 */
function requireSizeEvidence(dir: string): void {
  const count = listSegments(nodeFileSystem, dir).length;
  if (count >= 2) return;
  throw usageError(
    `${dir} holds ${count === 0 ? "no segment file" : "one segment file"}, which cannot show its ` +
      "segment size: pass --segment-size, the size the log was written with",
  );
}

/** `signalled` resolves at the first SIGINT or SIGTERM; `cancel` stops listening. */
function nextSignal(): { signalled: Promise<void>; cancel(): void } {
  let cancel = () => {};
  const signalled = new Promise<void>((resolve) => {
    const onSignal = () => {
      cancel();
      resolve();
    };
    cancel = () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
  return { signalled, cancel };
}
