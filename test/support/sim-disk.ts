/**
 * A simulated disk under the real stores (through their `fileSystem` and `platform` seams), for
 * the crash-image and fault harnesses: it records every write, truncate, barrier and directory
 * operation, and can say at any moment which disk images a power loss could leave, or fail any
 * operation with any errno.
 *
 * The model, and the assumptions it encodes (docs/RELIABILITY.md states them):
 * - Each file and each directory has a durable state and a list of operations since; the
 *   running program sees the durable state with every operation applied.
 * - A barrier (`fdatasync`) on a file makes that file's data and length durable: its pending
 *   writes and truncates move into the durable state, and the durable length becomes the
 *   length the program sees (after a failed barrier the two differ: the lost writes read as
 *   zeros there, holes on a real disk, and a lost truncate is made again, as a file system
 *   that journals the size does). Nothing else does ("honest fsync").
 * - `syncDirectory` makes that directory's pending entry changes (create, rename, unlink,
 *   mkdir of a child) durable. A file's barrier does not make its name durable.
 * - Until then, a power loss may persist any subset of the pending operations, in any order:
 *   writes are not ordered, sectors are not atomic, a write may be torn at any byte and the
 *   torn part may hold the old bytes, zeros or garbage. A write damages no byte outside its
 *   own range. Directory operations persist in issue order (a journal), so a rename is
 *   atomic.
 * - A failed barrier (EIO) models Linux: the pending writes of that file are dropped from the
 *   durable state (the page cache marks them clean) though reads still return them, so a
 *   retried barrier succeeds and proves nothing. They stay readable until the file's cache is
 *   dropped (`platform.dropCache`, which Linux's `posix_fadvise(POSIX_FADV_DONTNEED)` is):
 *   then reads return the durable bytes with the file's still-pending (dirty) writes applied,
 *   the failed writes gone (zeros), at the length the program sees (the size lives in the
 *   inode, not in the dropped pages). A reopen in the same boot that skips the drop reads them
 *   back as if they were on disk; a power loss takes them.
 *
 * Paths are absolute and live under {@link SIM_ROOT}, which exists and is durable.
 */

import { constants } from "node:fs";
import { basename, dirname } from "node:path";
import type { FileSystem, Platform } from "../../src/index.ts";
import { IoError } from "../../src/index.ts";

/** The simulated disk's root directory: durable, always present. */
export const SIM_ROOT = "/sim";

/** An operation a power loss may or may not have persisted. */
export type PendingOperation =
  | {
      readonly kind: "write";
      readonly inode: number;
      readonly position: number;
      readonly bytes: Uint8Array;
    }
  | { readonly kind: "truncate"; readonly inode: number; readonly size: number }
  | {
      readonly kind: "link";
      readonly directory: string;
      readonly name: string;
      readonly inode: number;
    }
  | { readonly kind: "unlink"; readonly directory: string; readonly name: string }
  | {
      readonly kind: "rename";
      readonly directory: string;
      readonly from: string;
      readonly to: string;
    }
  | { readonly kind: "mkdir"; readonly directory: string; readonly path: string };

/** Every operation the disk counts, and so every operation a fault can hit. */
export type OperationKind =
  | "create"
  | "write"
  | "truncate"
  | "barrier"
  | "syncDirectory"
  | "rename"
  | "unlink"
  | "mkdir";

/** What survives a power loss for sure: file contents by inode, and directory entries. */
export interface DurableState {
  readonly files: Map<number, Uint8Array>;
  /** Directory path to its entries (name to inode); a directory absent here does not exist. */
  readonly directories: Map<string, Map<string, number>>;
}

/** The disk at one moment: what is durable, and what a power loss may add to it. */
export interface CrashState {
  readonly durable: DurableState;
  readonly pending: readonly PendingOperation[];
}

/** How an injected fault behaves. */
export interface Fault {
  /** Fail the operation with this 1-based index (counted over {@link OperationKind}s). */
  readonly at: number;
  /** The errno name the failure carries. */
  readonly errno: string;
  /** "once": only operation `at` fails; "sticky": it and every later one fail. */
  readonly mode: "once" | "sticky";
  /** For a write: persist this many bytes and report a short count instead of failing. */
  readonly shortWrite?: boolean;
}

