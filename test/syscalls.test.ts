/**
 * The syscall audit: under strace, a real writer process must issue the calls the durability
 * contract names, in the order it needs them: lock, directory sync, the positioned writes, and
 * fdatasync on the log's descriptor after the last write and before the process dies.
 * Linux only, and only where strace exists (.ci/run installs it, and under CI its absence is a
 * failure), since nothing else can see which barrier the kernel was asked for.
 */

import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { logPath, tempDir } from "./support/temp.ts";

const dir = tempDir();
const strace = Bun.which("strace");

// Under CI a missing strace fails the test instead of skipping it: .ci/run installs it.
test.skipIf(process.platform !== "linux" || (strace === null && !process.env.CI))(
  "Wal.sync() issues fdatasync on the log after its writes (strace of a real process)",
  async () => {
    expect(strace, "strace is required on Linux under CI").not.toBeNull();
    const path = logPath(dir);
    const traceFile = join(dir, "strace.out");
    const child = Bun.spawn(
      [
        strace!,
        "-f",
        "-e",
        "trace=openat,flock,pwrite64,fdatasync,fsync,ftruncate",
        "-o",
        traceFile,
        process.execPath,
        join(import.meta.dir, "durability-fixture.ts"),
        path,
        "synced",
      ],
      { stdout: "pipe", stderr: "pipe" },
    );
    expect(await new Response(child.stdout).text()).toBe("SYNCED 0 13 21 41\n");
    await child.exited;

    const calls = readFileSync(traceFile, "utf8")
      .split("\n")
      .map((line) => line.replace(/^\d+\s+/, ""));
    const opened = calls.find((line) => line.startsWith(`openat(AT_FDCWD, "${path}"`));
    expect(opened).toContain("O_CREAT|O_EXCL");
    const fd = opened!.match(/= (\d+)$/)![1];

    // Keep only what touches the log, its directory, or a barrier, in order.
    const dirOpen = `openat(AT_FDCWD, "${dirname(path)}", O_RDONLY`;
    const dirFds = new Set<string>();
    const shape: string[] = [];
    for (const line of calls) {
      const result = line.match(/= (-?\d+)/)?.[1];
      if (line.startsWith(dirOpen)) {
        dirFds.add(result!);
        shape.push("open dir");
      } else if (line.startsWith(`flock(${fd},`)) {
        shape.push(
          `flock log ${line.includes("LOCK_EX|LOCK_NB") ? "LOCK_EX|LOCK_NB" : line} = ${result}`,
        );
      } else if (line.startsWith(`pwrite64(${fd},`)) {
        shape.push(`pwrite log at ${line.match(/, (\d+)\) = \d+$/)![1]}`);
      } else if (line.startsWith("fdatasync(") || line.startsWith("fsync(")) {
        const target = line.match(/^\w+\((\d+)\)/)![1]!;
        const name = target === fd ? "log" : dirFds.has(target) ? "dir" : `fd ${target}`;
        shape.push(`${line.slice(0, line.indexOf("("))} ${name} = ${result}`);
      }
    }
    expect(shape).toEqual([
      "flock log LOCK_EX|LOCK_NB = 0",
      "open dir",
      "fdatasync dir = 0",
      "fdatasync log = 0", // open: recovery's barrier
      "pwrite log at 0",
      "pwrite log at 13",
      "pwrite log at 21",
      "pwrite log at 41",
      "fdatasync log = 0", // sync(), after every write it covers
    ]);
  },
);
