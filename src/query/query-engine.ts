import { existsSync } from "node:fs";
import { basename } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { confineEngine, ENGINE_OPEN_SETTINGS } from "../engine/engine-boundary.js";
import { firstLine, SluiceError } from "../errors.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import type { ProjectContext } from "../run/project-context.js";

/** The DuckDB session of `sluice query`. */
export interface QueryEngine {
  readonly con: DuckDBConnection;
  /** Whether the warehouse file was attached (false before the first run). */
  readonly hasWarehouse: boolean;
  close(): void;
}

/** Options of {@link openQueryEngine}. */
export interface QueryEngineOptions {
  /** Folders the query may read besides the project's own (`--delta` tables named on the command line). */
  readonly directories?: readonly string[];
  readonly waitMs?: number;
}

/**
 * Opens the query session: an in-memory DuckDB that ATTACHes the embedded warehouse READ_ONLY and
 * makes it the default database (plain table names resolve to the warehouse), plus an in-memory
 * database `lake` for the lake views. A read-only DuckDB cannot host writable schemas, hence this shape.
 * Waits like the warehouse does while another process holds the file for writing. Then the session is
 * confined: the query reaches the project's folders (and `directories`) only, and cannot change a setting.
 *
 * @example
 * const engine = await openQueryEngine(ctx); try { ... } finally { engine.close(); }
 */
export async function openQueryEngine(
  ctx: ProjectContext,
  options: QueryEngineOptions = {},
): Promise<QueryEngine> {
  // With a PostgreSQL warehouse this session holds only the lake views.
  const file = ctx.warehouseFile;
  const waitMs = options.waitMs ?? lockWait();
  const instance = await DuckDBInstance.create(":memory:", ENGINE_OPEN_SETTINGS);
  const con = await instance.connect();
  const close = () => {
    con.closeSync();
    instance.closeSync();
  };
  try {
    const hasWarehouse = file !== undefined && existsSync(file);
    if (hasWarehouse) {
      const alias = basename(file!).replace(/\.[^.]*$/, "") || "warehouse";
      await attachWithWait(con, file!, alias, waitMs, ctx.notice);
      await con.run(`USE ${quoteIdent(alias)}`);
    }
    await con.run("ATTACH ':memory:' AS lake");
    const boundary = ctx.engineBoundary();
    await confineEngine(con, {
      directories: [...boundary.directories, ...(options.directories ?? [])],
      lockConfiguration: true,
    });
    return { con, hasWarehouse, close };
  } catch (error) {
    close();
    throw error;
  }
}

async function attachWithWait(
  con: DuckDBConnection,
  file: string,
  alias: string,
  waitMs: number,
  notice: (message: string) => void,
): Promise<void> {
  const started = Date.now();
  let told = false;
  for (let attempt = 0; ; attempt++) {
    try {
      await con.run(`ATTACH ${quoteLiteral(file)} AS ${quoteIdent(alias)} (READ_ONLY)`);
      return;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (!/lock/i.test(message)) {
        throw new SluiceError(
          "WAREHOUSE_ERROR",
          `${file}: cannot open the warehouse: ${firstLine(message)}`,
          {
            cause: error,
          },
        );
      }
      if (Date.now() - started >= waitMs) {
        throw new SluiceError(
          "WAREHOUSE_LOCKED",
          `${file}: locked by another Sluice process; gave up after ${Math.round((Date.now() - started) / 1000)}s (set SLUICE_LOCK_WAIT to wait longer)`,
          { transient: true, cause: error },
        );
      }
      if (!told && Date.now() - started >= 1500) {
        told = true;
        notice(`waiting for ${file}: in use by another Sluice process…`);
      }
      await sleep(Math.min(100 * 1.5 ** attempt, 1000));
    }
  }
}

function lockWait(): number {
  const match = /^(\d+)(ms|s|m)?$/.exec((process.env.SLUICE_LOCK_WAIT ?? "").trim());
  if (!match) return 120_000;
  const n = Number(match[1]);
  return match[2] === "ms" ? n : match[2] === "m" ? n * 60_000 : n * 1000;
}