interface OpenFile {
  readonly inode: number;
  readonly path: string;
}

/** A simulated disk; see the module comment for its model. */
export class SimDisk {
  /** Called after every counted operation, with its kind: where crash points are taken. */
  onOperation: ((kind: OperationKind) => void) | null = null;
  /** Operations counted so far (what {@link Fault.at} indexes). */
  operations = 0;
  /** Faults injected so far. */
  faultsInjected = 0;
  private fault: Fault | null = null;
  private readonly files = new Map<number, Uint8Array>();
  private readonly directories = new Map<string, Map<string, number>>();
  private readonly durable: DurableState;
  private pending: PendingOperation[] = [];
  private readonly open = new Map<number, OpenFile>();
  private readonly locks = new Map<number, number>();
  private nextInode = 1;
  private nextFd = 3;

  /** An empty disk, or the disk a power loss left in `state`. */
  constructor(state?: DurableState) {
    const start = state ?? {
      files: new Map(),
      directories: new Map([[SIM_ROOT, new Map()]]),
    };
    this.durable = cloneState(start);
    for (const [inode, bytes] of start.files) {
      this.files.set(inode, bytes.slice());
      this.nextInode = Math.max(this.nextInode, inode + 1);
    }
    for (const [path, entries] of start.directories) this.directories.set(path, new Map(entries));
  }

  /** Fails operation `fault.at` (and later ones, if sticky); replaces any earlier fault. */
  injectFault(fault: Fault | null): void {
    this.fault = fault;
  }

  /** The durable state and pending operations now, copied: later operations do not change it. */
  crashState(): CrashState {
    return { durable: cloneState(this.durable), pending: [...this.pending] };
  }

  /** The disk a power loss now would leave if none of the pending operations persisted. */
  afterPowerLoss(): SimDisk {
    return new SimDisk(this.durable);
  }

  /** The file at `path` as the program sees it now, or null. */
  readFile(path: string): Uint8Array | null {
    const inode = this.directories.get(dirname(path))?.get(basename(path));
    return inode === undefined ? null : this.files.get(inode)!.slice();
  }

  readonly fileSystem: FileSystem = {
    openSync: (path, flags) => this.openFile(path, flags),
    closeSync: (fd) => {
      this.file(fd);
      this.open.delete(fd);
      for (const [inode, holder] of this.locks) if (holder === fd) this.locks.delete(inode);
    },
    fstatSync: (fd) => ({
      size: this.files.get(this.file(fd).inode)!.length,
      isFile: () => true,
      isDirectory: () => false,
    }),
    statSync: (path) => {
      const isDirectory = this.directories.has(path);
      const inode = this.directories.get(dirname(path))?.get(basename(path));
      if (!isDirectory && inode === undefined) throw errno("ENOENT", `stat ${path}`);
      const size = isDirectory ? 0 : this.files.get(inode!)!.length;
      return { size, isFile: () => !isDirectory, isDirectory: () => isDirectory };
    },
    readSync: (fd, buffer, offset, length, position) => {
      const data = this.files.get(this.file(fd).inode)!;
      const count = Math.max(0, Math.min(length, data.length - position));
      buffer.set(data.subarray(position, position + count), offset);
      return count;
    },
    writeSync: (fd, buffer, offset, length, position) => {
      const { inode } = this.file(fd);
      let count = length;
      const fault = this.count("write");
      if (fault !== null) {
        if (!fault.shortWrite || length < 2) throw fault.error;
        count = length >> 1; // a short write: half the bytes land, the count says so
      }
      const bytes = buffer.slice(offset, offset + count);
      this.files.set(inode, applyWrite(this.files.get(inode)!, position, bytes));
      this.pending.push({ kind: "write", inode, position, bytes });
      this.after("write");
      return count;
    },
    ftruncateSync: (fd, size) => {
      const { inode } = this.file(fd);
      this.fail("truncate");
      this.files.set(inode, resize(this.files.get(inode)!, size));
      this.pending.push({ kind: "truncate", inode, size });
      this.after("truncate");
    },
    readdirSync: (path) => {
      const entries = this.directories.get(path);
      if (entries === undefined) throw errno("ENOENT", `readdir ${path}`);
      const children = [...this.directories.keys()].filter(
        (child) => child !== path && dirname(child) === path,
      );
      return [...entries.keys(), ...children.map((child) => basename(child))];
    },
    mkdirSync: (path) => {
      const parent = dirname(path);
      if (!this.directories.has(parent)) throw errno("ENOENT", `mkdir ${path}`);
      if (this.directories.has(path) || this.directories.get(parent)!.has(basename(path))) {
        throw errno("EEXIST", `mkdir ${path}`);
      }
      this.fail("mkdir");
      this.directories.set(path, new Map());
      this.pending.push({ kind: "mkdir", directory: parent, path });
      this.after("mkdir");
    },
    renameSync: (from, to) => {
      const directory = dirname(from);
      const entries = this.directories.get(directory);
      const inode = entries?.get(basename(from));
      if (entries === undefined || inode === undefined) throw errno("ENOENT", `rename ${from}`);
      if (dirname(to) !== directory) throw errno("EXDEV", `rename ${from} ${to}`);
      this.fail("rename");
      entries.delete(basename(from));
      entries.set(basename(to), inode);
      this.pending.push({ kind: "rename", directory, from: basename(from), to: basename(to) });
      this.after("rename");
    },
    unlinkSync: (path) => {
      const directory = dirname(path);
      const entries = this.directories.get(directory);
      if (entries?.get(basename(path)) === undefined) throw errno("ENOENT", `unlink ${path}`);
      this.fail("unlink");
      entries.delete(basename(path));
      this.pending.push({ kind: "unlink", directory, name: basename(path) });
      this.after("unlink");
    },
  };

