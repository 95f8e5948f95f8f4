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

/**
 * Writes `text` (ending with a line break) zstd-compressed to `path`, byte for byte: DuckDB's CSV
 * writer emits it as one unquoted field and adds the final line break itself.
 */
export async function writeZstdText(path: string, text: string): Promise<void> {
  if (!text.endsWith("\n")) throw new Error("writeZstdText: the text must end with a line break");
  const body = text.slice(0, -1).replaceAll("'", "''");
  await writeWithDuckDb(
    path,
    `SELECT '${body}' AS content`,
    "FORMAT csv, HEADER false, QUOTE '', ESCAPE '', DELIMITER '\x01', COMPRESSION zstd",
  );
}
