/**
 * The archive tests' S3 harness (test/support/s3.ts), checked before anything is built on it:
 * Bun's `S3Client` stores, lists, reads and deletes objects on the s3rver the tests start on
 * 127.0.0.1, path-style, and the fault proxy in front of it fails, truncates, drops and stalls
 * requests the way the archive's fault tests need. It also pins what Bun's client does with a
 * body cut short (nothing: the reader must check) and a dropped connection (it retries).
 */

import { expect, test } from "bun:test";
import { useLocalS3 } from "./support/s3.ts";

const server = useLocalS3();

const bytes = (length: number, seed: number) =>
  Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);

test("S3Client stores, lists, reads back byte-exact and deletes objects on the local server", async () => {
  const client = server.s3.client();
  const object = bytes(1 << 20, 7);
  await client.write("log/00000000000000000000.wal", object);
  await client.write("log/00000000000000000001.wal", bytes(10, 1));
  const back = new Uint8Array(await client.file("log/00000000000000000000.wal").arrayBuffer());
  expect(back).toEqual(object);
  const listed = await client.list({ prefix: "log/" });
  expect(listed.contents?.map((entry) => [entry.key, entry.size])).toEqual([
    ["log/00000000000000000000.wal", 1 << 20],
    ["log/00000000000000000001.wal", 10],
  ]);
  await client.delete("log/00000000000000000001.wal");
  expect(await client.exists("log/00000000000000000001.wal")).toBe(false);
  expect(await client.exists("log/00000000000000000000.wal")).toBe(true);
});

test("through the proxy, a request passes unchanged", async () => {
  const client = server.s3.client(server.proxy.endpoint);
  await client.write("proxy/a", bytes(5000, 3));
  expect(new Uint8Array(await client.file("proxy/a").arrayBuffer())).toEqual(bytes(5000, 3));
});

test("an injected 500 fails the one request it hits, and the next one passes", async () => {
  const client = server.s3.client(server.proxy.endpoint);
  server.proxy.inject({ kind: "status", status: 500 });
  await expect(client.write("proxy/b", bytes(100, 1))).rejects.toThrow();
  expect(await server.s3.client().exists("proxy/b")).toBe(false);
  await client.write("proxy/b", bytes(100, 1));
  expect(await server.s3.client().exists("proxy/b")).toBe(true);
});

// Two facts the archive's restore is built on. Bun's S3Client does not check a body against its
// Content-Length: a body cut short reads as a short object, without an error, so a restore must
// check each object's length and CRC itself. A connection broken mid-body it retries on its own.
test("a body cut short reads as a short object, with no error: the reader must check the length", async () => {
  const whole = bytes(64 * 1024, 9);
  await server.s3.client().write("proxy/c", whole);
  server.proxy.inject({ kind: "truncate", bytes: 1000 });
  const read = await server.s3.client(server.proxy.endpoint).file("proxy/c").arrayBuffer();
  expect(read.byteLength).toBe(1000);
});

test("a connection dropped mid-body is retried by the client, which then reads the whole object", async () => {
  const whole = bytes(64 * 1024, 5);
  await server.s3.client().write("proxy/e", whole);
  const before = server.proxy.requests.GET ?? 0;
  server.proxy.inject({ kind: "drop", bytes: 1000 });
  const read = new Uint8Array(
    await server.s3.client(server.proxy.endpoint).file("proxy/e").arrayBuffer(),
  );
  expect(read).toEqual(whole);
  expect((server.proxy.requests.GET ?? 0) - before).toBeGreaterThanOrEqual(2);
});

test("a stalled request waits until it is released", async () => {
  const client = server.s3.client(server.proxy.endpoint);
  server.proxy.inject({ kind: "stall" });
  let done = false;
  const write = client.write("proxy/d", bytes(10, 2)).then(() => {
    done = true;
  });
  await Bun.sleep(200);
  expect(done).toBe(false);
  server.proxy.release();
  await write;
  expect(done).toBe(true);
});
