#!/usr/bin/env bun
/**
 * @module
 * The writer `wal-db torture` starts and kills: opens the log, prints `READY`, then appends
 * the records of torture-records.ts with `appendAndSync` forever, printing one ACK line per
 * record straight to stdout (a blocking write, no buffer that a SIGKILL could lose silently)
 * only after the durable call returned. It never stops on its own.
 *
 *   bun torture-writer.ts <log path> <seed> <cycle> <segment size, 0 for a single file>
 */

import { writeSync } from "node:fs";
import { Wal } from "../index.ts";
import { formatAck, payloadHash, READY_LINE, torturePayload } from "./torture-records.ts";

const [path, seedText, cycleText, segmentSizeText] = process.argv.slice(2);
if (path === undefined || segmentSizeText === undefined) {
  process.stderr.write("usage: torture-writer.ts <log path> <seed> <cycle> <segment size>\n");
  process.exit(2);
}
const seed = Number(seedText);
const cycle = Number(cycleText);
const segmentSize = Number(segmentSizeText);

const wal = Wal.open(path, segmentSize > 0 ? { segmentSize } : {});
writeSync(1, `${READY_LINE}\n`);
for (let seq = 0; ; seq++) {
  const payload = torturePayload(seed, cycle, seq);
  const lsn = wal.appendAndSync(payload);
  writeSync(1, `${formatAck({ seq, lsn, length: payload.length, hash: payloadHash(payload) })}\n`);
}
