import { DuckDBInstance } from "@duckdb/node-api";
import type { ColumnInfo } from "../../src/plan/sql-text.js";

/** An in-memory DuckDB with helpers to build stage tables shaped like the runner's. */
export interface StageDb {
  rows(sql: string): Promise<Record<string, unknown>[]>;
  run(sql: string): Promise<void>;
  describeTable(table: string): Promise<ColumnInfo[]>;
  /**
   * Creates a stage table from a column list (the first row carries the casts) and rows;
   * adds `_sluice_row` (1..), `_sluice_line` and `_sluice_file`. Returns its name.
   */
  stage(columns: string, values: readonly string[]): Promise<string>;
  close(): void;
}

export async function openStageDb(): Promise<StageDb> {
  const instance = await DuckDBInstance.create(":memory:");
  const con = await instance.connect();
  let counter = 0;
  const rows = async (sql: string) =>
    (await con.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
  return {
    rows,
    run: async (sql) => {
      await con.run(sql);
    },
    describeTable: async (table) =>
      (await rows(`DESCRIBE "${table}"`)).map((r) => ({
        name: String(r.column_name),
        type: String(r.column_type),
      })),
    stage: async (columns, values) => {
      counter++;
      const name = `stage_${counter}`;
      const body = values.map((v, i) => `(${v}, CAST(${i + 1} AS BIGINT))`).join(", ");
      await con.run(
        `CREATE TABLE ${name} AS SELECT *, _sluice_row + 1 AS _sluice_line, 'in/batch.csv' AS _sluice_file ` +
          `FROM (VALUES ${body}) AS v(${columns}, _sluice_row)`,
      );
      return name;
    },
    close: () => {
      con.closeSync();
      instance.closeSync();
    },
  };
}
