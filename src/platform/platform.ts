/**
 * @module
 * The few system calls the log needs and Node's `fs` gets wrong or hides, behind one small typed
 * interface. Each OS has its own file in this folder, with its `bun:ffi` symbol table and a note
 * on why its barrier is the real one. The platform is chosen once, when the first file opens.
 */

/** The native calls a file-backed store makes. Every failure is thrown as an `IoError`. */
export interface Platform {
  /** Puts every written byte of `fd` (and the metadata needed to read it) on stable storage. */
  barrier(fd: number, target: string): void;
  /** Makes the directory entries under `path` durable: created, renamed and deleted names. */
  syncDirectory(path: string): void;
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
