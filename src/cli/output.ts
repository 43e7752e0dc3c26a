/**
 * @module
 * Writing to stdout in large chunks. A dump of a big log is millions of lines: one write per
 * line would cost a syscall each. The writes block while the reader is behind (`| less`), so
 * memory stays at one chunk however large the log: `process.stdout.write` would queue the
 * whole output instead. When the reader goes away (`wal-db dump log | head`), the rest of the
 * output is dropped quietly, as a Unix filter does.
 */

import { writeSync } from "node:fs";

/** Bytes gathered before a write: large enough that the write's cost vanishes per line. */
const FLUSH_SIZE = 64 * 1024;

/** How long to wait before writing again when stdout is non-blocking and full. */
const FULL_PIPE_WAIT_MS = 1;
const STDOUT = 1;
const encoder = new TextEncoder();
const sleeper = new Int32Array(new SharedArrayBuffer(4));

let pipeClosed = false;

/** Writes all of `bytes` to stdout, waiting while the reader is behind. */
function writeAll(bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length && !pipeClosed; ) {
    try {
      done += writeSync(STDOUT, bytes, done, bytes.length - done);
    } catch (error) {
      const code = (error as { code?: string }).code;
      // EPIPE: the reader closed the pipe. EAGAIN: a non-blocking pipe is full; wait.
      if (code === "EPIPE") pipeClosed = true;
      else if (code === "EAGAIN") Atomics.wait(sleeper, 0, 0, FULL_PIPE_WAIT_MS);
      else throw error;
    }
  }
}

/** Lines for stdout, written in chunks; call `flush` before the command returns. */
export class Output {
  private pending: string[] = [];
  private pendingSize = 0;

  /** Queues `line` and a newline. */
  line(line: string): void {
    this.pending.push(line, "\n");
    this.pendingSize += line.length + 1;
    if (this.pendingSize >= FLUSH_SIZE) this.flush();
  }

  /** Writes everything queued. Once the reader has closed the pipe, drops it instead. */
  flush(): void {
    if (this.pending.length === 0) return;
    const text = this.pending.join("");
    this.pending = [];
    this.pendingSize = 0;
    writeAll(encoder.encode(text));
  }

  /** True once the reader of stdout went away: a command may stop early. */
  get closed(): boolean {
    return pipeClosed;
  }
}
