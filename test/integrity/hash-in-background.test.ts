import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { getPriority, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashStream } from "../../src/integrity/hash-file.js";
import { CONCURRENT_HASHES, hashInBackground } from "../../src/integrity/hash-in-background.js";
import { acquireFile, BACKGROUND_HASH_MIN_BYTES } from "../../src/run/acquire-file.js";
import { localStorage } from "../../src/storage/local-storage.js";

// Big local files are hashed in a worker thread that lowers its own priority, so the hash takes only CPU
// time DuckDB (reading the same file meanwhile) does not want. These tests pin that the digest is the
// one `hashStream` gives, that failures look as before, that the lowered priority stays with the worker
// thread, and that a hash nobody needs any more can be stopped.

const linux = process.platform === "linux";
const sha = (data: Buffer) => createHash("sha256").update(data).digest("hex");

let dir: string;
/** A sparse file of 4 GiB: hashing it whole takes many seconds. */
let huge: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sluice-hash-"));
  huge = join(dir, "huge.bin");
  writeFileSync(huge, "");
  truncateSync(huge, 4 * 1024 ** 3);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("hashInBackground", () => {
  it.each([
    ["an empty file", 0],
    ["a file smaller than one chunk", 1_000_003],
    ["a file of several chunks", 9 * 1024 * 1024 + 7],
  ])("%s: the SHA-256 of its content and its size", async (name, size) => {
    const content = randomBytes(size);
    const path = join(dir, `${name}.bin`);
    writeFileSync(path, content);
    const hashing = await hashInBackground(path);
    const digest = await hashing.digest;
    // Exactly these keys: hashed by the worker (the main-thread fallback's digest also has `damage`).
    expect(Object.keys(digest).sort()).toEqual(["bytes", "lines", "sha256"]);
    expect(digest).toMatchObject({ sha256: sha(content), bytes: size });
    await hashing.release();
    const landing = localStorage(dir);
    expect(await hashStream(await landing.createReadStream(`${name}.bin`))).toMatchObject(digest);
  });

  it("a missing file fails at once, as the stream hash did", async () => {
    const before = await localStorage(dir)
      .createReadStream("missing.csv")
      .catch((e: unknown) => e);
    const now = await hashInBackground(join(dir, "missing.csv")).catch((e: unknown) => e);
    expect(now).toMatchObject({ code: "ENOENT", message: (before as Error).message });
  });

  it("a read error rejects the digest with its code and message", async () => {
    const folder = join(dir, "a-folder");
    mkdirSync(folder);
    const hashing = await hashInBackground(folder);
    await expect(hashing.digest).rejects.toMatchObject({
      code: "EISDIR",
      message: "EISDIR: illegal operation on a directory, read",
    });
  });

  it.skipIf(!linux)("an I/O error (EIO) comes back as one (Linux: /proc/self/mem)", async () => {
    // Reading this process's memory at address 0, which is never mapped, fails with EIO.
    const hashing = await hashInBackground("/proc/self/mem");
    await expect(hashing.digest).rejects.toMatchObject({ code: "EIO", syscall: "read" });
  });

  // Elsewhere the worker keeps the process's priority: lowering it there would lower the whole process.
  /** The nice values of this process's threads (Linux). */
  const niceValues = () =>
    readdirSync("/proc/self/task").flatMap((tid) => {
      let stat: string;
      try {
        stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      } catch {
        return []; // the thread ended between the listing and the read
      }
      return [Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16])];
    });

  it.skipIf(!linux)(
    "Linux: only the worker thread drops to background priority, once told a read runs",
    async () => {
      const before = getPriority(0);
      const hashing = await hashInBackground(huge);
      hashing.yieldToReader();
      // A thread of this process (the worker: it names no other) reaches nice 19 while the hash runs.
      let seen = false;
      for (let i = 0; i < 100 && !seen; i++) {
        seen = niceValues().includes(19);
        if (!seen) await new Promise((r) => setTimeout(r, 20));
      }
      await hashing.release();
      expect(seen).toBe(true);
      expect(getPriority(0)).toBe(before);

      // A hash not told of a read (awaited at once) keeps normal priority: no thread is lowered.
      const urgent = await hashInBackground(huge);
      let lowered = false;
      for (let i = 0; i < 15 && !lowered; i++) {
        lowered = niceValues().includes(19);
        await new Promise((r) => setTimeout(r, 20));
      }
      await urgent.release();
      expect(lowered).toBe(false);
    },
  );

  it("hashes at most CONCURRENT_HASHES files at once; the others wait their turn", async () => {
    const small = join(dir, "small.bin");
    const content = randomBytes(2_000_000);
    writeFileSync(small, content);
    const busy = await Promise.all(Array.from({ length: CONCURRENT_HASHES }, () => hashInBackground(huge)));
    const waiting = await hashInBackground(small);
    const queued = await hashInBackground(small);
    let settled = false;
    void waiting.digest.then(() => {
      settled = true;
    });
    // The small file would hash in milliseconds: it waits while the slots are taken.
    await new Promise((r) => setTimeout(r, 400));
    expect(settled).toBe(false);
    // A hash waiting its turn is released at once, without waiting for a slot: every busy hash is
    // still running when release() returns (a slot frees only when one of them ends).
    const busySettled = busy.map(() => false);
    busy.forEach((b, i) => {
      b.digest.then(
        () => {
          busySettled[i] = true;
        },
        () => {
          busySettled[i] = true;
        },
      );
    });
    await queued.release();
    expect(busySettled).toEqual(busy.map(() => false));
    await expect(queued.digest).rejects.toMatchObject({ code: "ERR_HASH_RELEASED" });
    // Once a slot frees, the waiting hash runs and is right.
    await busy[0]!.release();
    expect(await waiting.digest).toMatchObject({ sha256: sha(content), bytes: content.length });
    await Promise.all(busy.map((b) => b.release()));
    await waiting.release();
  });

  it("release() stops a running hash promptly; the digest then rejects", async () => {
    const hashing = await hashInBackground(huge);
    await new Promise((r) => setTimeout(r, 200));
    await hashing.release();
    // Had release() let the hash run to its end (4 GiB), the digest would have resolved.
    await expect(hashing.digest).rejects.toMatchObject({ code: "ERR_HASH_RELEASED" });
    await hashing.release();
  });

  it("after release() the process is not kept alive by the hash", async () => {
    // The built module (the suite's global setup builds dist/): a plain Node process, as `sluice run` is.
    const module = resolve("dist/integrity/hash-in-background.js");
    const script = join(dir, "release.mjs");
    writeFileSync(
      script,
      `const { hashInBackground } = await import(${JSON.stringify(module)});
      const hashing = await hashInBackground(${JSON.stringify(huge)});
      hashing.digest.then(() => console.log("finished"), (e) => console.log(e.code));
      setTimeout(() => hashing.release(), 200);`,
    );
    const ended: { code: number | null; signal: NodeJS.Signals | null }[] = [];
    const output = await new Promise<string>((done, fail) => {
      const child = spawn(process.execPath, [script]);
      let out = "";
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
      });
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      child.on("error", fail);
      child.on("close", (code, signal) => {
        ended.push({ code, signal });
        clearTimeout(timer);
        done(out);
      });
    });
    expect(output.trim()).toBe("ERR_HASH_RELEASED");
    // The process ended by itself (not killed by the 30 s guard) without the hash finishing.
    expect(ended).toEqual([{ code: 0, signal: null }]);
  });
});

describe("acquireFile: local files", () => {
  it("a big file is hashed in the background and can be released", async () => {
    const content = Buffer.alloc(BACKGROUND_HASH_MIN_BYTES + 5, "a,b\n");
    writeFileSync(join(dir, "big.csv"), content);
    const entry = { path: "big.csv", size: content.length, mtimeMs: 0 };
    const acquired = await acquireFile(localStorage(dir), entry, join(dir, "work"), 0, "csv");
    expect(acquired.localPath).toBe(join(dir, "big.csv"));
    expect(acquired.release).toBeTypeOf("function");
    expect(await acquired.digest).toMatchObject({ sha256: sha(content), bytes: content.length });
    await acquired.release?.();
  });

  it("a missing file fails at once with the error of a small one", async () => {
    const landing = localStorage(dir);
    const fails = (size: number) =>
      acquireFile(landing, { path: "gone.csv", size, mtimeMs: 0 }, join(dir, "work"), 0, "csv").catch(
        (e: unknown) => e,
      );
    const small = await fails(10);
    const big = await fails(BACKGROUND_HASH_MIN_BYTES);
    expect(big).toMatchObject({ code: "ENOENT", message: (small as Error).message });
  });
});
