/**
 * One recovery, alone in its process, so its peak memory is its own: bench/segments.ts spawns
 * this once per round of its recovery row, for the segmented log and for the single-file
 * baseline alike.
 *
 *   bun bench/segments-recover.ts <path> [segmentSize]
 *
 * Prints `ready` once loaded, waits for a line on stdin (the parent starts its timer and sends
 * it), then opens the log (`Wal.open` scans every record and checks every CRC), closes it and
 * prints one line of JSON: `{ records, ms, peakRssBytes, rssBeforeBytes }`. `ms` is the open
 * alone; `peakRssBytes` is the process's high-water mark (VmHWM from /proc/self/status on
 * Linux; elsewhere the resident size after the open, a lower bound); `rssBeforeBytes` is the
 * resident size before the open, the runtime's own share of that peak.
 */

import { readFileSync } from "node:fs";
import { Wal } from "../src/index.ts";

const [path, segmentArgument] = process.argv.slice(2);
if (path === undefined)
  throw new Error("usage: bun bench/segments-recover.ts <path> [segmentSize]");
const segmentSize = segmentArgument === undefined ? undefined : Number(segmentArgument);

/** A field of /proc/self/status in bytes (`VmHWM`, `VmRSS`), or null off Linux. */
function procStatus(field: string): number | null {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(
      readFileSync("/proc/self/status", "utf8"),
    );
    return match === null ? null : Number(match[1]) * 1024;
  } catch {
    return null;
  }
}

const rssBeforeBytes = procStatus("VmRSS") ?? process.memoryUsage().rss;
console.log("ready");
for await (const _ of console) break;

const start = Bun.nanoseconds();
const wal = Wal.open(path, segmentSize === undefined ? {} : { segmentSize });
const ms = (Bun.nanoseconds() - start) / 1e6;
const records = wal.recovery.records;
wal.close();
const peakRssBytes = procStatus("VmHWM") ?? process.memoryUsage().rss;
console.log(JSON.stringify({ records, ms, peakRssBytes, rssBeforeBytes }));
