import type { DuckDBConnection } from "@duckdb/node-api";
import { firstLine, SluiceError } from "../errors.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import type { ExtractColumn } from "./type-map.js";

/**
 * Reads an extract's CSV file or files (no header, `"`-quoted, NULL unquoted and empty, an empty string quoted)
 * into the temp table `table`, every column cast from its text as the type map says, numbered by line
 * like a staged file. One bulk read by the engine; a value that does not fit its type fails the stage,
 * naming the engine's conversion error. The read buffer is one line's worth (DuckDB's default is 16
 * times `max_line_size`: one 512 MiB block, past the engine's memory limit on a big extract). `inPlace`:
 * a view over the files instead of a table (the files must outlive the stage; a value that does not
 * fit then fails the read that first converts it, the publish at the latest). In place, the view is
 * two: `<table>_rows` reads the files without line numbers (returned, for the batch: numbering lines
 * with a window makes the read single-threaded and, measured, up to twice the CPU), and `table` numbers
 * them for what needs a line (checks, quarantine).
 *
 * @example
 * await loadExtract(engine, "/tmp/x/q0.csv", "sluice_q0_stage", columns, "PostgreSQL app@db:5432/shop");
 */
export async function loadExtract(
  engine: DuckDBConnection,
  file: string | readonly string[],
  table: string,
  columns: readonly ExtractColumn[],
  server: string,
  inPlace = false,
): Promise<string | undefined> {
  const csvColumns = columns.map((_, i) => `${quoteLiteral(`c${i}`)}: 'VARCHAR'`).join(", ");
  const select = columns.map((c, i) => `${c.loadSql(`c${i}`)} AS ${quoteIdent(c.name)}`);
  const read = `read_csv(${typeof file === "string" ? quoteLiteral(file) : `[${file.map(quoteLiteral).join(", ")}]`}, columns = {${csvColumns}}, header = false, auto_detect = false,
         delim = ',', quote = '"', escape = '"', allow_quoted_nulls = false, max_line_size = 33554432,
         buffer_size = 33554432)`;
  const rowsView = `${table}_rows`;
  try {
    if (!inPlace) {
      await engine.run(
        `CREATE OR REPLACE TEMP TABLE ${quoteIdent(table)} AS SELECT ${[...select, "row_number() OVER () AS _sluice_line"].join(", ")} FROM ${read}`,
      );
      return undefined;
    }
    await engine.run(
      `CREATE OR REPLACE TEMP VIEW ${quoteIdent(rowsView)} AS SELECT ${select.join(", ")} FROM ${read}`,
    );
    await engine.run(
      `CREATE OR REPLACE TEMP VIEW ${quoteIdent(table)} AS SELECT *, row_number() OVER () AS _sluice_line FROM ${quoteIdent(rowsView)}`,
    );
    return rowsView;
  } catch (error) {
    const message = error instanceof Error ? firstLine(error.message) : String(error);
    throw new SluiceError("QUERY_FAILED", `${server}: extracted rows could not be staged: ${message}`, {
      cause: error,
    });
  }
}