  readonly platform: Platform = {
    barrier: (fd, target) => {
      const { inode } = this.file(fd);
      const fault = this.count("barrier");
      const mine = this.pending.filter(
        (op) => "inode" in op && op.inode === inode && op.kind !== "link",
      );
      this.pending = this.pending.filter((op) => !mine.includes(op));
      if (fault !== null) {
        // Linux after a failed writeback: the data is gone from the disk's future, though the
        // page cache still serves it; the next barrier has nothing left to flush.
        throw new IoError("fdatasync", target, fault.errno, fault.error);
      }
      applyOperations(this.durable, mine);
      const length = this.files.get(inode)!.length;
      const durable = this.durable.files.get(inode) ?? new Uint8Array(0);
      if (durable.length !== length) this.durable.files.set(inode, resize(durable, length));
      this.after("barrier");
      // The simulated disk has no drive cache: every barrier it runs is the full one.
      return "full";
    },
    syncDirectory: (path) => {
      const fault = this.count("syncDirectory");
      if (fault !== null) throw new IoError("fsync", path, fault.errno, fault.error);
      const mine = this.pending.filter((op) => "directory" in op && op.directory === path);
      this.pending = this.pending.filter((op) => !mine.includes(op));
      applyOperations(this.durable, mine);
      this.after("syncDirectory");
      return "full";
    },
    dropCache: (fd) => {
      const { inode } = this.file(fd);
      const durable: DurableState = {
        files: new Map([[inode, this.durable.files.get(inode) ?? new Uint8Array(0)]]),
        directories: new Map(),
      };
      // Dirty pages stay: only writes a barrier already failed on are not pending any more.
      applyOperations(
        durable,
        this.pending.filter((op) => "inode" in op && op.inode === inode && op.kind !== "link"),
      );
      this.files.set(inode, resize(durable.files.get(inode)!, this.files.get(inode)!.length));
    },
    tryLockExclusive: (fd) => {
      const { inode } = this.file(fd);
      const holder = this.locks.get(inode);
      if (holder !== undefined && holder !== fd) return false;
      this.locks.set(inode, fd);
      return true;
    },
  };

