/**
 * The damage the fuzz harness (test/fuzz.test.ts) does to real logs, as fast-check arbitraries
 * and the functions that apply them: bit flips, byte overwrites, splices, truncations,
 * extensions, zeroed sectors and forged length fields on a log's bytes; for a segment directory
 * also deleted, duplicated, renamed and resized segments, stray files, and a damaged, wild or
 * leftover `head`.
 *
 * A mutation draws its positions as plain naturals, taken modulo the image's length when it is
 * applied, so that mutations compose whatever earlier ones did to the length. Applying never
 * changes its input: it returns new bytes.
 */

import fc from "fast-check";
import { crc32c } from "../../src/crc32c.ts";

/** Bytes in a zeroed sector: the unit a disk loses at once. */
export const SECTOR_SIZE = 512;

/** The values a forged length field takes (see {@link lengthValue}). */
export const LENGTH_CHOICES = [
  "0xFFFFFFFF",
  "0xFFFFFFF8",
  "2^31",
  "maxRecordSize - 1",
  "maxRecordSize",
  "maxRecordSize + 1",
  "to the end",
  "one past the end",
  "zero",
  "random",
] as const;

export type LengthChoice = (typeof LENGTH_CHOICES)[number];

/** One change to a log's bytes. */
export type ImageMutation =
  /** Flips each `[pick, bit]`: bit `bit` of byte `pick`. */
  | { readonly kind: "flip"; readonly bits: readonly (readonly [number, number])[] }
  | { readonly kind: "overwrite"; readonly pick: number; readonly bytes: Uint8Array }
  /**
   * Copies `length` bytes from `from` in the image itself (`source` -1) or in another seed image
   * (`source` picks it) to `to`, over the bytes there or inserted before them.
   */
  | {
      readonly kind: "splice";
      readonly source: number;
      readonly from: number;
      readonly to: number;
      readonly length: number;
      readonly insert: boolean;
    }
  | { readonly kind: "truncate"; readonly pick: number }
  | { readonly kind: "extend"; readonly bytes: Uint8Array }
  | { readonly kind: "zeroSector"; readonly pick: number }
  /**
   * Sets the length field of the header at a record boundary (or, for `anywhere`, at any
   * offset) to `value`, and with `crc` also the CRC the header would need if the payload
   * were the bytes that follow.
   */
  | {
      readonly kind: "length";
      readonly pick: number;
      readonly anywhere: boolean;
      readonly value: LengthChoice;
      readonly random: number;
      readonly crc: boolean;
    };

/** What applying a mutation may consult. */
export interface MutationContext {
  /** The LSNs of the seed's records, relative to the image's first byte. */
  readonly boundaries: readonly number[];
  readonly maxRecordSize: number;
  /** The seed images a splice may copy from. */
  readonly others: readonly Uint8Array[];
}

const pick = fc.nat();

export const imageMutationArbitrary: fc.Arbitrary<ImageMutation> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .array(fc.tuple(pick, fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 8 })
      .map((bits) => ({ kind: "flip" as const, bits })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({ pick, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) })
      .map((m) => ({ kind: "overwrite" as const, ...m })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({
        source: fc.integer({ min: -1, max: 7 }),
        from: pick,
        to: pick,
        length: fc.integer({ min: 1, max: 600 }),
        insert: fc.boolean(),
      })
      .map((m) => ({ kind: "splice" as const, ...m })),
  },
  { weight: 2, arbitrary: pick.map((p) => ({ kind: "truncate" as const, pick: p })) },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        fc.uint8Array({ minLength: 1, maxLength: 700 }),
        fc.integer({ min: 1, max: 1500 }).map((n) => new Uint8Array(n)),
      )
      .map((bytes) => ({ kind: "extend" as const, bytes })),
  },
  { weight: 1, arbitrary: pick.map((p) => ({ kind: "zeroSector" as const, pick: p })) },
  {
    weight: 3,
    arbitrary: fc
      .record({
        pick,
        // Mostly at a record boundary, where a real header is.
        anywhere: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
        value: fc.constantFrom(...LENGTH_CHOICES),
        random: fc.nat({ max: 0xffff_ffff }),
        crc: fc.boolean(),
      })
      .map((m) => ({ kind: "length" as const, ...m })),
  },
);

