/**
 * @module
 * wal-db: a durable write-ahead log for Bun. Public exports only; see README.md for the
 * durability contract and docs/ON_DISK_FORMAT.md for the bytes.
 */

export { CorruptionError, IoError, WalError, type WalErrorCode } from "./errors.ts";
export { DEFAULT_MAX_RECORD_SIZE, type WalOptions } from "./options.ts";
export type { Platform } from "./platform/platform.ts";
export { FileStore, type FileStoreOptions } from "./store/file.ts";
export { MemoryStore } from "./store/memory.ts";
export type { WalStore } from "./store/store.ts";
export { type RecoveryReport, Wal, type WalRecord } from "./wal.ts";
