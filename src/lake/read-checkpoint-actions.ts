import type { DuckDBConnection } from "@duckdb/node-api";
import { firstLine, SluiceError } from "../errors.js";
import { quoteLiteral } from "../plan/sql-text.js";
import type { DeltaAction } from "./delta-log.js";
import { type LakeTable, localCopies } from "./lake-table.js";

/**
 * Reads the actions of a (classic or multi-part) Parquet checkpoint with DuckDB.
 *
 * @example
 * const actions = await readCheckpointActions(con, table, ["orders/_delta_log/00000000000000000010.checkpoint.parquet"]);
 */
export async function readCheckpointActions(
  con: DuckDBConnection,
  table: LakeTable,
  parts: readonly string[],
): Promise<DeltaAction[]> {
  const local = await localCopies(table.storage, parts);
  try {
    const list = local.paths.map(quoteLiteral).join(", ");
    const reader = await con.runAndReadAll(
      `SELECT CAST(to_json(t) AS VARCHAR) AS j FROM read_parquet([${list}], union_by_name = true) AS t`,
    );
    const actions: DeltaAction[] = [];
    for (const row of reader.getRows()) {
      const parsed = JSON.parse(String(row[0])) as Record<string, unknown>;
      const action: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(parsed)) if (value !== null) action[key] = value;
      actions.push(action as DeltaAction);
    }
    return actions;
  } catch (error) {
    if (error instanceof SluiceError) throw error;
    throw new SluiceError(
      "LAKE_ERROR",
      `${parts[0]}: cannot read Delta checkpoint: ${firstLine(String((error as Error).message ?? error))}`,
      { cause: error },
    );
  } finally {
    await local.cleanup();
  }
}
