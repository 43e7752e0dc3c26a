/**
 * A real disk whose writes the kernel fails on demand, for the tests that need Linux's own
 * writeback-error behaviour rather than a model of it (test/kernel-faults.test.ts, and the
 * real errno paths of test/faults.test.ts). Linux only, as root, with losetup, mount, umount
 * and mkfs.ext4 (.ci/run installs them when missing).
 *
 * The disk: a 16 MiB ext4 file system (4 KiB blocks, no journal, mounted `errors=continue`) in
 * an image file on a 24 MiB tmpfs of its own, attached as a loop device. The image is the
 * disk: the tmpfs keeps whatever the loop device wrote, until `dispose`.
 *
 * Fault model:
 * - What fails: `failWrites()` fills the tmpfs. From then on the loop device cannot store any
 *   block of the image that was never written before, so writeback of a file's new blocks
 *   fails in the kernel with ENOSPC ("Buffer I/O error on device loopN" in dmesg). Linux then
 *   does what it does for a failing disk: `fdatasync` on a descriptor open before the failure
 *   reports ENOSPC once; a descriptor opened after another one saw the error is told nothing
 *   (its barrier returns 0); the failed pages are marked clean and reads keep returning their
 *   bytes from the page cache, while the disk holds zeros there (the extent stays unwritten),
 *   which is what a read after `posix_fadvise(POSIX_FADV_DONTNEED)` or after `remount()` sees.
 * - What does not fail: `write`/`pwrite` (they only fill the page cache); overwriting blocks
 *   already written once (their tmpfs pages exist), so a log that rewrites zero-filled space
 *   (the default 1 MiB `preallocate` of a single-file log) meets no fault: tests write logs
 *   that grow; reads; creating files and directory entries (inode tables, bitmaps and the root
 *   directory are blocks mkfs wrote: `lazy_itable_init=0`). Nothing is retried or undone by
 *   `heal()`, which only removes the filler: pages that failed stay failed.
 * - Why 4 KiB blocks and one-page requests: the loop driver completes a short write to its
 *   backing file as a success (it retries only short reads). A request that began in a page
 *   the tmpfs already holds and ran into one it could not allocate would lose its tail with no
 *   error anywhere, and `fdatasync` would return 0 over lost data (seen with the default 1 KiB
 *   blocks when a log grows from inside a block). With ext4 blocks of the page size and the
 *   device's requests capped at one page (`max_sectors_kb` = 4), each request lands whole or
 *   fails whole. `failWrites()` checks the fault holds before it returns.
 * - `remount()` is what a reboot does to the page cache: unmount, detach the loop device,
 *   attach it again and mount, so no cached page of any file or of the device survives and
 *   every read comes from the image. Files on the disk must be closed first.
 */

