/**
 * The per-record rows of bench/compare.ts, in a process of their own so that `WAL_DB_CRC=ts`
 * (which forces src/crc32c.ts's TypeScript fallback at load) can be set for one run of them:
 * `bun bench/compare/micro.ts '<MicroRequest as JSON>'` prints one `MicroResult` line.
 *
 *   append  `Wal.append` of `appends` records from the pool to a fresh log, against a raw
 *           positioned `writeSync` of the same 264 framed bytes (wal-db's frames of the same
 *           payloads, framed before the timer), in alternating rounds (bench/harness.ts sides)
 *   crc     `crc32c` over the pool's bytes in 1 MiB blocks, and over each 264-byte frame of
 *           the framed pool in turn (the 260 bytes its CRC covers, as append and the scan
 *           check them), each against `Bun.hash.crc32` (native zlib CRC-32) over the same
 *           bytes, in alternating rounds
 */

import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import * as crc from "../../src/crc32c.ts";
import { Wal } from "../../src/index.ts";
import { HEADER_SIZE, LENGTH_OFFSET, sealFrame } from "../../src/record.ts";
import {
  appendSide,
  framePool,
  payloadPool,
  poolBytes,
  type Side,
  timeRotating,
  writeSide,
} from "../harness.ts";
import type { MicroRequest, MicroResult } from "./protocol.ts";

const MIB = 1 << 20;
const request = JSON.parse(process.argv[2] ?? "") as MicroRequest;
const pool = payloadPool(request.pool.payloads, request.pool.seed);
const frameSize = HEADER_SIZE + pool[0]!.length;
const frames = framePool(pool, HEADER_SIZE, sealFrame);
const dir = mkdtempSync(join(request.dir, "micro-"));
let fileCounter = 0;
const freshPath = () => join(dir, `f${++fileCounter}`);

const [appendNs, rawWriteNs] = await timeRotating(
  [
    appendSide({
      name: "Wal.append",
      count: request.appends,
      durable: false,
      pool,
      freshPath,
      open: (path) => Wal.open(path),
    }),
    writeSide({
      name: "writeSync",
      count: request.appends,
      durable: false,
      frames,
      frameSize,
      freshPath,
    }),
  ],
  request.appends,
  request.rounds,
);
rmSync(dir, { recursive: true, force: true });

/** A side whose work is `run`, with nothing to prepare. */
const side = (name: string, run: () => number): Side => ({ name, prepare: () => run });

const bytes = poolBytes(pool);
const poolBlocks = bytes.length / MIB;
const blockViews = Array.from({ length: poolBlocks }, (_, b) =>
  bytes.subarray(b * MIB, (b + 1) * MIB),
);
const blocks = request.crcBytes / MIB;
const [crcBlockNs, crc32BlockNs] = await timeRotating(
  [
    side("crc32c", () => {
      let c = 0;
      for (let b = 0; b < blocks; b++) {
        const at = (b % poolBlocks) * MIB;
        c ^= crc.crc32c(bytes, at, at + MIB);
      }
      return c;
    }),
    side("Bun.hash.crc32", () => {
      let c = 0;
      for (let b = 0; b < blocks; b++) c ^= Bun.hash.crc32(blockViews[b % poolBlocks]!);
      return c;
    }),
  ],
  blocks,
  request.rounds,
);

const frameMask = pool.length - 1;
const [crcRecordNs, crc32RecordNs] = await timeRotating(
  [
    side("crc32c", () => {
      let c = 0;
      for (let k = 0; k < request.crcRecords; k++) {
        const at = (k & frameMask) * frameSize;
        c ^= crc.crc32c(frames, at + LENGTH_OFFSET, at + frameSize);
      }
      return c;
    }),
    side("Bun.hash.crc32", () => {
      let c = 0;
      for (let k = 0; k < request.crcRecords; k++) {
        const at = (k & frameMask) * frameSize;
        c ^= Bun.hash.crc32(frames.subarray(at + LENGTH_OFFSET, at + frameSize));
      }
      return c;
    }),
  ],
  request.crcRecords,
  request.rounds,
);

// Until src/crc32c.ts names its implementation, the one it has is the TypeScript one.
const named = (crc as Record<string, unknown>).crc32cImplementation;
const result: MicroResult = {
  crc32cImplementation: typeof named === "string" ? named : "typescript",
  appendNs: appendNs!,
  rawWriteNs: rawWriteNs!,
  crcBlockNs: crcBlockNs!,
  crc32BlockNs: crc32BlockNs!,
  crcRecordNs: crcRecordNs!,
  crc32RecordNs: crc32RecordNs!,
};
console.log(JSON.stringify(result));
