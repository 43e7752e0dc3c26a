/**
 * Durable calls off the event loop on Windows: concurrent `commit` callers share barriers run by
 * the sync thread (a Worker, with its own FlushFileBuffers), and a Worker attached to the log
 * (a single file, or segments it rolls with the main thread) appends into the same LSN space. Reopened, the log holds every record. Run under Wine by run.ts.
 */

import { expect, test } from "bun:test";
import { Wal } from "../../src/index.ts";
import { logPath, tempDir } from "../support/temp.ts";

const dir = tempDir();
const text = (data: Uint8Array) => new TextDecoder().decode(data);

test.each([
  ["a single-file log", undefined],
  ["a segmented log", 4096],
])("%s: concurrent commits share barriers and all survive a reopen", async (_, segmentSize) => {
  const path = logPath(dir);
  const options = segmentSize === undefined ? {} : { segmentSize };
  const wal = Wal.open(path, options);
  const payloads = Array.from({ length: 200 }, (_, i) => `commit ${i}`);
  const lsns = await Promise.all(payloads.map((payload) => wal.commit(payload)));
  const { barriers } = wal.stats();
  expect(barriers).toBeGreaterThan(0);
  expect(barriers).toBeLessThan(payloads.length); // group commit: far fewer barriers than calls
  await wal.close();
  const again = Wal.open(path, options);
  const found = new Map([...again.iter()].map(({ lsn, data }) => [lsn, text(data)]));
  again.close();
  expect(lsns.map((lsn) => found.get(lsn))).toEqual(payloads);
});

// On 4 KiB segments the two threads roll the log into new segments between them (the segment
// table's descriptors are numbers valid in every thread, on Windows too).
test.each([
  ["a single-file log", undefined],
  ["a segmented log", 4096],
])(
  "%s: a Worker attached to the log appends with the main thread into one LSN space",
  async (_, segmentSize) => {
    const path = logPath(dir);
    const options = segmentSize === undefined ? {} : { segmentSize };
    const wal = Wal.open(path, options);
    const worker = new Worker(new URL("./appender-worker.ts", import.meta.url).href);
    const fromWorker = new Promise<number[]>((resolve, reject) => {
      worker.onmessage = (event: MessageEvent<number[]>) => resolve(event.data);
      worker.onerror = (event) => reject(new Error(event.message));
    });
    worker.postMessage({ handle: wal.share(), count: 50 });
    const padded = (text: string) => text.padEnd(100, ".");
    const fromMain: number[] = [];
    for (let i = 0; i < 50; i++) fromMain.push(await wal.commit(padded(`main ${i}`)));
    const workerLsns = await fromWorker;
    worker.terminate();
    if (segmentSize !== undefined) expect(wal.stats().segmentsCreated).toBeGreaterThan(2);
    await wal.close();
    const again = Wal.open(path, options);
    const found = new Map([...again.iter()].map(({ lsn, data }) => [lsn, text(data)]));
    again.close();
    expect(found.size).toBe(100);
    expect(workerLsns.map((lsn) => found.get(lsn))).toEqual(
      workerLsns.map((_, i) => padded(`worker ${i}`)),
    );
    expect(fromMain.map((lsn) => found.get(lsn))).toEqual(
      fromMain.map((_, i) => padded(`main ${i}`)),
    );
  },
);
