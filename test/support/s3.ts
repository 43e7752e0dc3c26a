/**
 * @module
 * An S3-compatible server for the archive tests, started by the tests themselves on 127.0.0.1
 * (s3rver, a dev dependency, storing objects in a temp dir), and a fault proxy in front of it: a
 * `Bun.serve` that passes requests through, or fails, truncates, stalls or drops the next ones
 * on command. Bun's own `S3Client` talks to either, path-style.
 *
 * s3rver is patched (patches/s3rver@3.7.1.patch, applied by `bun install`) to list as S3 does
 * across pages: keys in order (it listed in the directory's order, so a page could skip keys),
 * and a continuation token made with AES instead of DES, which Bun's crypto lacks (every
 * listing of more than 1000 keys was an InternalError).
 */

import { afterAll, beforeAll } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import S3rver from "s3rver";

/** s3rver's fixed credentials: it checks the signature against them. */
export const CREDENTIALS = {
  accessKeyId: "S3RVER",
  secretAccessKey: "S3RVER",
  region: "us-east-1",
};

/** A running server with one bucket. */
export interface LocalS3 {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  readonly bucket: string;
  /** A client for `endpoint` (or another one: a proxy's). */
  client(endpoint?: string): Bun.S3Client;
  /** Stops the server and deletes what it stored. */
  close(): Promise<void>;
}

/** Starts s3rver on an ephemeral port of 127.0.0.1 with the bucket `bucket`. */
export async function startLocalS3(bucket = "wal"): Promise<LocalS3> {
  const directory = mkdtempSync(join(tmpdir(), "wal-db-s3-"));
  const server = new S3rver({
    port: 0,
    address: "127.0.0.1",
    silent: process.env.WAL_S3_LOG === undefined,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    bucket,
    client: (at = endpoint) => new Bun.S3Client({ endpoint: at, bucket, ...CREDENTIALS }),
    async close() {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** What the proxy does to the next request it sees. */
export type Fault =
  /** Answers with this HTTP status and an S3 error body, without asking the server. */
  | { readonly kind: "status"; readonly status: number }
  /** Passes the request on, then sends only the first `bytes` of the answer's body and ends. */
  | { readonly kind: "truncate"; readonly bytes: number }
  /** Passes the request on, then breaks the connection after `bytes` of the answer's body. */
  | { readonly kind: "drop"; readonly bytes: number }
  /** Holds the request until `release()` (or the client gives up). */
  | { readonly kind: "stall" }
  /** Passes the request on untouched: it lets a fault wait for the nth request. */
  | { readonly kind: "pass" };

/** A fault proxy in front of `target`. */
export interface FaultProxy {
  readonly endpoint: string;
  /** Applies `fault` to each of the next `count` requests (default 1), in order. */
  inject(fault: Fault, count?: number): void;
  /** Lets every stalled request through. */
  release(): void;
  /** How many requests reached the proxy, by method. */
  readonly requests: Readonly<Record<string, number>>;
  /** Resolves once no request is being handled: what a dead client had sent is settled. */
  idle(): Promise<void>;
  close(): void;
}

/** Starts a proxy on an ephemeral port of 127.0.0.1 that forwards to `target`. */
export function startFaultProxy(target: string): FaultProxy {
  const faults: Fault[] = [];
  const stalled: (() => void)[] = [];
  const requests: Record<string, number> = {};
  let handling = 0;
  const idle: (() => void)[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      requests[request.method] = (requests[request.method] ?? 0) + 1;
      handling++;
      try {
        return await answer(request);
      } finally {
        if (--handling === 0) for (const resolve of idle.splice(0)) resolve();
      }
    },
  });
  // The whole request body is read before it is forwarded, so the server behind sees a PUT
  // whole or not at all, as S3 does; s3rver alone lists a half-received object.
  async function answer(request: Request): Promise<Response> {
    const fault = faults.shift();
    if (fault?.kind === "status") {
      const body = `<?xml version="1.0"?><Error><Code>InternalError</Code><Message>injected</Message></Error>`;
      return new Response(body, {
        status: fault.status,
        headers: { "content-type": "application/xml" },
      });
    }
    if (fault?.kind === "stall") await new Promise<void>((resolve) => stalled.push(resolve));
    const url = new URL(request.url);
    const forwarded = await fetch(`${target}${url.pathname}${url.search}`, {
      method: request.method,
      headers: request.headers,
      body: request.body === null ? null : await request.arrayBuffer(),
      redirect: "manual",
    });
    if (fault?.kind !== "truncate" && fault?.kind !== "drop") return forwarded;
    const body = new Uint8Array(await forwarded.arrayBuffer());
    const cut = body.subarray(0, Math.min(fault.bytes, body.length));
    const headers = new Headers(forwarded.headers);
    // The client is told the whole length, and gets less: a body cut short on the wire.
    // (An empty answer, a PUT's, is told one byte: with none promised, nothing is cut.)
    headers.set("content-length", String(Math.max(body.length, 1)));
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        // Nothing enqueued before the error: the connection drops before the answer's head.
        if (cut.length > 0) controller.enqueue(cut);
        if (fault.kind === "drop") controller.error(new Error("connection dropped by the proxy"));
        else controller.close();
      },
    });
    return new Response(stream, { status: forwarded.status, headers });
  }
  return {
    endpoint: `http://127.0.0.1:${server.port}`,
    inject(fault, count = 1) {
      for (let i = 0; i < count; i++) faults.push(fault);
    },
    release() {
      for (const resolve of stalled.splice(0)) resolve();
    },
    requests,
    idle: () =>
      handling === 0 ? Promise.resolve() : new Promise<void>((resolve) => idle.push(resolve)),
    close() {
      this.release();
      server.stop(true);
    },
  };
}

/**
 * A server and a fault proxy in front of it for the tests of one file: started before its
 * first test, stopped after its last. Read `s3` and `proxy` inside tests only.
 */
export function useLocalS3(): { readonly s3: LocalS3; readonly proxy: FaultProxy } {
  const started: { s3?: LocalS3; proxy?: FaultProxy } = {};
  beforeAll(async () => {
    started.s3 = await startLocalS3();
    started.proxy = startFaultProxy(started.s3.endpoint);
  });
  afterAll(async () => {
    started.proxy?.close();
    await started.s3?.close();
  });
  return {
    get s3() {
      return started.s3!;
    },
    get proxy() {
      return started.proxy!;
    },
  };
}
