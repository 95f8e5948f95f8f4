import { createReadStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import type { DuckDBConnection } from "@duckdb/node-api";
import type { PoolClient } from "pg";
import { from as copyFrom } from "pg-copy-streams";
import type { TypedColumn } from "../plan/schema-plan.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import { csvExportExpression } from "../plan/type-evolution.js";

/**
 * Moves rows from the DuckDB engine into a PostgreSQL table in bulk: DuckDB writes them to a CSV file
 * (`COPY (...) TO`), which is streamed into `COPY <table> FROM STDIN (FORMAT csv)`. Never row by row.
 *
 * @example
 * await copyEngineRows(engine, client, "SELECT * FROM sluice_batch", columns, "sluice_stage", "/tmp/x/batch.csv");
 */
export async function copyEngineRows(
  engine: DuckDBConnection,
  client: PoolClient,
  selectSql: string,
  columns: readonly (TypedColumn & { readonly engineType: string })[],
  table: string,
  file: string,
): Promise<void> {
  const exprs = columns.map(
    (c) => `${csvExportExpression(quoteIdent(c.name), c.engineType)} AS ${quoteIdent(c.name)}`,
  );
  await engine.run(
    `COPY (SELECT ${exprs.join(", ")} FROM (${selectSql})) TO ${quoteLiteral(file)} (FORMAT csv, HEADER false)`,
  );
  const stream = client.query(
    copyFrom(`COPY ${table} (${columns.map((c) => quoteIdent(c.name)).join(", ")}) FROM STDIN (FORMAT csv)`),
  );
  await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), stream);
}
