import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { SluiceError } from "../../src/errors.js";
import { retriedBelow } from "../../src/resilience/retry.js";
import { downloadToFile } from "../../src/storage/download-to-file.js";
import { localStorage } from "../../src/storage/local-storage.js";
import { type S3Storage, type S3StorageOptions, s3Storage } from "../../src/storage/s3-storage.js";
import type { StorageEntry } from "../../src/storage/storage.js";
import { type FaultProxy, startFaultProxy } from "../support/s3-fault-proxy.js";
import { S3RVER_CREDENTIALS, startS3Server, type TestS3Server } from "../support/s3-server.js";
import { interruptReads, runStorageSuite } from "./storage-suite.js";

const BUCKET = "sluice-test";
let server: TestS3Server;
let prefixCounter = 0;
const opened: S3Storage[] = [];
const localDirs: string[] = [];

beforeAll(async () => {
  server = await startS3Server({ buckets: [BUCKET] });
});

afterAll(async () => {
  for (const storage of opened) storage.close();
  await server?.stop();
  await Promise.all(localDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A fresh storage on its own prefix of the test bucket. */
function openS3(overrides: Partial<S3StorageOptions> = {}): S3Storage {
  const storage = s3Storage({
    ...server.s3Options,
    bucket: BUCKET,
    prefix: `t${++prefixCounter}/root`,
    retry: { max: 3, baseMs: 5, maxDelayMs: 20 },
    ...overrides,
  });
  opened.push(storage);
  return storage;
}

runStorageSuite("local folder", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sluice-local-storage-"));
  localDirs.push(dir);
  return localStorage(dir);
});

runStorageSuite("S3 (s3rver)", async () => openS3(), {
  unsupported: {
    concurrentExclusiveWrites:
      "s3rver ignores If-None-Match on PUT, so only the HEAD pre-check guards exclusive writes there",
  },
});

/** The SluiceError a promise rejects with (fails the test when it resolves or throws something else). */
async function failure(promise: Promise<unknown>): Promise<SluiceError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SluiceError);
  return error as SluiceError;
}

async function collect(iterable: AsyncIterable<StorageEntry>): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of iterable) out.push(entry.path);
  return out.sort();
}

