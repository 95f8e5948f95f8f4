import { rm } from "node:fs/promises";
import type { DuckDBConnection } from "@duckdb/node-api";
import type { StagedQuery } from "../engine/stage-query.js";
import { scratchDirAsync } from "../storage/scratch-dir.js";
import type { DatabaseStageRequest } from "./database-request.js";

/**
 * Extracts a database source (`source.database`: postgres:// or mysql:// / mariadb://) into the engine,
 * staged exactly as a warehouse source is, so checks, quarantine, masks, dedupe and write modes apply.
 *
 * @example
 * const staged = await stageDatabaseSource(engine, { source: { database: url, table: "orders" }, columns: {}, tablePrefix: "q0" });
 */
export async function stageDatabaseSource(
  engine: DuckDBConnection,
  request: Omit<DatabaseStageRequest, "workDir">,
): Promise<StagedQuery> {
  const workDir = await scratchDirAsync("extract-");
  try {
    const full = { ...request, workDir };
    // Each driver loads on first use: every other command starts without parsing it.
    return /^postgres(ql)?:\/\//i.test(request.source.database)
      ? await (await import("./postgres-extract.js")).extractPostgres(engine, full)
      : await (await import("./mysql-extract.js")).extractMysql(engine, full);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * The source's name in reports and the ledger: its kind and table (`postgres:public.customers`), or
 * `postgres:query:<pipeline>`; never the URL (it may hold a password).
 *
 * @example
 * databaseSourcePath("shop", { database: "mysql://root@db/shop", table: "orders" }) // "mysql:orders"
 */
export function databaseSourcePath(
  pipeline: string,
  source: { readonly database: string; readonly table?: string | undefined },
): string {
  const kind = /^postgres(ql)?:\/\//i.test(source.database) ? "postgres" : "mysql";
  return source.table !== undefined ? `${kind}:${source.table}` : `${kind}:query:${pipeline}`;
}
