import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll } from "vitest";

/** An in-memory DuckDB and a scratch folder, shared by the tests of one file. */
export interface MemoryDuckdb {
  readonly dir: string;
  readonly instance: DuckDBInstance;
  readonly con: DuckDBConnection;
}

/** Opens both before the file's tests and closes and removes them after (call at the file's top level). */
export function useMemoryDuckdb(prefix: string): MemoryDuckdb {
  let opened: MemoryDuckdb | undefined;
  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    const instance = await DuckDBInstance.create(":memory:");
    opened = { dir, instance, con: await instance.connect() };
  });
  afterAll(async () => {
    if (!opened) return;
    opened.con.closeSync();
    opened.instance.closeSync();
    await rm(opened.dir, { recursive: true, force: true });
  });
  const get = (): MemoryDuckdb => {
    if (!opened) throw new Error("useMemoryDuckdb: read before the file's beforeAll ran");
    return opened;
  };
  return {
    get dir() {
      return get().dir;
    },
    get instance() {
      return get().instance;
    },
    get con() {
      return get().con;
    },
  };
}
