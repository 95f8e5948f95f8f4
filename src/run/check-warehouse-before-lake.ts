import type { TargetConfig } from "../config/schema.js";
import { describeColumns } from "../engine/duckdb-query.js";
import { batchTable, checkBatchKeys, prepareBatch } from "../warehouse/prepare-batch.js";
import type { Warehouse } from "../warehouse/warehouse.js";
import { checkTargetSchema, type TargetSchemaRequest } from "../warehouse/write-batch.js";

const view = "sluice_lake_key_check";

/**
 * What the warehouse table would refuse of a run's rows, checked before the lake commit: its key checks
 * (no NULL key, no key twice for merge/scd2, ...) and its schema checks (`schema_evolution`, types that do
 * not convert, narrowing a column holding data). The lake is written first, so a batch the warehouse
 * would refuse must be refused before the lake holds it — else the run fails with its rows in the lake
 * and the next attempt writes them again. A `cdc` batch is reduced to one row per key first, as the
 * warehouse will (its op values, keys and row images checked on the way), and the reduced rows are checked.
 *
 * @example
 * await checkWarehouseBeforeLake(warehouse, rowsSql, pipeline.target, pipeline.schema_evolution);
 */
export async function checkWarehouseBeforeLake(
  warehouse: Pick<Warehouse, "dialect" | "engine" | "query">,
  rowsSql: string,
  target: TargetConfig,
  policy: "evolve" | "freeze" | "discard_columns",
): Promise<void> {
  const table = target.table;
  if (table === undefined) return;
  const engine = warehouse.engine;
  const schemaOf = (batch: TargetSchemaRequest["batch"]) =>
    checkTargetSchema({
      session: { dialect: warehouse.dialect, rows: (sql) => warehouse.query(sql) },
      engine,
      target: { ...target, table },
      batch,
      policy,
    });
  if (target.mode === "cdc") {
    // The warehouse's publish reduces the events again (into the same work table).
    try {
      await schemaOf(await prepareBatch(engine, rowsSql, target));
    } finally {
      await engine.run(`DROP TABLE IF EXISTS ${batchTable}`).catch(() => undefined);
    }
    return;
  }
  await engine.run(`CREATE OR REPLACE TEMP VIEW ${view} AS ${rowsSql}`);
  try {
    const columns = await describeColumns(engine, `SELECT * FROM ${view}`);
    await checkBatchKeys(engine, view, target, columns);
    await schemaOf({ table: view, columns });
  } finally {
    await engine.run(`DROP VIEW IF EXISTS ${view}`).catch(() => undefined);
  }
}
