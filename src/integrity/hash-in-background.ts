import { open } from "node:fs/promises";
import type { Readable } from "node:stream";
import { Worker } from "node:worker_threads";
import { type ContentDigest, hashStream } from "./hash-file.js";
import { LINE_COUNTER_SOURCE, type LineCount } from "./line-count.js";

/** A local file's hash, computed in a background thread. */
export interface BackgroundHash {
  /**
   * The content's hash. Rejects with the read error (its `code`, e.g. `EIO`, and message kept as the
   * system reported them), or with code `ERR_HASH_RELEASED` when `release()` stopped the hash before it
   * finished. Marked as handled: await it to see a failure.
   */
  readonly digest: Promise<ContentDigest>;
  /**
   * Stops a hash still running and closes the file; resolves once both are done. The digest then
   * rejects (`ERR_HASH_RELEASED`) unless it had settled already. Safe to call more than once.
   */
  release(): Promise<void>;
  /** From now on the hash takes only idle CPU (background priority, on Linux): a read runs beside it. */
  yieldToReader(): void;
}

/**
 * How many files are hashed at once in this process; the others wait their turn. A run plans every file
 * before the write reads them, so without a bound a batch of many big files would start a thread (and a
 * read buffer) per file at once.
 */
export const CONCURRENT_HASHES = 2;

const slots = { active: 0, waiting: new Set<() => void>() };

/**
 * Waits for one of the {@link CONCURRENT_HASHES} slots; undefined when `cancelled()` holds first
 * (checked whenever the waiter is woken — `park` hands out the waker so a release can wake it).
 */
async function takeSlot(
  cancelled: () => boolean,
  park: (wake: (() => void) | undefined) => void,
): Promise<(() => void) | undefined> {
  while (slots.active >= CONCURRENT_HASHES) {
    if (cancelled()) return undefined;
    await new Promise<void>((resolve) => {
      slots.waiting.add(resolve);
      park(resolve);
    });
    park(undefined);
  }
  if (cancelled()) return undefined;
  slots.active++;
  let freed = false;
  return () => {
    if (freed) return;
    freed = true;
    slots.active--;
    const next = slots.waiting.values().next().value;
    if (next) {
      slots.waiting.delete(next);
      next();
    }
  };
}

/** How much the worker reads at a time: large reads keep the per-call overhead negligible. */
const CHUNK_BYTES = 4 << 20;

/**
 * The worker, as source run with `eval`: it works the same from the per-module build and from the
 * single-file bundle (no worker file to find next to the caller), and is not passed through
 * `Function.prototype.toString` (the bundler's `keepNames` would inject calls the worker lacks). It loads
 * Node's modules with `import()`, which works whether the source runs as CommonJS (the default) or as an
 * ES module (under `--input-type=module`, which workers inherit). It reads the caller's open file
 * descriptor at explicit positions until EOF and posts the digest, or the read error's `code` and message;
 * between chunks it looks at the shared yield flag and, once set, lowers its own priority.
 */
const WORKER_SOURCE = `
${LINE_COUNTER_SOURCE}
Promise.all([
  import("node:worker_threads"),
  import("node:fs"),
  import("node:crypto"),
  import("node:os"),
]).then(([{ parentPort, workerData }, { readSync }, { createHash }, { setPriority }]) => {
  const yieldFlag = new Int32Array(workerData.yieldFlag);
  let lowered = false;
  const hash = createHash("sha256");
  const buffer = Buffer.allocUnsafe(workerData.chunkBytes);
  let bytes = 0;
  const counter = lineCounter();
  try {
    for (;;) {
      if (!lowered && Atomics.load(yieldFlag, 0) === 1) {
        lowered = true;
        if (workerData.canLower) {
          try { setPriority(0, 19); } catch {}
        }
      }
      const n = readSync(workerData.fd, buffer, 0, buffer.length, bytes);
      if (n === 0) break;
      const chunk = n === buffer.length ? buffer : buffer.subarray(0, n);
      hash.update(chunk);
      bytes += n;
      counter.write(chunk);
    }
    parentPort.postMessage({ sha256: hash.digest("hex"), bytes, lines: counter.end() });
  } catch (error) {
    parentPort.postMessage({
      error: {
        message: String(error && error.message),
        code: error && error.code,
        errno: error && error.errno,
        syscall: error && error.syscall,
      },
    });
  }
});
`;

