/**
 * @module
 * What the archive commands (`restore`, `archive`, `verify s3://...`) share: the
 * `s3://bucket/prefix` argument, checked before anything is opened or downloaded, and how to
 * reach the store (`--endpoint`, the credentials from the environment).
 */

import { parseArchiveUrl, type S3Settings } from "../archive/bucket.ts";
import { WalError } from "../errors.ts";
import { usageError } from "./command.ts";

/** The flags every archive command takes to reach the store. */
export const ARCHIVE_FLAGS = { endpoint: { type: "string" } } as const;

/** The parsed {@link ARCHIVE_FLAGS}. */
export type ArchiveFlagValues = { endpoint?: string };

/** Help lines for {@link ARCHIVE_FLAGS}. */
export const ARCHIVE_FLAGS_HELP = `      --endpoint URL      the S3-compatible store, e.g. http://127.0.0.1:9000 (default:
                          S3_ENDPOINT or AWS_ENDPOINT, else AWS S3)`;

/** Where the credentials come from, for every archive command's help. */
export const CREDENTIALS_HELP = `Credentials come from the environment: S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY (or
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), S3_SESSION_TOKEN, S3_REGION. s3:///prefix
takes its bucket from S3_BUCKET (or AWS_BUCKET).`;

/** Whether a positional names an archive rather than a local path. */
export function isArchiveUrl(text: string): boolean {
  return text.startsWith("s3://");
}

/**
 * `text` when it is an `s3://bucket/prefix` URL the store can be asked about.
 * @throws CliError (usage) otherwise, with the library's reason: a user's typo is exit 2
 * before any request, not a failed request.
 */
export function archiveUrl(text: string): string {
  try {
    parseArchiveUrl(text);
  } catch (error) {
    if (error instanceof WalError) throw usageError(error.message);
    throw error;
  }
  return text;
}

/**
 * The settings {@link ARCHIVE_FLAGS} give; the rest comes from the environment (bucket.ts).
 * @throws CliError (usage) for an `--endpoint` that is not an http(s) URL.
 */
export function archiveSettings(values: ArchiveFlagValues): S3Settings {
  const { endpoint } = values;
  if (endpoint === undefined) return {};
  const protocol = URL.canParse(endpoint) ? new URL(endpoint).protocol : "";
  if (protocol !== "http:" && protocol !== "https:")
    throw usageError(`--endpoint takes an http:// or https:// URL, got '${endpoint}'`);
  return { endpoint };
}