/** The u32 a forged length field at `at` of a `size`-byte image takes for `choice`. */
export function lengthValue(
  choice: LengthChoice,
  random: number,
  at: number,
  size: number,
  maxRecordSize: number,
): number {
  const clamp = (value: number) => Math.min(0xffff_ffff, Math.max(0, value));
  switch (choice) {
    case "0xFFFFFFFF":
      return 0xffff_ffff;
    case "0xFFFFFFF8":
      return 0xffff_fff8;
    case "2^31":
      return 2 ** 31;
    case "maxRecordSize - 1":
      return clamp(maxRecordSize - 1);
    case "maxRecordSize":
      return clamp(maxRecordSize);
    case "maxRecordSize + 1":
      return clamp(maxRecordSize + 1);
    case "to the end":
      return clamp(size - at - 8);
    case "one past the end":
      return clamp(size - at - 7);
    case "zero":
      return 0;
    case "random":
      return random >>> 0;
  }
}

/** `image` with `mutation` applied; `image` itself is not changed. */
export function applyImageMutation(
  image: Uint8Array,
  mutation: ImageMutation,
  context: MutationContext,
): Uint8Array {
  const size = image.length;
  switch (mutation.kind) {
    case "flip": {
      if (size === 0) return image;
      const out = image.slice();
      for (const [at, bit] of mutation.bits) out[at % size]! ^= 1 << bit;
      return out;
    }
    case "overwrite": {
      if (size === 0) return image;
      const out = image.slice();
      const at = mutation.pick % size;
      out.set(mutation.bytes.subarray(0, size - at), at);
      return out;
    }
    case "splice": {
      const source =
        mutation.source < 0 || context.others.length === 0
          ? image
          : context.others[mutation.source % context.others.length]!;
      if (source.length === 0) return image;
      const from = mutation.from % source.length;
      const piece = source.slice(from, from + mutation.length);
      const to = mutation.to % (size + 1);
      if (mutation.insert) {
        const out = new Uint8Array(size + piece.length);
        out.set(image.subarray(0, to));
        out.set(piece, to);
        out.set(image.subarray(to), to + piece.length);
        return out;
      }
      const out = new Uint8Array(Math.max(size, to + piece.length));
      out.set(image);
      out.set(piece, to);
      return out;
    }
    case "truncate":
      return image.slice(0, mutation.pick % (size + 1));
    case "extend": {
      const out = new Uint8Array(size + mutation.bytes.length);
      out.set(image);
      out.set(mutation.bytes, size);
      return out;
    }
    case "zeroSector": {
      if (size === 0) return image;
      const out = image.slice();
      const sector = mutation.pick % Math.ceil(size / SECTOR_SIZE);
      out.fill(0, sector * SECTOR_SIZE, (sector + 1) * SECTOR_SIZE);
      return out;
    }
    case "length": {
      const inBounds = context.boundaries.filter((lsn) => lsn + 8 <= size);
      const at =
        mutation.anywhere || inBounds.length === 0
          ? size >= 8
            ? mutation.pick % (size - 7)
            : -1
          : inBounds[mutation.pick % inBounds.length]!;
      if (at < 0) return image;
      const out = image.slice();
      const view = new DataView(out.buffer);
      const value = lengthValue(mutation.value, mutation.random, at, size, context.maxRecordSize);
      view.setUint32(at + 4, value, true);
      // The CRC of the length field and the payload, as far as the image holds it: a real
      // record when the whole payload is there, a plausible-looking torn one otherwise.
      if (mutation.crc)
        view.setUint32(at, crc32c(out, at + 4, Math.min(size, at + 8 + value)), true);
      return out;
    }
  }
}

/** A segment directory as data: file names to bytes, and names that are directories. */
export interface DirectoryImage {
  readonly files: Map<string, Uint8Array>;
  readonly directories: Set<string>;
}

/** The values a forged `head` with a valid CRC names (see {@link headValue}). */
export const HEAD_CHOICES = [
  "past the end",
  "the end",
  "inside a record",
  "a record boundary",
  "a segment start",
  "zero",
  "2^53 - 1",
  "2^53",
  "2^53 + 2",
  "2^64 - 1",
] as const;

export type HeadChoice = (typeof HEAD_CHOICES)[number];

/** Stray names a directory may gain; each looks like, or sits next to, a file the log uses. */
export const STRAY_NAMES = [
  "notes.txt",
  "00000000000000000000.wal.bak",
  "0000000000000000001.wal",
  "000000000000000000001.wal",
  "00000000000000000001.WAL",
  "head.old",
  "LOCK",
] as const;

