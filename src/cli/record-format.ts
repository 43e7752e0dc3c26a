/**
 * @module
 * How `dump` and `tail` print one record per line. Every format keeps a record on one line
 * whatever its payload holds, so `wc -l`, `grep` and `head` work on the output.
 */

/** The formats `--format` takes. */
export const RECORD_FORMATS = ["json", "hex", "text"] as const;
export type RecordFormat = (typeof RECORD_FORMATS)[number];

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * One line for the record at `lsn`:
 * - `json`: `{"lsn":0,"length":14,"data":"<base64>"}`, exact for any payload;
 * - `hex`: the LSN, a tab, the payload in lowercase hex;
 * - `text`: the LSN, a tab, the payload as UTF-8 with control characters, backslashes and
 *   bytes that are not UTF-8 escaped (see {@link escapeText}).
 */
export function formatRecord(format: RecordFormat, lsn: number, data: Uint8Array): string {
  switch (format) {
    case "json":
      return JSON.stringify({
        lsn,
        length: data.length,
        data: Buffer.from(data).toString("base64"),
      });
    case "hex":
      return `${lsn}\t${Buffer.from(data).toString("hex")}`;
    case "text":
      return `${lsn}\t${escapeText(data)}`;
  }
}

/**
 * The payload as printable text: valid UTF-8 is kept except control characters (C0, DEL,
 * C1), which become `\n`, `\t`, `\r` or `\xNN`/`\u{NNNN}`, and `\`, which becomes `\\` so
 * that an escape in the output always came from the escaping. A payload that is not valid
 * UTF-8 keeps its printable ASCII and shows every other byte as `\xNN`.
 */
export function escapeText(data: Uint8Array): string {
  let text: string;
  try {
    text = strictUtf8.decode(data);
  } catch {
    let out = "";
    for (const byte of data) {
      const char = String.fromCharCode(byte);
      out += byte >= 0x80 ? hexEscape(byte) : needsEscape(byte) ? escapeChar(char) : char;
    }
    return out;
  }
  let out = "";
  for (const char of text) out += needsEscape(char.codePointAt(0)!) ? escapeChar(char) : char;
  return out;
}

/** C0 controls, DEL, C1 controls, the backslash, and the two Unicode line separators. */
function needsEscape(code: number): boolean {
  return (
    code < 0x20 ||
    (code >= 0x7f && code <= 0x9f) ||
    code === 0x5c ||
    code === 0x2028 ||
    code === 0x2029
  );
}

function escapeChar(char: string): string {
  switch (char) {
    case "\\":
      return "\\\\";
    case "\n":
      return "\\n";
    case "\t":
      return "\\t";
    case "\r":
      return "\\r";
  }
  const code = char.codePointAt(0)!;
  // Below 0x80 a character is its byte; above, `\xNN` would read as a raw byte, so name it.
  return code < 0x80 ? hexEscape(code) : `\\u{${code.toString(16)}}`;
}

function hexEscape(byte: number): string {
  return `\\x${byte.toString(16).padStart(2, "0")}`;
}
