/**
 * @module
 * Where an archive lives: `s3://bucket/prefix` on an S3-compatible store, reached through Bun's
 * own `S3Client` (no dependency). `ArchiveBucket` is the four requests the archiver and the
 * restore make, each bounded by a timeout and failing as a `WalError` `ARCHIVE` whose message
 * names the object and never a credential. Tests put a fault proxy's endpoint here.
 */

import { describeValue, invalidArgument, messageOf, WalError } from "../errors.ts";
import { checkInteger } from "../options.ts";
import type { ListedObject } from "./layout.ts";

/**
 * How to reach the store. Every field left out falls back to Bun's standard environment
 * variables: `S3_ENDPOINT`/`AWS_ENDPOINT`, `S3_ACCESS_KEY_ID`/`AWS_ACCESS_KEY_ID`,
 * `S3_SECRET_ACCESS_KEY`/`AWS_SECRET_ACCESS_KEY`, `S3_SESSION_TOKEN`/`AWS_SESSION_TOKEN`,
 * `S3_REGION`/`AWS_REGION`, and for a URL with no bucket (`s3:///prefix`), `S3_BUCKET`/`AWS_BUCKET`.
 */
export interface S3Settings {
  /** e.g. `https://s3.us-east-1.amazonaws.com`, `http://127.0.0.1:9000` (MinIO). */
  readonly endpoint?: string;
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  readonly sessionToken?: string;
  readonly region?: string;
  /** Virtual-hosted-style URLs (`bucket.host`); path-style (`host/bucket`) by default. */
  readonly virtualHostedStyle?: boolean;
  /**
   * How long one request may take, in ms, before it counts as failed (a stalled server).
   * @default 30000
   */
  readonly requestTimeout?: number;
}

/** The default of {@link S3Settings.requestTimeout}. */
const DEFAULT_REQUEST_TIMEOUT = 30_000;