/** One change to a segment directory beyond its bytes. */
export type DirectoryMutation =
  | { readonly kind: "deleteSegment"; readonly pick: number }
  /** Copies a segment to another index: one past the last, two past, or over another. */
  | { readonly kind: "duplicateSegment"; readonly pick: number; readonly to: number }
  | { readonly kind: "renameSegment"; readonly pick: number; readonly to: number }
  /** Grows (positive) or shrinks a segment by `delta` bytes. */
  | { readonly kind: "resizeSegment"; readonly pick: number; readonly delta: number }
  | {
      readonly kind: "stray";
      readonly name: (typeof STRAY_NAMES)[number];
      readonly bytes: Uint8Array;
    }
  /** A directory named like a segment past the last. */
  | { readonly kind: "strayDirectory"; readonly to: number }
  | { readonly kind: "headGarbage"; readonly bytes: Uint8Array }
  | { readonly kind: "headLength"; readonly bytes: Uint8Array }
  | {
      readonly kind: "headLsn";
      readonly value: HeadChoice;
      readonly pick: number;
    }
  | { readonly kind: "deleteHead" }
  | { readonly kind: "headTemp"; readonly bytes: Uint8Array };

export const directoryMutationArbitrary: fc.Arbitrary<DirectoryMutation> = fc.oneof(
  { arbitrary: pick.map((p) => ({ kind: "deleteSegment" as const, pick: p })), weight: 1 },
  {
    arbitrary: fc
      .record({ pick, to: fc.integer({ min: -3, max: 2 }) })
      .map((m) => ({ kind: "duplicateSegment" as const, ...m })),
    weight: 1,
  },
  {
    arbitrary: fc
      .record({ pick, to: fc.integer({ min: -3, max: 2 }) })
      .map((m) => ({ kind: "renameSegment" as const, ...m })),
    weight: 1,
  },
  {
    arbitrary: fc
      .record({ pick, delta: fc.integer({ min: -64, max: 64 }).filter((d) => d !== 0) })
      .map((m) => ({ kind: "resizeSegment" as const, ...m })),
    weight: 1,
  },
  {
    arbitrary: fc
      .record({ name: fc.constantFrom(...STRAY_NAMES), bytes: fc.uint8Array({ maxLength: 64 }) })
      .map((m) => ({ kind: "stray" as const, ...m })),
    weight: 1,
  },
  {
    arbitrary: fc
      .integer({ min: 1, max: 3 })
      .map((to) => ({ kind: "strayDirectory" as const, to })),
    weight: 1,
  },
  {
    arbitrary: fc
      .uint8Array({ minLength: 12, maxLength: 12 })
      .map((bytes) => ({ kind: "headGarbage" as const, bytes })),
    weight: 1,
  },
  {
    arbitrary: fc
      .uint8Array({ maxLength: 24 })
      .filter((bytes) => bytes.length !== 12)
      .map((bytes) => ({ kind: "headLength" as const, bytes })),
    weight: 1,
  },
  {
    arbitrary: fc
      .record({ value: fc.constantFrom(...HEAD_CHOICES), pick })
      .map((m) => ({ kind: "headLsn" as const, ...m })),
    weight: 3,
  },
  { arbitrary: fc.constant({ kind: "deleteHead" as const }), weight: 1 },
  {
    arbitrary: fc
      .uint8Array({ maxLength: 16 })
      .map((bytes) => ({ kind: "headTemp" as const, bytes })),
    weight: 1,
  },
);

/** The file name of segment `index`: 20 zero-padded digits, then `.wal`. */
export const segmentName = (index: number): string => `${String(index).padStart(20, "0")}.wal`;

/** The segment indices in `image`, ascending. */
export function segmentIndices(image: DirectoryImage): number[] {
  return [...image.files.keys()]
    .filter((name) => /^\d{20}\.wal$/.test(name))
    .map(Number.parseFloat)
    .sort((a, b) => a - b);
}

/** The log bytes `bytes`, whose first byte is at `first × segmentSize`, as segment files. */
export function splitSegments(
  bytes: Uint8Array,
  first: number,
  segmentSize: number,
): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  for (let at = 0; at < bytes.length; at += segmentSize) {
    files.set(segmentName(first + at / segmentSize), bytes.slice(at, at + segmentSize));
  }
  return files;
}

