import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { SluiceError } from "../../src/errors.js";
import { downloadToFile } from "../../src/storage/download-to-file.js";
import type { Storage, StorageEntry } from "../../src/storage/storage.js";

/** Behaviours an implementation may lack, each with the reason (shown in the skipped test's name). */
export interface SuiteOptions {
  readonly unsupported?: {
    readonly concurrentExclusiveWrites?: string;
  };
}

const MIB = 1024 * 1024;

async function collect(iterable: AsyncIterable<StorageEntry>): Promise<StorageEntry[]> {
  const out: StorageEntry[] = [];
  for await (const entry of iterable) out.push(entry);
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** `count` MiB of varied bytes, as a stream of 1 MiB chunks, with its sha256. */
function bigStream(count: number): { stream: Readable; sha256: string } {
  const seed = randomBytes(MIB);
  const hash = createHash("sha256");
  const chunks: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const chunk = Buffer.from(seed);
    chunk.writeUInt32BE(i, 0);
    chunks.push(chunk);
    hash.update(chunk);
  }
  const sha256 = hash.digest("hex");
  return {
    sha256,
    stream: Readable.from(
      (function* () {
        while (chunks.length > 0) yield chunks.shift()!;
      })(),
    ),
  };
}

async function streamDigest(stream: Readable): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest("hex"), bytes };
}

const sha = (data: Buffer | string): string => createHash("sha256").update(data).digest("hex");

/** A Storage whose read streams run `onFirstChunk` (awaited) before passing on their first chunk. */
export function interruptReads(storage: Storage, onFirstChunk: () => Promise<void>): Storage {
  return {
    ...storage,
    async createReadStream(path) {
      const source = await storage.createReadStream(path);
      let first = true;
      const gate = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          if (!first) return callback(null, chunk);
          first = false;
          onFirstChunk().then(
            () => callback(null, chunk),
            (error: unknown) => callback(error as Error),
          );
        },
      });
      source.on("error", (error) => gate.destroy(error));
      return source.pipe(gate);
    },
  };
}

/**
 * The behaviour every Storage implementation must show. `makeStorage` returns a fresh, empty storage
 * for each test.
 *
 * @example
 * runStorageSuite("local storage", async () => localStorage(await mkdtemp(join(tmpdir(), "x-"))));
 */
