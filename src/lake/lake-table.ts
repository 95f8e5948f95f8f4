import { createWriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { scratchDirAsync } from "../storage/scratch-dir.js";
import type { Storage } from "../storage/storage.js";

/**
 * A lake table: a folder (`path`, relative, `/`-separated; "" for the root) inside a Storage.
 *
 * @example
 * const table: LakeTable = { storage: localStorage("lake"), path: "orders" };
 */
export interface LakeTable {
  readonly storage: Storage;
  readonly path: string;
}

/**
 * Path of `rel` inside the table, relative to the storage root.
 *
 * @example
 * tableFile({ storage, path: "orders" }, "_delta_log/00000000000000000000.json");
 */
export function tableFile(table: LakeTable, rel: string): string {
  const base = table.path.replace(/^\/+|\/+$/g, "");
  return base === "" ? rel : `${base}/${rel}`;
}

/** Human-readable location of a table, for messages. */
export function describeTable(table: LakeTable): string {
  const base = table.path.replace(/^\/+|\/+$/g, "");
  return base === "" ? table.storage.root : `${table.storage.root}/${base}`;
}

/**
 * Local paths for storage objects, for DuckDB to read. Local storage gives
 * its own paths; other backends are downloaded into a temporary folder that
 * `cleanup()` removes.
 *
 * @example
 * const local = await localCopies(storage, ["t/a.parquet"]);
 * try { use(local.paths[0]); } finally { await local.cleanup(); }
 */
export async function localCopies(
  storage: Storage,
  paths: readonly string[],
): Promise<{ readonly paths: readonly string[]; cleanup(): Promise<void> }> {
  const direct = paths.map((p) => storage.localPath(p));
  if (direct.every((p) => p !== undefined)) {
    return { paths: direct as string[], cleanup: async () => undefined };
  }
  const dir = await scratchDirAsync("lake-dl-");
  const out: string[] = [];
  let index = 0;
  for (const p of paths) {
    const local = join(dir, String(index++), p.split("/").pop() ?? "file");
    await mkdir(dirname(local), { recursive: true });
    await pipeline(await storage.createReadStream(p), createWriteStream(local));
    out.push(local);
  }
  return { paths: out, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