/** The 12 bytes of a `head` file naming `lsn` (a bigint, so wild values stay exact). */
export function headBytes(lsn: bigint): Uint8Array {
  const bytes = new Uint8Array(12);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, lsn, true);
  view.setUint32(8, crc32c(bytes, 0, 8), true);
  return bytes;
}

/** What a directory mutation may consult: the seed's records and segment size. */
export interface DirectoryContext {
  readonly segmentSize: number;
  /** Every record LSN of the seed, absolute, those below its head too. */
  readonly boundaries: readonly number[];
}

/** The head value `choice` names for a log of `end` bytes (bigint: some exceed 2^53). */
export function headValue(
  choice: HeadChoice,
  pickValue: number,
  end: number,
  context: DirectoryContext,
): bigint {
  const { boundaries, segmentSize } = context;
  switch (choice) {
    case "past the end":
      return BigInt(end + 1 + (pickValue % (2 * segmentSize)));
    case "the end":
      return BigInt(end);
    case "inside a record": {
      const lsn = boundaries.length === 0 ? 0 : boundaries[pickValue % boundaries.length]!;
      return BigInt(lsn + 1 + (pickValue % 7));
    }
    case "a record boundary":
      return BigInt(boundaries.length === 0 ? 0 : boundaries[pickValue % boundaries.length]!);
    case "a segment start":
      return BigInt((pickValue % (Math.ceil(end / segmentSize) + 1)) * segmentSize);
    case "zero":
      return 0n;
    case "2^53 - 1":
      return 2n ** 53n - 1n;
    case "2^53":
      return 2n ** 53n;
    case "2^53 + 2":
      return 2n ** 53n + 2n;
    case "2^64 - 1":
      return 2n ** 64n - 1n;
  }
}

/** `image` with `mutation` applied, as a new image; `image` itself is not changed. */
export function applyDirectoryMutation(
  image: DirectoryImage,
  mutation: DirectoryMutation,
  context: DirectoryContext,
): DirectoryImage {
  const files = new Map(image.files);
  const directories = new Set(image.directories);
  const indices = segmentIndices(image);
  const last = indices.at(-1) ?? -1;
  const chosen = indices.length === 0 ? undefined : indices[pickIndex(mutation, indices.length)];
  // Where a copied or renamed segment lands: past the last (to >= 1), or over another (to <= 0).
  const target = (to: number) =>
    to >= 1
      ? last + to
      : indices.length === 0
        ? 0
        : indices[(indices.length - 1 + to) % indices.length]!;
  switch (mutation.kind) {
    case "deleteSegment":
      if (chosen !== undefined) files.delete(segmentName(chosen));
      break;
    case "duplicateSegment":
      if (chosen !== undefined) {
        files.set(segmentName(Math.max(0, target(mutation.to))), files.get(segmentName(chosen))!);
      }
      break;
    case "renameSegment":
      if (chosen !== undefined) {
        const bytes = files.get(segmentName(chosen))!;
        files.delete(segmentName(chosen));
        files.set(segmentName(Math.max(0, target(mutation.to))), bytes);
      }
      break;
    case "resizeSegment":
      if (chosen !== undefined) {
        const bytes = files.get(segmentName(chosen))!;
        const length = Math.max(0, bytes.length + mutation.delta);
        const resized = new Uint8Array(length);
        resized.set(bytes.subarray(0, length));
        files.set(segmentName(chosen), resized);
      }
      break;
    case "stray":
      files.set(mutation.name, mutation.bytes);
      break;
    case "strayDirectory":
      directories.add(segmentName(last + mutation.to));
      break;
    case "headGarbage":
    case "headLength":
      files.set("head", mutation.bytes);
      break;
    case "headLsn": {
      const end = last < 0 ? 0 : last * context.segmentSize + files.get(segmentName(last))!.length;
      files.set("head", headBytes(headValue(mutation.value, mutation.pick, end, context)));
      break;
    }
    case "deleteHead":
      files.delete("head");
      break;
    case "headTemp":
      files.set("head.tmp", mutation.bytes);
      break;
  }
  // A name is a file or a directory, never both: the later mutation wins.
  if (mutation.kind === "strayDirectory") {
    for (const name of directories) files.delete(name);
  } else {
    for (const name of files.keys()) directories.delete(name);
  }
  return { files, directories };
}

function pickIndex(mutation: DirectoryMutation, count: number): number {
  return "pick" in mutation ? mutation.pick % count : 0;
}
