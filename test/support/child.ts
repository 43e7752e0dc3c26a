/**
 * Child processes for cross-process tests: started with the same Bun binary, stdout read line
 * by line so a test can wait for the child to reach a point (never sleep for it).
 */

import { join } from "node:path";
import { type Subprocess, spawn } from "bun";

/** A running fixture process and the lines it has printed so far. */
export interface Fixture {
  readonly process: Subprocess<"ignore", "pipe", "pipe">;
  /** Resolves with the first stdout line starting with `prefix` (waiting for it if needed). */
  line(prefix: string): Promise<string>;
  /** Resolves when the process has exited, with its exit code, signal and whole output. */
  exited(): Promise<{
    code: number | null;
    signal: string | null;
    stdout: string[];
    stderr: string;
  }>;
}

/** Starts `test/<file>` under this Bun with `args`. */
export function startFixture(file: string, args: string[]): Fixture {
  const child = spawn([process.execPath, join(import.meta.dir, "..", file), ...args], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const lines: string[] = [];
  const waiters: { prefix: string; resolve: (line: string) => void }[] = [];
  const stdoutDone = (async () => {
    let pending = "";
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout) {
      pending += decoder.decode(chunk, { stream: true });
      let newline = pending.indexOf("\n");
      while (newline >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        lines.push(line);
        for (const waiter of waiters.filter((w) => line.startsWith(w.prefix))) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
        newline = pending.indexOf("\n");
      }
    }
  })();
  const stderr = new Response(child.stderr).text();
  return {
    process: child,
    line(prefix) {
      const seen = lines.find((line) => line.startsWith(prefix));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ prefix, resolve });
        // A child that exits without printing the line fails the wait instead of hanging it.
        stdoutDone.then(async () => {
          if (waiters.some((w) => w.resolve === resolve)) {
            reject(
              new Error(`fixture ${file} exited without printing "${prefix}": ${await stderr}`),
            );
          }
        });
      });
    },
    async exited() {
      await child.exited;
      await stdoutDone;
      return {
        code: child.exitCode,
        signal: child.signalCode === null ? null : String(child.signalCode),
        stdout: lines,
        stderr: await stderr,
      };
    },
  };
}

/**
 * Runs the script at `path` with `args` under this Bun to its end, with `env` added to the
 * environment and no stdin, and returns its exit code and whole output.
 */
export async function runScript(
  path: string,
  env: Record<string, string>,
  args: readonly string[] = [],
): Promise<{ stdout: string; stderr: string; code: number }> {
  const child = spawn([process.execPath, path, ...args], {
    env: { ...process.env, ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { stdout, stderr, code };
}
