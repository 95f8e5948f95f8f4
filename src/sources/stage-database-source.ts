import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import type { StagedQuery } from "../engine/stage-query.js";
import { scratchDirAsync } from "../storage/scratch-dir.js";
import type { DatabaseStageRequest } from "./database-request.js";

/**
 * Extracts a database source (`source.database`: postgres:// or mysql:// / mariadb://) into the engine,
 * staged exactly as a warehouse source is, so checks, quarantine, masks, dedupe and write modes apply.
 *
 * @example
 * const staged = await stageDatabaseSource(engine, { source: { database: url, table: "orders" }, columns: {}, tablePrefix: "q0" }, run.workDir);
 */
export async function stageDatabaseSource(
  engine: DuckDBConnection,
  request: Omit<DatabaseStageRequest, "workDir" | "filesOutliveStage">,
  runDir?: string,
): Promise<StagedQuery> {
  // In the run's folder the scratch CSV can outlive the stage (a view reads it at the publish); each
  // attempt gets a folder of its own, removed when it fails.
  const workDir = runDir ? await mkdtemp(join(runDir, "extract-")) : await scratchDirAsync("extract-");
  let kept = false;
  try {
    const full = { ...request, workDir, filesOutliveStage: runDir !== undefined };
    // Each driver loads on first use: every other command starts without parsing it.
    const staged = /^postgres(ql)?:\/\//i.test(request.source.database)
      ? await (await import("./postgres-extract.js")).extractPostgres(engine, full)
      : await (await import("./mysql-extract.js")).extractMysql(engine, full);
    kept = runDir !== undefined;
    return staged;
  } finally {
    if (!kept) await rm(workDir, { recursive: true, force: true });
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
