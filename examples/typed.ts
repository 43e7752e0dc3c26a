/**
 * Typed records: a codec turns your values into a record's bytes and back, so the log takes and
 * yields values instead of `Uint8Array`s.
 *
 *   bun examples/typed.ts
 *
 * Three logs of the same changes: with the built-in JSON codec, with a MessagePack codec built
 * from msgpackr's `pack`/`unpack` (a dev dependency here; wal-db itself has none), and with a
 * codec that gzips what another codec makes. A codec is any `{ encode, decode }` pair, run on
 * every record: it may compress, or encrypt (a synchronous cipher from `node:crypto`), as long
 * as `decode(encode(value))` gives the value back. The CRC-32C covers the encoded bytes.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { pack, unpack } from "msgpackr";
import { type Codec, codecs, Wal } from "wal-db";

/** One change to a document store. */
type Change = {
  op: "put" | "delete";
  key: string;
  doc?: { title: string; tags: string[]; body: string };
};

const changes: Change[] = Array.from({ length: 200 }, (_, i) =>
  i % 10 === 9
    ? { op: "delete", key: `doc${i - 1}` }
    : {
        op: "put",
        key: `doc${i}`,
        doc: {
          title: `Document number ${i}`,
          tags: ["draft", "shared", "wal-db"],
          body: `Paragraph ${i}. `.repeat(40), // records of a few hundred bytes compress well
        },
      },
);

/** MessagePack: smaller than JSON, and it keeps types JSON loses (Date, Map, binary). */
const msgpack: Codec<Change> = {
  encode: (change) => pack(change),
  decode: (bytes) => unpack(bytes),
};

/** Wraps any codec so every record is gzip-compressed on disk. */
function gzipped<T>(inner: Codec<T>): Codec<T> {
  return {
    encode: (value) => gzipSync(inner.encode(value)),
    decode: (bytes) => inner.decode(gunzipSync(bytes)),
  };
}

const dir = mkdtempSync(join(tmpdir(), "wal-db-typed-"));
try {
  const logs: [string, Codec<Change>][] = [
    ["json", codecs.json],
    ["msgpack", msgpack],
    ["gzip(json)", gzipped<Change>(codecs.json)],
  ];
  const sizes: Record<string, number> = {};

  for (const [name, codec] of logs) {
    const path = join(dir, `${name}.wal`);
    {
      using wal = Wal.open<Change>(path, { codec });
      wal.appendBatch(changes.slice(0, 100)); // values in, one write
      // Durable once they resolve, with the batch before them; concurrent commits share barriers.
      await Promise.all(changes.slice(100).map((change) => wal.commit(change)));
      sizes[name] = wal.len;
    }

    // Reopen: the records come back as values, typed `Change`.
    using wal = Wal.open<Change>(path, { codec });
    const read: Change[] = [...wal.iter()].map((record) => record.data);
    if (JSON.stringify(read) !== JSON.stringify(changes)) {
      throw new Error(`${name}: the values read back differ from the ones appended`);
    }
    const first = read[0]!;
    console.log(
      `${name.padEnd(10)} ${read.length} changes, ${sizes[name]} bytes; the first: ` +
        `${first.op} ${first.key} "${first.doc?.title}"`,
    );
  }

  const percent = (name: string) => `${((100 * sizes[name]!) / sizes.json!).toFixed(0)}%`;
  console.log(`of json's size: msgpack ${percent("msgpack")}, gzip(json) ${percent("gzip(json)")}`);
  if (!(sizes.msgpack! < sizes.json! && sizes["gzip(json)"]! < sizes.json!)) {
    throw new Error("MessagePack and gzip should both take less room than JSON");
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
