/**
 * The archive's bucket (src/archive/bucket.ts) against the s3rver the tests start on 127.0.0.1,
 * and the fault proxy in front of it: `s3://bucket/prefix` URLs, listing across pages, byte-exact
 * round trips, and every failure an `ARCHIVE` error that names the object and no credential: a
 * 500, a body cut short (which Bun's client reports as a short object), a stalled server (the
 * request timeout).
 */

import { describe, expect, test } from "bun:test";
import { openBucket, parseArchiveUrl } from "../src/archive/bucket.ts";
import { walErrorOf, walRejectionOf } from "./support/errors.ts";
import { CREDENTIALS as credentials, useLocalS3 } from "./support/s3.ts";

const server = useLocalS3();

const bytes = (length: number, seed: number) =>
  Uint8Array.from({ length }, (_, i) => (i * 17 + seed) & 0xff);

describe("URLs", () => {
  test("s3://bucket/prefix splits; an empty bucket comes from S3_BUCKET or AWS_BUCKET", () => {
    expect(parseArchiveUrl("s3://b/logs/a/")).toEqual({ bucket: "b", prefix: "logs/a" });
    expect(parseArchiveUrl("s3://b")).toEqual({ bucket: "b", prefix: "" });
    expect(parseArchiveUrl("s3:///p", { AWS_BUCKET: "env" })).toEqual({
      bucket: "env",
      prefix: "p",
    });
  });

  test("anything else is INVALID_ARGUMENT", () => {
    for (const url of ["b/p", "http://b/p", "s3:///p", "s3://b/../x", 7]) {
      expect(walErrorOf(() => parseArchiveUrl(url, {})).code).toBe("INVALID_ARGUMENT");
    }
  });
});

describe("requests", () => {
  test("put, list (keys under the prefix), get byte-exact, delete", async () => {
    const bucket = openBucket(`s3://${server.s3.bucket}/round/trip`, {
      endpoint: server.s3.endpoint,
      ...credentials,
    });
    expect(bucket.url).toBe(`s3://${server.s3.bucket}/round/trip`);
    const object = bytes(70_000, 3);
    await bucket.put("segments/a.wal", object);
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        bucket.put(`head/${String(i).padStart(5, "0")}`, new Uint8Array(0)),
      ),
    );
    const listed = await bucket.list();
    expect(listed.length).toBe(31);
    expect(listed.find((entry) => entry.key === "segments/a.wal")).toEqual({
      key: "segments/a.wal",
      size: 70_000,
    });
    expect(await bucket.get("segments/a.wal", 70_000)).toEqual(object);
    await bucket.delete("segments/a.wal");
    expect((await bucket.list()).some((entry) => entry.key === "segments/a.wal")).toBe(false);
  });

  test("a listing of more than one page (1000 keys) has every key once, in order", async () => {
    const bucket = openBucket(`s3://${server.s3.bucket}/pages`, {
      endpoint: server.s3.endpoint,
      ...credentials,
    });
    const keys = Array.from({ length: 2003 }, (_, i) => `segments/${String(i).padStart(5, "0")}`);
    for (let i = 0; i < keys.length; i += 100) {
      await Promise.all(keys.slice(i, i + 100).map((key) => bucket.put(key, bytes(1, 0))));
    }
    // The server really pages: its first answer stops at 1000.
    const first = await server.s3.client().list({ prefix: "pages/" });
    expect({ truncated: first.isTruncated, length: first.contents?.length }).toEqual({
      truncated: true,
      length: 1000,
    });
    expect((await bucket.list()).map((entry) => entry.key)).toEqual(keys);
  }, 60_000);

  test("a 500 is ARCHIVE naming the object, and no credential", async () => {
    const secret = "not-a-real-secret-but-a-marker";
    const bucket = openBucket(`s3://${server.s3.bucket}/faults`, {
      endpoint: server.proxy.endpoint,
      ...credentials,
      sessionToken: secret,
    });
    server.proxy.inject({ kind: "status", status: 500 });
    const error = await walRejectionOf(bucket.put("segments/b.wal", bytes(10, 1)));
    expect(error.code).toBe("ARCHIVE");
    expect(error.message).toContain(`s3://${server.s3.bucket}/faults/segments/b.wal`);
    expect(error.message).not.toContain(secret);
    expect(error.message).not.toContain(credentials.secretAccessKey);
  });

  test("a body cut short is ARCHIVE, not a short object", async () => {
    const bucket = openBucket(`s3://${server.s3.bucket}/short`, {
      endpoint: server.proxy.endpoint,
      ...credentials,
    });
    await bucket.put("segments/c.wal", bytes(8192, 2));
    server.proxy.inject({ kind: "truncate", bytes: 100 });
    const error = await walRejectionOf(bucket.get("segments/c.wal", 8192));
    expect(error.code).toBe("ARCHIVE");
    expect(error.message).toContain("100 bytes arrived of the 8192");
    expect(await bucket.get("segments/c.wal", 8192)).toEqual(bytes(8192, 2));
  });

  test("a stalled server is ARCHIVE once the request timeout passes", async () => {
    const bucket = openBucket(`s3://${server.s3.bucket}/stall`, {
      endpoint: server.proxy.endpoint,
      ...credentials,
      requestTimeout: 200,
    });
    const before = server.proxy.requests.GET ?? 0;
    server.proxy.inject({ kind: "stall" });
    const error = await walRejectionOf(bucket.list());
    server.proxy.release();
    // The request reached the server's side and got no answer: a stall, not a refusal.
    expect((server.proxy.requests.GET ?? 0) - before).toBe(1);
    expect(error.code).toBe("ARCHIVE");
    expect(error.message).toContain("no answer within");
    expect(error.message).toContain(`s3://${server.s3.bucket}/stall/`);
  });

  test("credentials and the endpoint come from the environment when not given", async () => {
    const env = {
      S3_ENDPOINT: server.s3.endpoint,
      AWS_ACCESS_KEY_ID: "S3RVER",
      S3_SECRET_ACCESS_KEY: "S3RVER",
      AWS_REGION: "us-east-1",
      S3_BUCKET: server.s3.bucket,
    };
    const bucket = openBucket("s3:///from-env", {}, env);
    await bucket.put("x", bytes(5, 5));
    expect(await bucket.get("x", 5)).toEqual(bytes(5, 5));
  });
});