import { afterAll, expect } from "bun:test";
import {
  closeSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The tmpfs holding the image: the image, plus room for the log data of one test. */
const TMPFS_SIZE = "24m";
/** The ext4 image: small enough to make in milliseconds, large enough for any test here. */
const IMAGE_SIZE = 16 * 1024 * 1024;
/** ext4's block size, the tmpfs page size, the filler's write size and the request cap. */
const PAGE_SIZE = 4096;
const TOOLS = ["mount", "umount", "losetup", "mkfs.ext4"] as const;
/** Where root's tools live when PATH does not name them (a CI shell without sbin). */
const SBIN = "/usr/local/sbin:/usr/sbin:/sbin";

/** Disks not yet disposed, so a process that ends early still leaves no mount or device. */
const live = new Set<FaultyDisk>();
process.once("exit", () => {
  for (const disk of live) disk.dispose();
});

/** A small ext4 disk on a loop device whose writes of new blocks can be made to fail. */
export class FaultyDisk {
  /** Where the ext4 file system is mounted: put the logs here. */
  readonly mountPoint: string;
  /**
   * The tmpfs that holds the image. Full while `failWrites()` holds, so a write of a new file
   * there fails with ENOSPC in the `write` call itself.
   */
  readonly backing: string;
  private readonly dir: string;
  private readonly image: string;
  private readonly tools: Record<(typeof TOOLS)[number], string>;
  private device: string | null = null;
  /** The device's request limit before the cap, restored when it is detached. */
  private requestLimit: { path: string; kib: string } | null = null;
  private mounted = false;
  private backingMounted = false;
  private disposed = false;

  private constructor(dir: string, tools: Record<(typeof TOOLS)[number], string>) {
    this.dir = dir;
    this.tools = tools;
    this.backing = join(dir, "backing");
    this.mountPoint = join(dir, "mnt");
    this.image = join(this.backing, "disk.img");
  }

  /**
   * Builds a fresh disk in a new temp dir, or says why it cannot run here: not Linux, not
   * root, a tool missing, or the kernel refused the tmpfs, the loop device or the mount.
   */
  static create(): FaultyDisk | string {
    if (process.platform !== "linux") return `needs Linux, this is ${process.platform}`;
    if (process.getuid?.() !== 0) return "needs root (mount, losetup)";
    const tools = {} as Record<(typeof TOOLS)[number], string>;
    for (const tool of TOOLS) {
      const path = Bun.which(tool, { PATH: `${process.env.PATH ?? ""}:${SBIN}` });
      if (path === null) return `${tool} is missing (install ${packageOf(tool)})`;
      tools[tool] = path;
    }
    const disk = new FaultyDisk(mkdtempSync(join(tmpdir(), "wal-db-disk-")), tools);
    live.add(disk);
    let reason: string | null;
    try {
      reason = disk.build();
    } catch (error) {
      reason = `building the disk failed: ${String(error)}`;
    }
    if (reason !== null) {
      disk.dispose();
      return reason;
    }
    return disk;
  }

  /**
   * Makes writeback of new blocks fail from now on, by filling the tmpfs; dirty pages already
   * in the page cache fail too when they are written back. Throws if a new block still reaches
   * the disk (the fault model does not hold on this kernel).
   */
  failWrites(): void {
    this.checkUsable("failWrites");
    const fd = openSync(join(this.backing, "filler"), "w");
    // Page by page: a larger write that fails leaves its remainder free for the loop device.
    const page = new Uint8Array(PAGE_SIZE);
    try {
      for (;;) writeSync(fd, page);
    } catch (error) {
      if ((error as { code?: string }).code !== "ENOSPC") throw error;
    } finally {
      closeSync(fd);
    }
    // The check: a new file's first block, synced, must fail.
    const probe = openSync(join(this.mountPoint, "fault-probe"), "w");
    let failed = false;
    try {
      writeSync(probe, page.fill(1));
      fsyncSync(probe);
    } catch (error) {
      failed = true;
      const code = (error as { code?: string }).code;
      if (code !== "ENOSPC" && code !== "EIO") throw error;
    } finally {
      closeSync(probe);
    }
    if (!failed) {
      this.heal();
      throw new Error(
        "failWrites: the tmpfs is full, yet a new block reached the disk: the fault model does not hold here",
      );
    }
  }

  /** Ends the fault: removes the filler. What failed stays failed; nothing is retried. */
  heal(): void {
    this.checkUsable("heal");
    rmSync(join(this.backing, "filler"), { force: true });
    rmSync(join(this.mountPoint, "fault-probe"), { force: true });
  }

  /**
   * What a reboot does to the page cache: unmount, detach the loop device, attach and mount
   * again, so every read comes from the image. Every file on the disk must be closed first.
   */
  remount(): void {
    this.checkUsable("remount");
    const unmounted = this.run([this.tools.umount, this.mountPoint]);
    if (unmounted !== null) {
      throw new Error(`remount: ${unmounted} (close every log on the disk first)`);
    }
    this.mounted = false;
    this.detach();
    const reason = this.attachAndMount();
    if (reason !== null) throw new Error(`remount: ${reason}`);
  }

  /**
   * Unmounts, detaches and removes everything the disk made. Safe to call twice, and after a
   * failed step (a file left open: the mount is then detached lazily, and the loop device
   * goes once its last user closes).
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    live.delete(this);
    if (this.mounted) {
      if (this.run([this.tools.umount, this.mountPoint]) !== null) {
        this.run([this.tools.umount, "-l", this.mountPoint]);
      }
      this.mounted = false;
    }
    this.detach();
    if (this.backingMounted) {
      if (this.run([this.tools.umount, this.backing]) !== null) {
        this.run([this.tools.umount, "-l", this.backing]);
      }
      this.backingMounted = false;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Mounts the tmpfs, makes the image and its file system, attaches and mounts it. */
  private build(): string | null {
    mkdirSync(this.backing);
    mkdirSync(this.mountPoint);
    const tmpfs = this.run([
      this.tools.mount,
      "-t",
      "tmpfs",
      "-o",
      `size=${TMPFS_SIZE},mode=0755`,
      "tmpfs",
      this.backing,
    ]);
    if (tmpfs !== null) return `mounting a tmpfs was refused: ${tmpfs}`;
    this.backingMounted = true;
    const fd = openSync(this.image, "w");
    try {
      ftruncateSync(fd, IMAGE_SIZE);
    } finally {
      closeSync(fd);
    }
    const mkfs = this.run([
      this.tools["mkfs.ext4"],
      "-q",
      "-F",
      "-b",
      String(PAGE_SIZE),
      "-O",
      "^has_journal",
      "-E",
      "lazy_itable_init=0",
      this.image,
    ]);
    if (mkfs !== null) return `mkfs.ext4 failed: ${mkfs}`;
    return this.attachAndMount();
  }

  /** Attaches the image as a loop device of one-page requests and mounts it. */
  private attachAndMount(): string | null {
    const attached = Bun.spawnSync([this.tools.losetup, "-f", "--show", this.image], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const device = attached.stdout.toString().trim();
    if (!attached.success || !device.startsWith("/dev/")) {
      return `losetup was refused: ${attached.stderr.toString().trim()}`;
    }
    this.device = device;
    const limit = join("/sys/block", device.slice("/dev/".length), "queue", "max_sectors_kb");
    try {
      this.requestLimit = { path: limit, kib: readFileSync(limit, "utf8").trim() };
      writeFileSync(limit, String(PAGE_SIZE / 1024));
    } catch (error) {
      return `cannot cap ${device}'s requests at one page (${limit}): ${String(error)}`;
    }
    const mount = this.run([this.tools.mount, "-o", "errors=continue", device, this.mountPoint]);
    if (mount !== null) return `mounting ${device} was refused: ${mount}`;
    this.mounted = true;
    return null;
  }

  private detach(): void {
    if (this.device === null) return;
    // The cap outlives the attachment: the next user of the device gets its old limit back.
    if (this.requestLimit !== null) {
      try {
        writeFileSync(this.requestLimit.path, this.requestLimit.kib);
      } catch {
        // The device is already gone: there is no limit left to restore.
      }
      this.requestLimit = null;
    }
    // A device still open (a lazy unmount) is only marked to detach when its last user closes.
    this.run([this.tools.losetup, "-d", this.device]);
    this.device = null;
  }

  /** Runs a command to its end; null when it succeeded, else what it printed on stderr. */
  private run(command: string[]): string | null {
    const result = Bun.spawnSync(command, { stdout: "ignore", stderr: "pipe" });
    if (result.success) return null;
    const stderr = result.stderr.toString().trim();
    return `${command.join(" ")} exited ${result.exitCode}${stderr === "" ? "" : `: ${stderr}`}`;
  }

  private checkUsable(call: string): void {
    if (this.disposed || !this.mounted) throw new Error(`${call}: the disk is not mounted`);
  }
}

function packageOf(tool: (typeof TOOLS)[number]): string {
  return tool === "mkfs.ext4" ? "e2fsprogs" : "mount / util-linux";
}

/** What a test file that needs faulty disks uses: whether to run, and a maker of disks. */
export interface FaultyDisks {
  /** False when the file's disk tests skip here (the reason was printed once). */
  readonly runs: boolean;
  /**
   * A fresh disk, disposed by `using` or, failing that, after the file. Fails the test when no
   * disk can be made: under CI (`process.env.CI`) a missing capability is a failure, not a skip.
   */
  make(): FaultyDisk;
}

/**
 * Probes once, at the top level of a test file, whether faulty disks can be made here. Where
 * they cannot, it prints why (console.warn) and the file's disk tests skip, except under CI,
 * where they run and fail with the reason, as the syscall audit does without strace.
 */
export function faultyDisks(file: string): FaultyDisks {
  const probe = FaultyDisk.create();
  const reason = typeof probe === "string" ? probe : null;
  if (typeof probe !== "string") probe.dispose();
  const underCi = !!process.env.CI;
  if (reason !== null) {
    console.warn(
      `${file}: ${underCi ? "failing (CI)" : "skipping"} the real-disk tests: ${reason}`,
    );
  }
  const made: FaultyDisk[] = [];
  afterAll(() => {
    for (const disk of made) disk.dispose();
  });
  return {
    runs: reason === null || underCi,
    make() {
      const disk = FaultyDisk.create();
      expect(
        typeof disk === "string" ? disk : null,
        "a faulty disk is required under CI (.ci/run installs its tools)",
      ).toBeNull();
      made.push(disk as FaultyDisk);
      return disk as FaultyDisk;
    },
  };
}
