import type { TargetConfig } from "../config/schema.js";
import { describeColumns } from "../engine/duckdb-query.js";
import { checkBatchKeys } from "../warehouse/prepare-batch.js";
import type { Warehouse } from "../warehouse/warehouse.js";
import { checkTargetSchema } from "../warehouse/write-batch.js";

const view = "sluice_lake_key_check";

/**
 * What the warehouse table would refuse of a run's rows, checked before the lake commit: its key checks
 * (no NULL key, no key twice for merge/scd2, ...) and its schema checks (`schema_evolution`, types that do
 * not convert, narrowing a column holding data). The lake is written first, so a batch the warehouse
 * would refuse must be refused before the lake holds it — else the run fails with its rows in the lake
 * and the next attempt writes them again. `cdc` batches are checked after their events are reduced, by
 * the warehouse.
 *
 * @example
 * await checkWarehouseBeforeLake(warehouse, rowsSql, pipeline.target, pipeline.schema_evolution);
 */
export async function checkWarehouseBeforeLake(
  warehouse: Pick<Warehouse, "kind" | "engine" | "query">,
  rowsSql: string,
  target: TargetConfig,
  policy: "evolve" | "freeze" | "discard_columns",
): Promise<void> {
  const table = target.table;
  if (table === undefined || target.mode === "cdc") return;
  const engine = warehouse.engine;
  await engine.run(`CREATE OR REPLACE TEMP VIEW ${view} AS ${rowsSql}`);
  try {
    const columns = await describeColumns(engine, `SELECT * FROM ${view}`);
    await checkBatchKeys(engine, view, target, columns);
    await checkTargetSchema({
      session: { dialect: warehouse.kind, rows: (sql) => warehouse.query(sql) },
      engine,
      target: { ...target, table },
      batch: { table: view, columns },
      policy,
    });
  } finally {
    await engine.run(`DROP VIEW IF EXISTS ${view}`).catch(() => undefined);
  }
}