  private openFile(path: string, flags: number): number {
    const directory = dirname(path);
    const entries = this.directories.get(directory);
    if (this.directories.has(path)) throw errno("EISDIR", `open ${path}`);
    if (entries === undefined) throw errno("ENOENT", `open ${path}`);
    let inode = entries.get(basename(path));
    if (inode !== undefined && flags & constants.O_CREAT && flags & constants.O_EXCL) {
      throw errno("EEXIST", `open ${path}`);
    }
    if (inode === undefined) {
      if (!(flags & constants.O_CREAT)) throw errno("ENOENT", `open ${path}`);
      this.fail("create");
      inode = this.nextInode++;
      this.files.set(inode, new Uint8Array(0));
      entries.set(basename(path), inode);
      this.pending.push({ kind: "link", directory, name: basename(path), inode });
      this.after("create");
    } else if (flags & constants.O_TRUNC) {
      this.fail("truncate");
      this.files.set(inode, new Uint8Array(0));
      this.pending.push({ kind: "truncate", inode, size: 0 });
      this.after("truncate");
    }
    const fd = this.nextFd++;
    this.open.set(fd, { inode, path });
    return fd;
  }

  private file(fd: number): OpenFile {
    const file = this.open.get(fd);
    if (file === undefined) throw errno("EBADF", `descriptor ${fd}`);
    return file;
  }

  /** Counts an operation; throws its injected failure, if any. */
  private fail(kind: OperationKind): void {
    const fault = this.count(kind);
    if (fault !== null) throw fault.error;
  }

  /** Counts an operation and returns its injected failure, if any, without throwing it. */
  private count(kind: OperationKind): { error: Error; errno: string; shortWrite: boolean } | null {
    this.operations++;
    const fault = this.fault;
    if (fault === null) return null;
    const hit = fault.mode === "once" ? this.operations === fault.at : this.operations >= fault.at;
    if (!hit) return null;
    this.faultsInjected++;
    return {
      error: errno(fault.errno, `injected into ${kind} #${this.operations}`),
      errno: fault.errno,
      shortWrite: fault.shortWrite === true && kind === "write",
    };
  }

  private after(kind: OperationKind): void {
    this.onOperation?.(kind);
  }
}

/** `state` with `operations` applied in order (what a power loss that persisted them leaves). */
export function imageOf(state: CrashState, operations: readonly PendingOperation[]): SimDisk {
  const durable = cloneState(state.durable);
  applyOperations(durable, operations);
  return new SimDisk(durable);
}

function applyOperations(state: DurableState, operations: readonly PendingOperation[]): void {
  for (const op of operations) {
    switch (op.kind) {
      case "write":
        state.files.set(
          op.inode,
          applyWrite(state.files.get(op.inode) ?? new Uint8Array(0), op.position, op.bytes),
        );
        break;
      case "truncate":
        state.files.set(op.inode, resize(state.files.get(op.inode) ?? new Uint8Array(0), op.size));
        break;
      case "link":
        state.directories.get(op.directory)?.set(op.name, op.inode);
        if (!state.files.has(op.inode)) state.files.set(op.inode, new Uint8Array(0));
        break;
      case "unlink":
        state.directories.get(op.directory)?.delete(op.name);
        break;
      case "rename": {
        const entries = state.directories.get(op.directory);
        const inode = entries?.get(op.from);
        if (entries === undefined || inode === undefined) break;
        entries.delete(op.from);
        entries.set(op.to, inode);
        break;
      }
      case "mkdir":
        if (state.directories.has(op.directory) && !state.directories.has(op.path)) {
          state.directories.set(op.path, new Map());
        }
        break;
    }
  }
}

function cloneState(state: DurableState): DurableState {
  return {
    files: new Map(state.files),
    directories: new Map([...state.directories].map(([path, entries]) => [path, new Map(entries)])),
  };
}

/** `data` with `bytes` written at `position` (a new array; zeros fill any gap). */
function applyWrite(data: Uint8Array, position: number, bytes: Uint8Array): Uint8Array {
  const result = new Uint8Array(Math.max(data.length, position + bytes.length));
  result.set(data);
  result.set(bytes, position);
  return result;
}

function resize(data: Uint8Array, size: number): Uint8Array {
  const result = new Uint8Array(size);
  result.set(data.subarray(0, Math.min(size, data.length)));
  return result;
}

function errno(code: string, what: string): Error {
  return Object.assign(new Error(`${code}: ${what}`), { code });
}
