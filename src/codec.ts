/**
 * @module
 * Typed records: a {@link Codec} turns the values an engine logs into payload bytes and back.
 * The frame format does not change: a codec only decides what the payload holds, so it may
 * also compress or encrypt it, and a log written through a codec reads back in the Rust crate
 * as plain payloads.
 */

import { describeValue, messageOf, WalError } from "./errors.ts";

/**
 * How values of type `T` become record payloads and back: `Wal.open<T>(path, { codec })`.
 * `decode(encode(value))` must give back an equal value. `decode` gets bytes it may keep (a
 * copy the log does not reuse). A codec that throws fails the call with a `CODEC` error, with
 * nothing written.
 *
 * @example
 * import { pack, unpack } from "msgpackr";
 * const msgpack: Codec<unknown> = { encode: (value) => pack(value), decode: (bytes) => unpack(bytes) };
 */
export interface Codec<T> {
  /** The payload for `value`. */
  encode(value: T): Uint8Array;
  /** The value a payload holds. */
  decode(bytes: Uint8Array): T;
}

/** A value JSON text holds: what `codecs.json` gives back when the log names no type. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/**
 * The type of `codecs.json`: a codec for any type a log names (`Wal.open<Order>`), and for
 * {@link JsonValue} when it names none.
 */
export interface JsonCodec {
  // Two signatures each: the first serves a log that names its type, and TypeScript infers the
  // type of a log that names none from the last, so that it holds `JsonValue`s.
  /** The UTF-8 JSON text of `value`; throws for a value JSON has no text for. */
  encode: {
    (value: unknown): Uint8Array<ArrayBuffer>;
    (value: JsonValue): Uint8Array<ArrayBuffer>;
  };
  /** The value a payload's JSON text holds. */
  decode: { <R>(bytes: Uint8Array): R; (bytes: Uint8Array): JsonValue };
}

const utf8Encoder = new TextEncoder();
/** Fatal: bytes that are not UTF-8 are an error, not replacement characters. */
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/** The built-in codecs. */
export const codecs = {
  /** Payloads as they are: the default. `append` also takes strings, stored as UTF-8. */
  bytes: {
    encode: (value: Uint8Array) => value,
    decode: (bytes: Uint8Array) => bytes,
  } satisfies Codec<Uint8Array>,
  /** Strings, stored as UTF-8; a payload that is not UTF-8 fails to decode. */
  utf8: {
    encode: (value: string) => {
      if (typeof value !== "string") {
        throw new TypeError(`the utf8 codec takes strings, got ${describeValue(value)}`);
      }
      return utf8Encoder.encode(value);
    },
    decode: (bytes: Uint8Array) => utf8Decoder.decode(bytes),
  } satisfies Codec<string>,
  /**
   * JSON values, stored as UTF-8 JSON text. Without a type argument the log holds
   * {@link JsonValue}s, so `append(undefined)` does not compile;
   * `Wal.open<Order>(path, { codec: codecs.json })` types the records as `Order`, and the codec
   * trusts that the log holds what the type says.
   */
  json: {
    encode: (value: unknown): Uint8Array<ArrayBuffer> => {
      const text = JSON.stringify(value);
      // undefined, functions and symbols have no JSON text.
      if (text === undefined) {
        throw new TypeError(`the json codec cannot encode ${describeValue(value)}`);
      }
      return utf8Encoder.encode(text);
    },
    decode: ((bytes: Uint8Array) => JSON.parse(utf8Decoder.decode(bytes))) as JsonCodec["decode"],
  } satisfies JsonCodec as JsonCodec,
} as const;

/**
 * `codec.encode(value)`, checked: a codec that throws or returns something other than bytes
 * fails with `CODEC`, naming the call and, for a batch, the element (the name is built only
 * then: a batch of small records would otherwise build a string per record).
 */
export function encodeWith<T>(
  codec: Codec<T>,
  value: T,
  call: string,
  element?: number,
): Uint8Array {
  let bytes: unknown;
  try {
    bytes = codec.encode(value);
  } catch (error) {
    throw codecError(
      `${callName(call, element)}: the codec could not encode the value: ${messageOf(error)}`,
      error,
    );
  }
  if (!(bytes instanceof Uint8Array)) {
    throw codecError(
      `${callName(call, element)}: the codec's encode returned ${describeValue(bytes)}, not a Uint8Array`,
    );
  }
  return bytes;
}

/** "appendBatch element 3", or the call alone. */
function callName(call: string, element: number | undefined): string {
  return element === undefined ? call : `${call} element ${element}`;
}

/** `codec.decode(bytes)` of the record at `lsn`; a codec that throws fails with `CODEC`. */
export function decodeWith<T>(codec: Codec<T>, bytes: Uint8Array, lsn: number): T {
  try {
    return codec.decode(bytes);
  } catch (error) {
    throw codecError(
      `the record at ${lsn} (${bytes.length} bytes, checksum valid) does not decode: ${messageOf(error)}; ` +
        "was it written with another codec?",
      error,
    );
  }
}

function codecError(message: string, cause?: unknown): WalError {
  return new WalError("CODEC", message, { cause });
}