/** The requests an archive makes, with keys relative to its prefix. */
export interface ArchiveBucket {
  /** `s3://bucket/prefix`, for messages. */
  readonly url: string;
  /** Every object under the prefix, keys relative to it, in key order. */
  list(): Promise<ListedObject[]>;
  /** The object's bytes; `ARCHIVE` when fewer or more than `size` arrive. */
  get(key: string, size: number): Promise<Uint8Array>;
  put(key: string, bytes: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
  /**
   * Resolves once no request is in flight, counting those that timed out and were given up on:
   * until then one may still land (a PUT the store applies after its caller stopped waiting).
   */
  settled(): Promise<void>;
}

/** An `s3://bucket/prefix` URL, split. */
export interface ArchiveUrl {
  readonly bucket: string;
  /** The prefix without slashes at either end; "" for the bucket's root. */
  readonly prefix: string;
}

/**
 * Splits `url` (`s3://bucket/prefix`). An empty bucket (`s3:///prefix`) is `S3_BUCKET`'s or
 * `AWS_BUCKET`'s.
 * @throws WalError `INVALID_ARGUMENT` for anything else, or no bucket anywhere.
 */
export function parseArchiveUrl(url: unknown, env = process.env): ArchiveUrl {
  const match = typeof url === "string" ? /^s3:\/\/([^/]*)(?:\/(.*))?$/.exec(url) : null;
  if (match === null)
    throw invalidArgument(`an archive is an s3://bucket/prefix URL, got ${describeValue(url)}`);
  const bucket = match[1] || env.S3_BUCKET || env.AWS_BUCKET || "";
  if (bucket === "")
    throw invalidArgument(`${url} names no bucket, and neither S3_BUCKET nor AWS_BUCKET is set`);
  const prefix = (match[2] ?? "").replace(/^\/+|\/+$/g, "");
  if (prefix.split("/").some((part) => part === "." || part === ".."))
    throw invalidArgument(`the archive prefix of ${url} may not hold "." or ".."`);
  return { bucket, prefix };
}

/** The bucket at `url` (`s3://bucket/prefix`), reached with `settings` and the environment. */
export function openBucket(
  url: string,
  settings: S3Settings = {},
  env = process.env,
): ArchiveBucket {
  const { bucket, prefix } = parseArchiveUrl(url, env);
  const timeout = checkInteger(
    "requestTimeout",
    settings.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT,
    1,
    2 ** 31 - 1,
  );
  const { client, secrets } = s3Client(bucket, settings, env);
  const base = prefix === "" ? "" : `${prefix}/`;
  const shown = `s3://${bucket}${prefix === "" ? "" : `/${prefix}`}`;
  const inFlight = new Set<Promise<unknown>>();
  const tracked = <T>(run: () => Promise<T>) => {
    const running = run();
    const settled: Promise<unknown> = running.then(
      () => inFlight.delete(settled),
      () => inFlight.delete(settled),
    );
    inFlight.add(settled);
    return running;
  };
  const request = <T>(what: string, key: string, run: () => Promise<T>) =>
    bounded(
      () => tracked(run),
      timeout,
      (cause) => archiveFailure(what, `${shown}/${key}`, cause, secrets),
    );
  return {
    url: shown,
    async list() {
      const objects: ListedObject[] = [];
      // Pages continue after the last key (ListObjectsV2 start-after): every S3-compatible
      // store has it, while some cannot make continuation tokens (s3rver under Bun).
      let startAfter: string | undefined;
      for (;;) {
        const page = await request("list", "", () =>
          client.list({ prefix: base, ...(startAfter === undefined ? {} : { startAfter }) }),
        );
        const entries = page.contents ?? [];
        for (const entry of entries) {
          objects.push({ key: entry.key.slice(base.length), size: entry.size ?? 0 });
        }
        if (!page.isTruncated || entries.length === 0) break;
        startAfter = entries.at(-1)!.key;
      }
      return objects;
    },
    async get(key, size) {
      const bytes = await request(
        "get",
        key,
        async () => new Uint8Array(await client.file(base + key).arrayBuffer()),
      );
      // Bun does not check a body against its Content-Length: a body cut short on the wire
      // arrives as a short object, with no error.
      if (bytes.length !== size) {
        throw archiveFailure(
          "get",
          `${shown}/${key}`,
          new Error(`${bytes.length} bytes arrived of the ${size} it holds`),
          secrets,
        );
      }
      return bytes;
    },
    async put(key, bytes) {
      await request("put", key, () => client.write(base + key, bytes));
    },
    async delete(key) {
      await request("delete", key, () => client.delete(base + key));
    },
    async settled() {
      while (inFlight.size > 0) await Promise.all(inFlight);
    },
  };
}

/** Bun's client for `bucket`, from `settings` and the environment, and the secrets it holds. */
function s3Client(
  bucket: string,
  settings: S3Settings,
  env: Record<string, string | undefined>,
): { client: Bun.S3Client; secrets: string[] } {
  const pick = (given: string | undefined, ...names: string[]) =>
    given ?? names.map((name) => env[name]).find((value) => value !== undefined && value !== "");
  const secretAccessKey = pick(
    settings.secretAccessKey,
    "S3_SECRET_ACCESS_KEY",
    "AWS_SECRET_ACCESS_KEY",
  );
  const sessionToken = pick(settings.sessionToken, "S3_SESSION_TOKEN", "AWS_SESSION_TOKEN");
  const secrets = [secretAccessKey, sessionToken].filter(
    (secret): secret is string => secret !== undefined && secret.length > 0,
  );
  const given = {
    endpoint: pick(settings.endpoint, "S3_ENDPOINT", "AWS_ENDPOINT"),
    accessKeyId: pick(settings.accessKeyId, "S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
    secretAccessKey,
    sessionToken,
    region: pick(settings.region, "S3_REGION", "AWS_REGION"),
  };
  const client = new Bun.S3Client({
    bucket,
    virtualHostedStyle: settings.virtualHostedStyle ?? false,
    ...Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined)),
  });
  return { client, secrets };
}

/** `run`, failing with `fail(cause)` when it throws or outlasts `timeout` ms. */
async function bounded<T>(
  run: () => Promise<T>,
  timeout: number,
  fail: (cause: unknown) => WalError,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeout} ms`)), timeout);
  });
  try {
    return await Promise.race([run(), expired]);
  } catch (error) {
    throw fail(error);
  } finally {
    clearTimeout(timer);
  }
}

/** `ARCHIVE`: a request to the object store failed; its message has no credential in it. */
function archiveFailure(
  what: string,
  target: string,
  cause: unknown,
  secrets: readonly string[] = [],
): WalError {
  let detail = messageOf(cause);
  for (const secret of secrets) detail = detail.split(secret).join("<redacted>");
  const code = (cause as { code?: unknown } | null)?.code;
  const named = typeof code === "string" && !detail.includes(code) ? `${code}: ${detail}` : detail;
  return new WalError("ARCHIVE", `${what} ${target} failed: ${named}`);
}
