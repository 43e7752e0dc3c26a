/**
 * @module
 * The few system calls the log needs and Node's `fs` gets wrong or hides, behind one small typed
 * interface. Each OS has its own file in this folder, with its `bun:ffi` symbol table and a note
 * on why its barrier is the real one. The platform is chosen once, when the first file opens.
 */

/**
 * What a barrier did.
 * - `"full"`: the platform's real barrier: `fdatasync` on Linux, `fcntl(F_FULLFSYNC)` on macOS,
 *   `FlushFileBuffers` on Windows. The bytes are on stable storage.
 * - `"fsync"`: plain `fsync`, because the file system refused the full barrier (macOS only:
 *   `F_FULLFSYNC` answered `ENOTSUP` or `EINVAL`, as SMB mounts and some FUSE and exFAT file
 *   systems do). The bytes reached the drive, which may still hold them in its volatile cache
 *   across a power loss. wal-db counts these (`Wal.stats().weakBarriers`) and reports them
 *   (`Wal.recovery.barrier`); it never weakens a barrier without saying so.
 */
export type BarrierStrength = "full" | "fsync";

/** The weaker of two barriers: `"fsync"` when either was. */
export function weakerBarrier(a: BarrierStrength, b: BarrierStrength): BarrierStrength {
  return a === "fsync" || b === "fsync" ? "fsync" : "full";
}

/** The native calls a file-backed store makes. Every failure is thrown as an `IoError`. */
export interface Platform {
  /**
   * Puts every written byte of `fd` (and the metadata needed to read it) on stable storage.
   *
   * `strength` is what the last barrier on this file returned: `"fsync"` says its file system
   * refused the full barrier already, so the platform goes straight to `fsync` instead of
   * asking again on every call. The caller remembers it; the platform keeps no state per file.
   * @default strength "full": try the full barrier
   * @returns what it did; `"fsync"` only where the file system refused the full barrier.
   */
  barrier(fd: number, target: string, strength?: BarrierStrength): BarrierStrength;
  /**
   * Makes the directory entries under `path` durable: created, renamed and deleted names. Its
   * barrier falls back exactly as {@link Platform.barrier}'s does, and `strength` means the same.
   */
  syncDirectory(path: string, strength?: BarrierStrength): BarrierStrength;
  /**
   * Takes an exclusive lock on the open file `fd` without waiting. The lock belongs to this
   * open file description and ends when it is closed or the process dies.
   * @returns false when another open file (in this process or another) holds the lock.
   */
  tryLockExclusive(fd: number, target: string): boolean;
  /**
   * Drops the clean pages of `fd`'s file from the OS page cache, so the next reads come from
   * the disk. Recovery calls it after its barrier: after a failed writeback Linux marks the
   * lost pages clean and keeps serving their contents, and a reopen in the same boot must not
   * take them for durable records. A no-op where the OS offers no such call (its file says why).
   */
  dropCache(fd: number, target: string): void;
}