describe("S3 storage specifics", () => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    proxy = await startFaultProxy(server.port);
  });
  afterAll(async () => {
    await proxy?.stop();
  });
  const viaProxy = (overrides: Partial<S3StorageOptions> = {}): S3Storage =>
    openS3({ endpoint: proxy.endpoint, ...overrides });
  const since = (mark: number) => proxy.requests.slice(mark);

  it("reports its root, bucket and prefix and has no local path", () => {
    const storage = s3Storage({ ...server.s3Options, bucket: BUCKET, prefix: "/landing/zone/" });
    opened.push(storage);
    expect(storage.kind).toBe("s3");
    expect(storage.root).toBe(`s3://${BUCKET}/landing/zone`);
    expect(storage.prefix).toBe("landing/zone");
    expect(storage.localPath("in/a.csv")).toBeUndefined();
  });

  it("keeps objects under its prefix only and strips it from listed paths", async () => {
    const a = openS3();
    const b = openS3();
    await a.writeFile("in/x.csv", "a");
    await b.writeFile("in/x.csv", "b");
    expect(await collect(a.list(""))).toEqual(["in/x.csv"]);
    expect((await a.readFile("in/x.csv")).toString()).toBe("a");
  });

  it("paginates listings", async () => {
    const storage = viaProxy({ listPageSize: 2 });
    for (let i = 0; i < 5; i++) await storage.writeFile(`in/p/${i}.csv`, String(i));
    const mark = proxy.requests.length;
    expect(await collect(storage.list("in/p"))).toEqual([0, 1, 2, 3, 4].map((i) => `in/p/${i}.csv`));
    const listCalls = since(mark).filter((r) => r.method === "GET" && r.url.includes("list-type=2"));
    expect(listCalls).toHaveLength(3);
    expect(listCalls[1]?.url).toContain("continuation-token=");
  });

  it("uploads big local files in parts", async () => {
    const storage = viaProxy({ partSizeBytes: 5 * 1024 * 1024 });
    const dir = await mkdtemp(join(tmpdir(), "sluice-s3-multipart-"));
    localDirs.push(dir);
    await writeFile(join(dir, "big.bin"), randomBytes(11 * 1024 * 1024));
    const mark = proxy.requests.length;
    await storage.putLocalFile(join(dir, "big.bin"), "lake/big.bin");
    const parts = since(mark).filter((r) => r.method === "PUT" && /[?&]partNumber=\d+/.test(r.url));
    expect(parts).toHaveLength(3);
    expect((await storage.stat("lake/big.bin"))?.size).toBe(11 * 1024 * 1024);
  });

  it("sends exclusive writes as conditional PUTs (If-None-Match: *)", async () => {
    const storage = viaProxy();
    const mark = proxy.requests.length;
    expect(await storage.writeFile("_delta_log/0.json", "c0", { exclusive: true })).toBe(true);
    const puts = since(mark).filter((r) => r.method === "PUT");
    expect(puts.map((r) => r.ifNoneMatch)).toEqual(["*"]);
  });

  it("falls back to HEAD-then-PUT when the server answers 501 to conditional writes", async () => {
    const storage = viaProxy();
    proxy.failNext(
      1,
      { status: 501, code: "NotImplemented" },
      (r) => r.method === "PUT" && r.ifNoneMatch === "*",
    );
    expect(await storage.writeFile("_delta_log/0.json", "c0", { exclusive: true })).toBe(true);
    expect((await storage.readFile("_delta_log/0.json")).toString()).toBe("c0");
    expect(await storage.writeFile("_delta_log/0.json", "again", { exclusive: true })).toBe(false);
    const mark = proxy.requests.length;
    expect(await storage.writeFile("_delta_log/1.json", "c1", { exclusive: true })).toBe(true);
    expect(
      since(mark)
        .filter((r) => r.method === "PUT")
        .map((r) => r.ifNoneMatch),
    ).toEqual([undefined]);
  });

  it("retries 503 SlowDown answers and succeeds", async () => {
    const retries: number[] = [];
    const storage = viaProxy({
      retry: { max: 3, baseMs: 5, maxDelayMs: 20, onRetry: (r) => retries.push(r.attempt) },
    });
    await storage.writeFile("in/r.csv", "retry me");
    const mark = proxy.requests.length;
    proxy.failNext(2);
    expect((await storage.readFile("in/r.csv")).toString()).toBe("retry me");
    expect(since(mark).map((r) => r.outcome)).toEqual(["fault", "fault", "forwarded"]);
    expect(retries).toEqual([1, 2]);

    proxy.failNext(1, { status: 500, code: "InternalError" });
    expect(await storage.writeFile("in/r2.csv", "x")).toBe(true);
    proxy.failNext(1, { status: 503, code: "ServiceUnavailable" });
    expect(await collect(storage.list("in"))).toEqual(["in/r.csv", "in/r2.csv"]);
  });

  it("retries dropped connections", async () => {
    const storage = viaProxy();
    await storage.writeFile("in/reset.csv", "ok");
    const mark = proxy.requests.length;
    proxy.failNext(2, "reset");
    expect((await storage.stat("in/reset.csv"))?.size).toBe(2);
    expect(since(mark).map((r) => r.outcome)).toEqual(["fault", "fault", "forwarded"]);
  });

  it("retries a request that timed out", async () => {
    const storage = viaProxy({ idleTimeoutMs: 300 });
    await storage.writeFile("in/slow.csv", "slow");
    const mark = proxy.requests.length;
    proxy.failNext(1, "hang");
    expect((await storage.readFile("in/slow.csv")).toString()).toBe("slow");
    // On a busy machine a forwarded request can outlast the 300 ms idle timeout too and be retried again.
    const [first, ...rest] = since(mark).map((r) => r.outcome);
    expect(first).toBe("fault");
    expect(rest.length).toBeGreaterThan(0);
    expect(new Set(rest)).toEqual(new Set(["forwarded"]));
  });

  it("gives up after the retry budget with a transient STORAGE_ERROR naming the key", async () => {
    const storage = viaProxy({ retry: { max: 2, baseMs: 1, maxDelayMs: 5 } });
    proxy.failNext(3);
    const error = await failure(storage.readFile("in/gone.csv"));
    proxy.failNext(0);
    expect(error).toBeInstanceOf(SluiceError);
    expect(error.code).toBe("STORAGE_ERROR");
    expect(error.transient).toBe(true);
    expect(error.message).toContain(`s3://${BUCKET}/`);
    expect(error.message).toContain("in/gone.csv");
    expect(error.message).toContain("SlowDown");
    expect(error.message).toContain("gave up after 3 attempts");
  });

  it("an upload the SDK gave up on is marked retried, so no level above retries it again", async () => {
    const storage = viaProxy({ retry: { max: 2, baseMs: 1, maxDelayMs: 5 } });
    const dir = await mkdtemp(join(tmpdir(), "sluice-s3-upload-"));
    localDirs.push(dir);
    await writeFile(join(dir, "small.csv"), "id\n1\n");
    const mark = proxy.requests.length;
    proxy.failNext(1000, { status: 500, code: "InternalError" });
    const error = await failure(storage.putLocalFile(join(dir, "small.csv"), "lake/small.csv"));
    proxy.failNext(0);
    expect(error.transient).toBe(true);
    expect(since(mark).filter((r) => r.outcome === "fault")).toHaveLength(3);
    expect(retriedBelow(error)).toBe(true);
  });

  it("opens its circuit after repeated failures, fails fast, and closes after a good probe", async () => {
    let now = Date.parse("2026-05-01T00:00:00Z");
    const storage = viaProxy({
      retry: { max: 0, baseMs: 1, maxDelayMs: 1 },
      circuitBreaker: { failureThreshold: 2, openMs: 30_000, now: () => now },
    });
    proxy.failNext(2);
    await expect(storage.stat("a")).rejects.toMatchObject({ code: "STORAGE_ERROR", transient: true });
    await expect(storage.stat("a")).rejects.toMatchObject({ code: "STORAGE_ERROR", transient: true });
    expect(storage.breaker.state()).toBe("open");
    const mark = proxy.requests.length;
    const open = await failure(storage.stat("a"));
    expect(open.code).toBe("CIRCUIT_OPEN");
    expect(open.message).toContain(`S3 ${storage.root} is unavailable`);
    expect(open.message).toContain(
      "circuit breaker open after 2 consecutive failures: calls fail fast for 30s",
    );
    expect(proxy.requests.length).toBe(mark);
    now += 30_000;
    expect(await storage.stat("a")).toBeNull();
    expect(storage.breaker.state()).toBe("closed");
  });

  it("does not count terminal errors towards opening the circuit", async () => {
    const storage = viaProxy({ circuitBreaker: { failureThreshold: 1 } });
    await expect(storage.readFile("missing.csv")).rejects.toMatchObject({ code: "FILE_NOT_FOUND" });
    expect(storage.breaker.state()).toBe("closed");
  });

  it("names the bucket when it does not exist (terminal)", async () => {
    const storage = s3Storage({ ...server.s3Options, bucket: "no-such-bucket", prefix: "p" });
    opened.push(storage);
    for (const attempt of [
      () => collect(storage.list("in")),
      () => storage.writeFile("in/a.csv", "x"),
      () => storage.readFile("in/a.csv"),
    ]) {
      const error = await failure(attempt());
      expect(error).toBeInstanceOf(SluiceError);
      expect(error.code).toBe("STORAGE_ERROR");
      expect(error.transient).toBe(false);
      expect(error.message).toContain('bucket "no-such-bucket" does not exist');
    }
  });

  it("reports a wrong access key clearly (terminal)", async () => {
    const storage = s3Storage({
      ...server.s3Options,
      credentials: { accessKeyId: "WRONGKEY", secretAccessKey: "whatever" },
      bucket: BUCKET,
      prefix: "p",
    });
    opened.push(storage);
    const error = await failure(collect(storage.list("in")));
    expect(error).toBeInstanceOf(SluiceError);
    expect(error.code).toBe("STORAGE_ERROR");
    expect(error.transient).toBe(false);
    expect(error.message).toContain(`s3://${BUCKET}/p/in/`);
    expect(error.message).toContain("InvalidAccessKeyId");
    expect(error.message).toContain("AWS_ACCESS_KEY_ID");
    expect(storage.breaker.state()).toBe("closed");
  });

  it("takes credentials from the standard AWS environment when none are given", async () => {
    vi.stubEnv("AWS_ACCESS_KEY_ID", S3RVER_CREDENTIALS.accessKeyId);
    vi.stubEnv("AWS_SECRET_ACCESS_KEY", S3RVER_CREDENTIALS.secretAccessKey);
    try {
      const storage = openS3({ credentials: undefined });
      await storage.writeFile("in/env.csv", "from env");
      expect((await storage.readFile("in/env.csv")).toString()).toBe("from env");
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("explains missing credentials (terminal)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sluice-s3-nocreds-"));
    localDirs.push(dir);
    vi.stubEnv("AWS_ACCESS_KEY_ID", "");
    vi.stubEnv("AWS_SECRET_ACCESS_KEY", "");
    vi.stubEnv("AWS_PROFILE", "");
    vi.stubEnv("AWS_SHARED_CREDENTIALS_FILE", join(dir, "credentials"));
    vi.stubEnv("AWS_CONFIG_FILE", join(dir, "config"));
    vi.stubEnv("AWS_EC2_METADATA_DISABLED", "true");
    vi.stubEnv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "");
    vi.stubEnv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "");
    vi.stubEnv("AWS_WEB_IDENTITY_TOKEN_FILE", "");
    try {
      const storage = openS3({ credentials: undefined });
      const error = await failure(storage.stat("in/a.csv"));
      expect(error.code).toBe("STORAGE_ERROR");
      expect(error.transient).toBe(false);
      expect(error.message).toContain(`s3://${BUCKET}/`);
      expect(error.message).toContain("no AWS credentials found");
      expect(error.message).toContain("AWS_ACCESS_KEY_ID");
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it.skip("reports a wrong secret key clearly (skipped: s3rver does not verify V4 signatures, so a wrong secret is accepted)", () => {});

  it("a refused connection is transient", async () => {
    const closed = await startFaultProxy(server.port);
    const endpoint = closed.endpoint;
    await closed.stop();
    const storage = openS3({ endpoint, retry: { max: 1, baseMs: 1, maxDelayMs: 1 } });
    const error = await failure(storage.stat("x"));
    expect(error.code).toBe("STORAGE_ERROR");
    expect(error.transient).toBe(true);
    expect(error.message).toContain("ECONNREFUSED");
  });

  it("detects a same-size overwrite during downloadToFile by its ETag", async () => {
    const storage = openS3();
    const dir = await mkdtemp(join(tmpdir(), "sluice-s3-download-"));
    localDirs.push(dir);
    await storage.writeFile("in/same.bin", Buffer.alloc(6 * 1024 * 1024, 1));
    const racing = interruptReads(storage, async () => {
      await storage.writeFile("in/same.bin", Buffer.alloc(6 * 1024 * 1024, 2));
    });
    await expect(downloadToFile(racing, "in/same.bin", join(dir, "same.bin"))).rejects.toMatchObject({
      code: "FILE_CHANGED",
      transient: true,
    });
    // Without interference the same download succeeds.
    const entry = await downloadToFile(storage, "in/same.bin", join(dir, "same.bin"));
    expect(entry.size).toBe(6 * 1024 * 1024);
  });
});
