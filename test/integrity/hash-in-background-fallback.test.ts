import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeEach, describe, expect, it, vi } from "vitest";
import { hashInBackground } from "../../src/integrity/hash-in-background.js";

// When no worker thread can hash the file, it is hashed on the calling thread: a digest is always
// produced. Worker threads are replaced here by ones that cannot start or that die without an answer.

const mode = vi.hoisted(() => ({ current: "throws" as "throws" | "dies" }));

vi.mock("node:worker_threads", async () => {
  const { EventEmitter: Emitter } = await import("node:events");
  class FailingWorker extends Emitter {
    constructor() {
      super();
      if (mode.current === "throws") throw new Error("no worker threads here");
      setTimeout(() => {
        this.emit("error", new Error("worker died"));
        this.emit("exit", 1);
      }, 10);
    }
    terminate(): Promise<number> {
      return Promise.resolve(1);
    }
  }
  return { Worker: FailingWorker };
});

const dir = mkdtempSync(join(tmpdir(), "sluice-hash-fallback-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("hashInBackground without a working worker thread", () => {
  const content = randomBytes(5 * 1024 * 1024 + 3);
  const path = join(dir, "a.bin");
  beforeEach(() => writeFileSync(path, content));

  it.each(["throws", "dies"] as const)("a worker that %s: hashed on this thread", async (how) => {
    mode.current = how;
    const hashing = await hashInBackground(path);
    // The main thread's digest also carries the line count the read is checked against.
    expect(await hashing.digest).toMatchObject({
      sha256: createHash("sha256").update(content).digest("hex"),
      bytes: content.length,
      damage: undefined,
      lines: expect.any(Object),
    });
    await hashing.release();
  });

  it("the fallback keeps read errors", async () => {
    mode.current = "dies";
    const hashing = await hashInBackground(dir);
    await expect(hashing.digest).rejects.toMatchObject({ code: "EISDIR" });
  });

  it.each([
    ["before the fallback starts", 0],
    ["while the fallback hashes", 200],
  ])("released %s: the digest rejects", async (_, wait) => {
    mode.current = "dies";
    // A sparse file of 1 GiB: hashing it whole takes seconds.
    const big = join(dir, "big.bin");
    writeFileSync(big, "");
    truncateSync(big, 1024 ** 3);
    const hashing = await hashInBackground(big);
    await new Promise((r) => setTimeout(r, wait));
    await hashing.release();
    // Had release() waited for the whole gibibyte, the digest would have resolved.
    await expect(hashing.digest).rejects.toMatchObject({ code: "ERR_HASH_RELEASED" });
  });
});
