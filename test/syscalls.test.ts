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

const available = process.platform === "linux" && (strace !== null || !!process.env.CI);

/** One traced call: the thread that made it, and the call as strace prints it. */
interface Call {
  readonly thread: string;
  readonly text: string;
}

/**
 * Runs `test/<fixture>` with `args` under strace; returns its stdout and its calls, in order.
 * With `paths`, each descriptor is printed with the path it is open on (`9</dir/x.wal>`).
 */
async function traced(
  fixture: string,
  args: string[],
  paths = false,
): Promise<{ stdout: string; calls: Call[] }> {
  // Under CI a missing strace fails the test instead of skipping it: .ci/run installs it.
  expect(strace, "strace is required on Linux under CI").not.toBeNull();
  const traceFile = join(dir, `strace-${fixture}-${paths}.out`);
  const child = Bun.spawn(
    [
      strace!,
      "-f",
      ...(paths ? ["-y"] : []),
      "-e",
      "trace=openat,flock,pwrite64,fdatasync,fsync,ftruncate,close",
      "-o",
      traceFile,
      process.execPath,
      join(import.meta.dir, fixture),
      ...args,
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  const stdout = await new Response(child.stdout).text();
  await child.exited;
  const lines = readFileSync(traceFile, "utf8")
    .split("\n")
    .map((line) => line.match(/^(\d+)\s+(.*)$/))
    .filter((match) => match !== null)
    .map((match) => ({ thread: match[1]!, text: match[2]! }));
  return { stdout, calls: joinInterrupted(lines) };
}

/**
 * strace splits a call that another thread's call interrupts into `pwrite64(5, ... <unfinished
 * ...>` and, later, `<... pwrite64 resumed>) = 27`: each such pair becomes one call, at the
 * place the call started.
 */
function joinInterrupted(lines: readonly Call[]): Call[] {
  const calls: Call[] = [];
  const unfinished = new Map<string, number>();
  for (const line of lines) {
    const resumed = line.text.match(/^<\.\.\. \w+ resumed>(.*)$/);
    const started = unfinished.get(line.thread);
    if (resumed !== null && started !== undefined) {
      // strace pads the resumed part (`)     = 27`): as one line it reads `) = 27`.
      const rest = resumed[1]!.replace(/^\)\s+=/, ") =");
      calls[started] = { thread: line.thread, text: calls[started]!.text + rest };
      unfinished.delete(line.thread);
    } else if (line.text.endsWith(" <unfinished ...>")) {
      unfinished.set(line.thread, calls.length);
      calls.push({ thread: line.thread, text: line.text.slice(0, -" <unfinished ...>".length) });
    } else {
      calls.push(line);
    }
  }
  return calls;
}

/** The descriptor the fixture's log was opened on, and the thread that opened it. */
function logOpen(calls: Call[], path: string): { fd: string; thread: string } {
  const opened = calls.find((call) => call.text.startsWith(`openat(AT_FDCWD, "${path}"`));
  expect(opened?.text).toContain("O_CREAT|O_EXCL");
  return { fd: opened!.text.match(/= (\d+)$/)![1]!, thread: opened!.thread };
}

test.skipIf(!available)(
  "Wal.sync() issues fdatasync on the log after its writes (strace of a real process)",
  async () => {
    const path = logPath(dir);
    const { stdout, calls: traceCalls } = await traced("durability-fixture.ts", [path, "synced"]);
    expect(stdout).toBe("SYNCED 0 13 21 41\n");
    const calls = traceCalls.map((call) => call.text);
    const { fd } = logOpen(traceCalls, path);
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
      "pwrite log at 13", // the first append fills zeros past its record, before writing it
      "pwrite log at 0",
      "pwrite log at 13",
      "pwrite log at 21",
      "pwrite log at 41",
      "fdatasync log = 0", // sync(), after every write it covers
    ]);
  },
);