export function runStorageSuite(
  name: string,
  makeStorage: () => Promise<Storage>,
  options: SuiteOptions = {},
): void {
  describe(`Storage behaviour: ${name}`, () => {
    const temps: string[] = [];
    const tempDir = async (): Promise<string> => {
      const dir = await mkdtemp(join(tmpdir(), "sluice-storage-suite-"));
      temps.push(dir);
      return dir;
    };
    afterAll(async () => {
      await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
    });

    it("writes, stats and reads objects under nested paths", async () => {
      const storage = await makeStorage();
      const started = Date.now();
      expect(await storage.writeFile("in/orders/a.csv", "id,amount\n1,10\n")).toBe(true);
      expect(await storage.writeFile("b.bin", Buffer.from([0, 1, 2, 255]))).toBe(true);
      expect((await storage.readFile("in/orders/a.csv")).toString()).toBe("id,amount\n1,10\n");
      expect([...(await storage.readFile("b.bin"))]).toEqual([0, 1, 2, 255]);
      const entry = await storage.stat("in/orders/a.csv");
      expect(entry?.path).toBe("in/orders/a.csv");
      expect(entry?.size).toBe(15);
      expect(Math.abs((entry?.mtimeMs ?? 0) - started)).toBeLessThan(60_000);
      if (storage.kind === "s3") expect(entry?.etag).toMatch(/^[0-9a-f]{32}(-\d+)?$/);
      expect(await storage.stat("in/orders/missing.csv")).toBeNull();
      expect(await storage.stat("in/orders")).toBeNull();
    });

    it("overwrites on a plain write", async () => {
      const storage = await makeStorage();
      await storage.writeFile("x.txt", "first");
      expect(await storage.writeFile("x.txt", "second, longer")).toBe(true);
      expect((await storage.readFile("x.txt")).toString()).toBe("second, longer");
      expect((await storage.stat("x.txt"))?.size).toBe(14);
    });

    it("lists recursively below a prefix with relative paths, sizes and mtimes", async () => {
      const storage = await makeStorage();
      await storage.writeFile("in/orders/2026/a.csv", "aaa");
      await storage.writeFile("in/orders/b.csv", "bb");
      await storage.writeFile("in/orders2/c.csv", "c");
      await storage.writeFile("top.txt", "t");
      const orders = await collect(storage.list("in/orders"));
      expect(orders.map((e) => [e.path, e.size])).toEqual([
        ["in/orders/2026/a.csv", 3],
        ["in/orders/b.csv", 2],
      ]);
      for (const entry of orders) expect(entry.mtimeMs).toBeGreaterThan(0);
      expect((await collect(storage.list("in/orders/"))).length).toBe(2);
      expect((await collect(storage.list(""))).map((e) => e.path)).toEqual([
        "in/orders/2026/a.csv",
        "in/orders/b.csv",
        "in/orders2/c.csv",
        "top.txt",
      ]);
      expect(await collect(storage.list("nothing/here"))).toEqual([]);
    });

    it("handles names with spaces, brackets and non-ASCII characters", async () => {
      const storage = await makeStorage();
      const name = "in/Ünïcode dir/My File (1) ü%.csv";
      await storage.writeFile(name, "x");
      expect((await collect(storage.list("in"))).map((e) => e.path)).toEqual([name]);
      await storage.move(name, "archive/Ünïcode dir/moved ü.csv");
      expect((await storage.readFile("archive/Ünïcode dir/moved ü.csv")).toString()).toBe("x");
      await storage.copy("archive/Ünïcode dir/moved ü.csv", "copy é.csv");
      expect((await storage.readFile("copy é.csv")).toString()).toBe("x");
    });

    // s3rver decodes x-amz-copy-source with decodeURI (leaving %2B %26 %3D encoded) and finds no source:
    // the storage then copies through the client.
    it("moves and copies names with + & = characters and backslashes", async () => {
      const storage = await makeStorage();
      await storage.writeFile("in/a+b&c=d.csv", "x");
      await storage.writeFile("in/e\\..\\f.csv", "y");
      await storage.copy("in/a+b&c=d.csv", "in/copy+1.csv");
      await storage.move("in/a+b&c=d.csv", "archive/a+b&c=d_1.csv");
      await storage.move("in/e\\..\\f.csv", "archive/e\\..\\f_1.csv");
      expect((await collect(storage.list(""))).map((e) => e.path)).toEqual([
        "archive/a+b&c=d_1.csv",
        "archive/e\\..\\f_1.csv",
        "in/copy+1.csv",
      ]);
      expect((await storage.readFile("archive/a+b&c=d_1.csv")).toString()).toBe("x");
      expect((await storage.readFile("in/copy+1.csv")).toString()).toBe("x");
    });

    it("an exclusive write creates once and then returns false without changing the object", async () => {
      const storage = await makeStorage();
      expect(await storage.writeFile("_delta_log/00000.json", "commit 0", { exclusive: true })).toBe(true);
      expect(await storage.writeFile("_delta_log/00000.json", "other", { exclusive: true })).toBe(false);
      expect(
        await storage.writeFile("_delta_log/00000.json", Readable.from(["streamed"]), { exclusive: true }),
      ).toBe(false);
      expect((await storage.readFile("_delta_log/00000.json")).toString()).toBe("commit 0");
      expect(
        await storage.writeFile("_delta_log/00001.json", Readable.from(["commit ", "1"]), {
          exclusive: true,
        }),
      ).toBe(true);
      expect((await storage.readFile("_delta_log/00001.json")).toString()).toBe("commit 1");
    });

    const concurrentReason = options.unsupported?.concurrentExclusiveWrites;
    it.skipIf(concurrentReason !== undefined)(
      `concurrent exclusive writes: exactly one wins${concurrentReason ? ` (skipped: ${concurrentReason})` : ""}`,
      async () => {
        const storage = await makeStorage();
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            storage.writeFile("race.json", `writer ${i}`, { exclusive: true }),
          ),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        const winner = results.indexOf(true);
        expect((await storage.readFile("race.json")).toString()).toBe(`writer ${winner}`);
      },
    );

    it("moves an object and never overwrites the destination", async () => {
      const storage = await makeStorage();
      await storage.writeFile("in/a.csv", "A");
      await storage.move("in/a.csv", "archive/2026/01/a_1.csv");
      expect(await storage.stat("in/a.csv")).toBeNull();
      expect((await storage.readFile("archive/2026/01/a_1.csv")).toString()).toBe("A");

      await storage.writeFile("in/b.csv", "B");
      const error = await storage.move("in/b.csv", "archive/2026/01/a_1.csv").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SluiceError);
      expect((error as SluiceError).code).toBe("STORAGE_ERROR");
      expect((error as SluiceError).message).toContain("already exists");
      expect((await storage.readFile("archive/2026/01/a_1.csv")).toString()).toBe("A");
      expect((await storage.readFile("in/b.csv")).toString()).toBe("B");

      await expect(storage.move("in/missing.csv", "archive/missing.csv")).rejects.toThrow();
      expect(await storage.stat("archive/missing.csv")).toBeNull();
    });

    it("copies an object (overwriting a copy target) and keeps the source", async () => {
      const storage = await makeStorage();
      await storage.writeFile("src/a.json", '{"a":1}');
      await storage.writeFile("dst/a.json", "old");
      await storage.copy("src/a.json", "dst/a.json");
      await storage.copy("src/a.json", "dst/deeper/a.json");
      expect((await storage.readFile("dst/a.json")).toString()).toBe('{"a":1}');
      expect((await storage.readFile("dst/deeper/a.json")).toString()).toBe('{"a":1}');
      expect((await storage.readFile("src/a.json")).toString()).toBe('{"a":1}');
      await expect(storage.copy("src/missing.json", "dst/m.json")).rejects.toThrow();
    });

    it("deletes objects; deleting a missing object is not an error", async () => {
      const storage = await makeStorage();
      await storage.writeFile("tmp/x.txt", "x");
      await storage.delete("tmp/x.txt");
      expect(await storage.stat("tmp/x.txt")).toBeNull();
      expect(await collect(storage.list("tmp"))).toEqual([]);
      await storage.delete("tmp/x.txt");
    });

    it("rejects reading a missing object and paths escaping the root", async () => {
      const storage = await makeStorage();
      await expect(storage.readFile("nope.txt")).rejects.toThrow();
      await expect(storage.createReadStream("nope.txt")).rejects.toThrow();
      await expect(storage.writeFile("../escape.txt", "x")).rejects.toThrow(/escapes the storage root/);
    });

    it("streams a 20 MiB object in and out", async () => {
      const storage = await makeStorage();
      const { stream, sha256 } = bigStream(20);
      expect(await storage.writeFile("big/20mib.bin", stream)).toBe(true);
      expect((await storage.stat("big/20mib.bin"))?.size).toBe(20 * MIB);
      const read = await streamDigest(await storage.createReadStream("big/20mib.bin"));
      expect(read).toEqual({ sha256, bytes: 20 * MIB });
    });

    it("uploads a local file larger than 5 MiB (multipart on S3)", async () => {
      const storage = await makeStorage();
      const dir = await tempDir();
      const local = join(dir, "upload.bin");
      const data = randomBytes(12 * MIB);
      await writeFile(local, data);
      await storage.putLocalFile(local, "lake/part-0.parquet");
      expect((await storage.stat("lake/part-0.parquet"))?.size).toBe(12 * MIB);
      expect(sha(await storage.readFile("lake/part-0.parquet"))).toBe(sha(data));
      await expect(storage.putLocalFile(join(dir, "missing.bin"), "lake/x")).rejects.toThrow();
    });

    it("downloadToFile streams to a local file and returns the entry", async () => {
      const storage = await makeStorage();
      const dir = await tempDir();
      const data = randomBytes(3 * MIB + 17);
      await storage.writeFile("in/d.bin", data);
      const entry = await downloadToFile(storage, "in/d.bin", join(dir, "sub", "d.bin"));
      expect(entry.size).toBe(data.length);
      expect(sha(await readFile(join(dir, "sub", "d.bin")))).toBe(sha(data));
      await expect(downloadToFile(storage, "in/none.bin", join(dir, "none.bin"))).rejects.toMatchObject({
        code: "FILE_NOT_FOUND",
      });
    });

    it("downloadToFile fails with FILE_CHANGED when the object is overwritten mid-download", async () => {
      const storage = await makeStorage();
      const dir = await tempDir();
      await storage.writeFile("in/c.bin", randomBytes(4 * MIB));
      const racing = interruptReads(storage, async () => {
        await storage.writeFile("in/c.bin", randomBytes(4 * MIB + 1));
      });
      const error = await downloadToFile(racing, "in/c.bin", join(dir, "c.bin")).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SluiceError);
      expect((error as SluiceError).code).toBe("FILE_CHANGED");
      expect((error as SluiceError).transient).toBe(true);
      expect((error as SluiceError).message).toContain("in/c.bin");
      await expect(stat(join(dir, "c.bin"))).rejects.toThrow(/ENOENT/);
    });

    it("downloadToFile fails with FILE_VANISHED when the object is deleted mid-download", async () => {
      const storage = await makeStorage();
      const dir = await tempDir();
      await storage.writeFile("in/v.bin", randomBytes(4 * MIB));
      const racing = interruptReads(storage, () => storage.delete("in/v.bin"));
      const error = await downloadToFile(racing, "in/v.bin", join(dir, "v.bin")).catch((e: unknown) => e);
      expect((error as SluiceError).code).toBe("FILE_VANISHED");
      expect((error as SluiceError).transient).toBe(true);
      await expect(stat(join(dir, "v.bin"))).rejects.toThrow(/ENOENT/);
    });
  });
}
