import { DuckDBInstance } from "@duckdb/node-api";

/** Runs a DuckDB `COPY (<select>) TO <path> (<options>)`: test files in any format DuckDB writes. */
export async function writeWithDuckDb(path: string, select: string, options: string): Promise<void> {
  const instance = await DuckDBInstance.create(":memory:");
  const con = await instance.connect();
  await con.run(`COPY (${select}) TO '${path.replaceAll("'", "''")}' (${options})`);
  con.closeSync();
  instance.closeSync();
}

/** Writes a Parquet file from a DuckDB SELECT. */
export function writeParquet(path: string, select: string): Promise<void> {
  return writeWithDuckDb(path, select, "FORMAT parquet");
}
