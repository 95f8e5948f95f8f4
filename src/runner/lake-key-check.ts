import type { DuckDBConnection } from "@duckdb/node-api";
import type { TargetConfig } from "../config/schema.js";
import { describeColumns } from "../engine/duckdb-query.js";
import { checkBatchKeys } from "../warehouse/prepare-batch.js";

const view = "sluice_lake_key_check";

/**
 * The warehouse table's key checks (no NULL key, no key twice for merge/scd2, ...) over a run's rows,
 * before the lake commit: the lake is written first, so a batch the warehouse would refuse must be
 * refused before the lake holds it — else the run fails with its rows in the lake and the next
 * attempt writes them again. `cdc` batches are checked after their events are reduced, by the warehouse.
 *
 * @example
 * await checkWarehouseKeysBeforeLake(warehouse.engine, rowsSql, pipeline.target);
 */
export async function checkWarehouseKeysBeforeLake(
  engine: DuckDBConnection,
  rowsSql: string,
  target: TargetConfig,
): Promise<void> {
  if (target.table === undefined || target.mode === "cdc") return;
  await engine.run(`CREATE OR REPLACE TEMP VIEW ${view} AS ${rowsSql}`);
  try {
    const columns = await describeColumns(engine, `SELECT * FROM ${view}`);
    await checkBatchKeys(engine, view, target, columns);
  } finally {
    await engine.run(`DROP VIEW IF EXISTS ${view}`).catch(() => undefined);
  }
}
