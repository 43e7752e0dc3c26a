/**
 * @module
 * Writing to stdout in large chunks. A dump of a big log is millions of lines: one write per
 * line would cost a syscall each. When the reader goes away (`wal-db dump log | head`), the
 * rest of the output is dropped quietly, as a Unix filter does.
 */

/** Bytes gathered before a write: large enough that the write's cost vanishes per line. */
const FLUSH_SIZE = 64 * 1024;

let pipeClosed = false;
process.stdout.on("error", (error: { code?: string }) => {
  // EPIPE: the reader closed the pipe. Anything else is a real failure to report.
  if (error.code === "EPIPE") pipeClosed = true;
  else throw error;
});

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
    if (!pipeClosed) process.stdout.write(text);
  }

  /** True once the reader of stdout went away: a command may stop early. */
  get closed(): boolean {
    return pipeClosed;
  }
}
