/**
 * @module
 * wal-db: a durable write-ahead log for Bun. Public exports only; see README.md for the
 * durability contract and docs/ON_DISK_FORMAT.md for the bytes.
 */

export type { ArchiveOptions, LogArchiver } from "./archive/archiver.ts";
export type { S3Settings } from "./archive/bucket.ts";
export type { PruneOptions, PruneReport } from "./archive/prune.ts";
export type { RestoreOptions, RestoreReport } from "./archive/restore.ts";
export { type Codec, codecs, type JsonCodec, type JsonValue } from "./codec.ts";
export type { BarrierLatency } from "./commit.ts";
export type { Crc32cImplementation } from "./crc32c.ts";
export { CorruptionError, IoError, WalError, type WalErrorCode } from "./errors.ts";
export {
  DEFAULT_MAX_PENDING_COMMITS,
  DEFAULT_MAX_RECORD_SIZE,
  DEFAULT_SLOW_SYNC_THRESHOLD,
  DEFAULT_STALL_TIMEOUT,
  type WalOptions,
} from "./options.ts";
export type { BarrierStrength, Platform } from "./platform/platform.ts";
export type { RecoveryReport } from "./recovery.ts";
export { FileStore, type FileStoreOptions } from "./store/file.ts";
export type { FileSystem } from "./store/file-system.ts";
export { MemoryStore } from "./store/memory.ts";
export { SegmentedStore, type SegmentedStoreOptions } from "./store/segmented.ts";
export type { WalStore } from "./store/store.ts";
export {
  type AttachedWal,
  type ReadOnlyWal,
  type RecordRange,
  Wal,
  type WalHandle,
  type WalInput,
  type WalRecord,
  type WalStats,
} from "./wal.ts";
