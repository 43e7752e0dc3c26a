/**
 * Checkpoints: replay only what the last checkpoint does not cover, then drop the rest.
 *
 *   bun examples/checkpoint.ts
 *
 * A tiny key-value engine logs every `set` to a segmented log before applying it. Now and then
 * it writes a checkpoint: its whole state and the LSN up to which that state is complete. On a
 * restart it loads the checkpoint and replays the log from that LSN with `iterFrom`, then calls
 * `truncateBefore` so the log stops growing: the segments the checkpoint made obsolete go.
 */

import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wal } from "wal-db";

const SEGMENT_SIZE = 4096;

/** What a checkpoint holds: the state, and the first LSN it does not include. */
interface Checkpoint {
  readonly state: Record<string, string>;
  readonly nextLsn: number;
}

class Engine {
  state: Record<string, string> = {};

  constructor(
    private readonly wal: Wal,
    private readonly checkpointPath: string,
  ) {}

  /** Logs the change durably, then applies it: the write-ahead rule. */
  set(key: string, value: string): void {
    this.wal.appendAndSync(JSON.stringify({ key, value }));
    this.state[key] = value;
  }

  /** Saves the state with the LSN it is complete up to (temp file + rename: all or nothing). */
  checkpoint(): number {
    const nextLsn = this.wal.len;
    const checkpoint: Checkpoint = { state: this.state, nextLsn };
    writeFileSync(`${this.checkpointPath}.tmp`, JSON.stringify(checkpoint));
    renameSync(`${this.checkpointPath}.tmp`, this.checkpointPath);
    return nextLsn;
  }

  /** Loads the checkpoint, replays the log after it, and drops the log before it. */
  recover(): { replayed: number; head: number } {
    const { state, nextLsn }: Checkpoint = JSON.parse(readFileSync(this.checkpointPath, "utf8"));
    this.state = state;
    let replayed = 0;
    for (const { data } of this.wal.iterFrom(nextLsn)) {
      const { key, value } = JSON.parse(new TextDecoder().decode(data));
      this.state[key] = value;
      replayed++;
    }
    // Only now is the prefix obsolete: the checkpoint is on disk and covers it.
    const head = this.wal.truncateBefore(nextLsn);
    return { replayed, head };
  }
}

const dir = mkdtempSync(join(tmpdir(), "wal-db-checkpoint-"));
try {
  const logDir = join(dir, "log");
  const checkpointPath = join(dir, "checkpoint.json");
  const segments = () => readdirSync(logDir).filter((name) => name.endsWith(".wal")).length;

  {
    using wal = Wal.open(logDir, { segmentSize: SEGMENT_SIZE });
    const engine = new Engine(wal, checkpointPath);
    for (let i = 0; i < 300; i++) engine.set(`user${i % 50}`, `balance ${i}`);
    const at = engine.checkpoint();
    for (let i = 300; i < 320; i++) engine.set(`user${i % 50}`, `balance ${i}`);
    console.log(`wrote 320 changes; checkpoint at LSN ${at}; segment files: ${segments()}`);
  } // closed, as a crash would leave it: the last 20 changes live only in the log

  using wal = Wal.open(logDir, { segmentSize: SEGMENT_SIZE });
  const engine = new Engine(wal, checkpointPath);
  const { replayed, head } = engine.recover();
  console.log(`restart: loaded the checkpoint, replayed ${replayed} changes after it`);
  console.log(
    `truncateBefore(${head}): the log starts at ${wal.head}; segment files: ${segments()}`,
  );
  console.log(`user19 = ${engine.state.user19}; user20 = ${engine.state.user20}`);

  if (replayed !== 20) throw new Error(`expected 20 changes after the checkpoint, got ${replayed}`);
  if (engine.state.user19 !== "balance 319" || engine.state.user20 !== "balance 270") {
    throw new Error("the recovered state differs from what was written");
  }
  if (wal.head !== head || [...wal.iter()].length !== 20) {
    throw new Error("the log should hold exactly the 20 changes after the checkpoint");
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