type WorkerAnswer =
  | { sha256: string; bytes: number; lines: LineCount; error?: undefined }
  | { error: { message: string; code?: string; errno?: number; syscall?: string } };

/**
 * SHA-256 of a local file, computed in a worker thread at normal priority until `yieldToReader()` says
 * DuckDB now reads the file (or other heavy work starts); from then on at background priority (on Linux),
 * so that it takes only CPU time nothing else wants: the read is not slowed down, and the hash used the
 * idle core fully before it began. A hash awaited at once is never lowered (at background priority a
 * busy machine could starve it).
 * The file is opened here first — a missing or unreadable file fails at once, with the error
 * `open` gives; at most {@link CONCURRENT_HASHES} files are hashed at once, the others wait their turn. Should the worker not start or die, the file is hashed on this thread instead
 * (`hashStream`): a digest is always produced, or a real read error reported.
 *
 * @example
 * const hashing = await hashInBackground("/srv/landing/in/a.csv");
 * hashing.yieldToReader(); // DuckDB starts reading the file
 * try { const { sha256, bytes } = await hashing.digest; } finally { await hashing.release(); }
 */
export async function hashInBackground(path: string): Promise<BackgroundHash> {
  const handle = await open(path, "r");
  // Read by the worker between chunks: 1 once the hash should take only idle CPU.
  const yieldFlag = new SharedArrayBuffer(4);
  let released = false;
  let worker: Worker | undefined;
  let stream: Readable | undefined;
  let wake: (() => void) | undefined;

  const inWorker = (): Promise<ContentDigest | undefined> =>
    new Promise((resolve, reject) => {
      try {
        worker = new Worker(WORKER_SOURCE, {
          eval: true,
          workerData: {
            fd: handle.fd,
            chunkBytes: CHUNK_BYTES,
            // On Linux the nice value belongs to each thread (libuv's setpriority(PRIO_PROCESS, 0) acts on
            // the calling thread), so the worker lowers only its own. On macOS and Windows the same call
            // lowers the whole process — DuckDB's threads too — so it is left alone there.
            canLower: process.platform === "linux",
            yieldFlag,
          },
        });
      } catch {
        resolve(undefined);
        return;
      }
      let answered = false;
      worker.on("message", (answer: WorkerAnswer) => {
        answered = true;
        if (answer.error) reject(Object.assign(new Error(answer.error.message), answer.error));
        else resolve({ sha256: answer.sha256, bytes: answer.bytes, lines: answer.lines });
      });
      // A worker that fails to start or dies is seen at its exit (without an answer).
      worker.on("error", () => undefined);
      worker.on("exit", () => {
        worker = undefined;
        if (!answered) resolve(undefined);
      });
    });

  const digest = (async (): Promise<ContentDigest> => {
    let free: (() => void) | undefined;
    try {
      free = await takeSlot(
        () => released,
        (waker) => {
          wake = waker;
        },
      );
      if (!free) throw releasedError();
      const done = await inWorker();
      if (done) return done;
      if (released) throw releasedError();
      // The worker could not hash the file: hash it here.
      stream = handle.createReadStream({ start: 0, highWaterMark: 1 << 20, autoClose: false });
      return await hashStream(stream);
    } catch (error) {
      throw released ? releasedError() : error;
    } finally {
      free?.();
      stream = undefined;
      await handle.close().catch(() => undefined);
    }
  })();
  digest.catch(() => undefined);

  return {
    digest,
    yieldToReader() {
      Atomics.store(new Int32Array(yieldFlag), 0, 1);
    },
    async release() {
      released = true;
      if (wake) {
        // Still waiting for its turn: leave the queue now.
        slots.waiting.delete(wake);
        wake();
      }
      await worker?.terminate();
      stream?.destroy();
      await digest.then(
        () => undefined,
        () => undefined,
      );
    },
  };
}

function releasedError(): Error {
  return Object.assign(new Error("the file's hash was stopped before it finished"), {
    code: "ERR_HASH_RELEASED",
  });
}