test.skipIf(!available)(
  "Wal.commit() runs its fdatasync on another thread than the caller's (strace of a real process)",
  async () => {
    const path = logPath(dir);
    const { stdout, calls } = await traced("commit-fixture.ts", [path]);
    expect(stdout).toBe("COMMITTED 0 13 29\n");
    const { fd, thread: main } = logOpen(calls, path);
    const writes = calls.filter((call) => call.text.startsWith(`pwrite64(${fd},`));
    // The zero fill past the first record, the first record, then the two commits made
    // together as one write of both frames (16 + 11 bytes at 13).
    expect(writes.map((call) => call.thread)).toEqual([main, main, main]);
    expect(writes[0]!.text).toMatch(/, 13\) = \d+$/);
    expect(writes[1]!.text).toMatch(/, 13, 0\) = 13$/);
    expect(writes[2]!.text).toMatch(/, 27, 13\) = 27$/);
    const lastWrite = calls.indexOf(writes[2]!);
    // After the writes: the commits' barriers, on the log, none of them on the main thread.
    const barriers = calls
      .slice(calls.indexOf(writes[0]!))
      .filter((call) => call.text.startsWith(`fdatasync(${fd})`));
    expect(barriers.length).toBe(2);
    expect(calls.indexOf(barriers[1]!)).toBeGreaterThan(lastWrite);
    for (const barrier of barriers) {
      expect(barrier.text).toEndWith("= 0");
      expect(barrier.thread).not.toBe(main);
    }
  },
);

test.skipIf(!available)(
  "Wal.commit() on a segmented log: the other thread's fdatasync is on the segment, after its writes",
  async () => {
    const path = logPath(dir, "segments");
    const { stdout, calls } = await traced("commit-fixture.ts", [path, "65536"], true);
    expect(stdout).toBe("COMMITTED 0 13 29\n");
    // Descriptors print with their paths, so the writer's and the sync thread's own
    // descriptors on segment 0 (it opens segments by name) are both recognised.
    const onSegment = `<${join(path, "00000000000000000000.wal")}>`;
    const writes = calls.filter(
      (c) => c.text.startsWith("pwrite64(") && c.text.includes(onSegment),
    );
    expect(writes.length).toBe(2); // "alone", then "together" and "too" as one write
    const main = writes[0]!.thread;
    const lastWrite = calls.indexOf(writes.at(-1)!);
    const barriers = calls.filter(
      (c) => c.text.startsWith("fdatasync(") && c.text.includes(onSegment),
    );
    const after = barriers.filter((c) => calls.indexOf(c) > lastWrite);
    expect(after.length).toBeGreaterThanOrEqual(1);
    for (const barrier of after) expect(barrier.thread).not.toBe(main);
  },
);

test.skipIf(!available)(
  "Wal.commit() after truncateAfter deleted the newest segment: the other thread's fdatasync is on the kept segment, through a descriptor opened before the write",
  async () => {
    const path = logPath(dir, "segments");
    const { stdout, calls } = await traced("commit-fixture.ts", [path, "4096", "cut"], true);
    expect(stdout).toBe("CUT 0 3008 3008\n");
    const segment0 = join(path, "00000000000000000000.wal");
    // The commit after the cut: the last write, into segment 0, on the main thread.
    const writes = calls.filter(
      (c) => c.text.startsWith("pwrite64(") && c.text.includes(`<${segment0}>`),
    );
    const lastWrite = writes.at(-1)!;
    const main = lastWrite.thread;
    const after = calls.slice(calls.indexOf(lastWrite) + 1);
    // DESIGN rule 7: a barrier on segment 0 in the sync thread, on a descriptor opened before
    // that write and not closed since; none on the deleted segment 1 would do.
    const barrier = after.find(
      (c) => c.text.startsWith("fdatasync(") && c.text.includes(`<${segment0}>`),
    );
    expect(barrier, "a barrier on segment 0 after the last write").toBeDefined();
    expect(barrier!.thread).not.toBe(main);
    const fd = barrier!.text.match(/^fdatasync\((\d+)</)![1]!;
    const before = calls.slice(0, calls.indexOf(lastWrite));
    const opened = before.findLastIndex(
      (c) =>
        c.text.startsWith("openat(") &&
        c.text.includes(`"${segment0}"`) &&
        c.text.endsWith(`= ${fd}<${segment0}>`),
    );
    expect(opened, `descriptor ${fd} opened on segment 0 before the write`).toBeGreaterThanOrEqual(
      0,
    );
    const closed = calls
      .slice(opened + 1, calls.indexOf(barrier!))
      .some((c) => c.text.startsWith(`close(${fd}<`) || c.text.startsWith(`close(${fd})`));
    expect(closed, `descriptor ${fd} closed between its open and the barrier`).toBe(false);
  },
);
