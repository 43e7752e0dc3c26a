/**
 * @module
 * `wal-db dump <path>`: one line per record, from an LSN, in JSON, hex or escaped text.
 * Read-only; stops where the valid records end, as an open would, and says so when valid
 * records follow; `--skip-damage` prints those too, naming each damaged region it steps over.
 */

import { parseChoice, parseCommandArgs, parseLsn, parseRecordCount } from "./args.ts";
import { type Command, EXIT } from "./command.ts";
import { damageNote } from "./cut.ts";
import { LOG_FLAGS, LOG_FLAGS_HELP, openLogForReading } from "./open-log.ts";
import { Output } from "./output.ts";
import { formatRecord, RECORD_FORMATS } from "./record-format.ts";
import { scanLog } from "./scan.ts";

const HELP = `Usage: wal-db dump <path> [options]

Prints one record per line, in LSN order, up to where the valid records end (what Wal.open
would keep). When valid records follow damage, it says where it stopped on stderr and exits 1;
--skip-damage prints them as well, with a line on stderr for each damaged region stepped over.
Read-only: takes no lock and never changes a byte.

Formats:
  json   {"lsn":0,"length":14,"data":"<payload in base64>"}
  hex    <lsn><TAB><payload in lowercase hex>
  text   <lsn><TAB><payload as UTF-8; \\n \\t \\r \\\\ and \\xNN escape control
         characters, backslashes and bytes that are not UTF-8>

Options:
      --from LSN          start at this record (an LSN a record starts at; default the head)
      --limit N           print at most N records
      --format FORMAT     json, hex or text (default json)
      --skip-damage       step over damaged regions to the valid records after them
${LOG_FLAGS_HELP}
  -h, --help              show this help

Exit codes: 0 printed, 1 the log is damaged and valid records follow the damage (printed
with --skip-damage, else not), 2 bad arguments (--from inside a record), 3 the log could not
be read, or the path holds no wal-db log (a FIFO, a directory of other files).`;

/** `wal-db dump`. */
export const dumpCommand: Command = {
  name: "dump",
  summary: "print records one per line (json, hex or text)",
  help: HELP,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(
      argv,
      {
        from: { type: "string" },
        limit: { type: "string" },
        format: { type: "string" },
        "skip-damage": { type: "boolean" },
        ...LOG_FLAGS,
      },
      ["path"],
    );
    const out = new Output();
    const format = parseChoice("--format", values.format, RECORD_FORMATS, "json");
    const limit = parseRecordCount("--limit", values.limit, Number.MAX_SAFE_INTEGER);
    const from = parseLsn("--from", values.from);
    let damaged = false;
    const log = values["skip-damage"]
      ? openLogForReading(positionals[0]!, values, {
          recovery: "skip",
          onCorrupt: (error) => {
            damaged = true;
            out.flush(); // the note lands after the records before the damage
            process.stderr.write(
              `wal-db: dump: skipped damage at offset ${error.offset}: ${error.reason}\n`,
            );
          },
        })
      : openLogForReading(positionals[0]!, values);
    try {
      let printed = 0;
      // False once --limit or a closed pipe ended the dump before the end of the records.
      let toTheEnd = limit > 0;
      if (toTheEnd) {
        scanLog(
          log.wal,
          "dump",
          ({ lsn, data }) => {
            out.line(formatRecord(format, lsn, data));
            toTheEnd = ++printed < limit && !out.closed;
            return toTheEnd;
          },
          from,
        );
      }
      const note = toTheEnd ? damageNote("dump", log) : null;
      if (note !== null) {
        out.flush();
        process.stderr.write(note);
        damaged = true;
      }
    } finally {
      log.wal.close();
      out.flush();
    }
    return damaged ? EXIT.damaged : EXIT.ok;
  },
};
