import type { Readable } from "node:stream";
import type { Storage, StorageEntry } from "./storage.js";

/**
 * A Storage whose implementation is loaded on first use: commands that never touch a remote landing
 * zone (query, runs, validate) do not pay for loading the AWS SDK at start-up.
 *
 * @example
 * const landing = lazyStorage("s3", "s3://bucket/landing", async () => (await import("./open-storage.js")).openStorage(url, opts));
 */
export function lazyStorage(kind: Storage["kind"], root: string, load: () => Promise<Storage>): Storage {
  let loading: Promise<Storage> | undefined;
  const get = (): Promise<Storage> => {
    loading ??= load();
    return loading;
  };
  return {
    kind,
    root,
    async *list(prefix, options): AsyncIterable<StorageEntry> {
      yield* (await get()).list(prefix, options);
    },
    stat: async (path) => (await get()).stat(path),
    createReadStream: async (path): Promise<Readable> => (await get()).createReadStream(path),
    readFile: async (path) => (await get()).readFile(path),
    writeFile: async (path, data, options) => (await get()).writeFile(path, data, options),
    putLocalFile: async (localPath, path) => (await get()).putLocalFile(localPath, path),
    move: async (from, to) => (await get()).move(from, to),
    copy: async (from, to) => (await get()).copy(from, to),
    delete: async (path) => (await get()).delete(path),
    checkPath: async (path) => (await get()).checkPath(path),
    localPath: () => undefined,
    completeLog: async (dir) => (await get()).completeLog?.(dir),
  };
}
