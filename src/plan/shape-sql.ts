import type { PipelineConfig } from "../config/schema.js";
import type { StagedColumn } from "./read-sql.js";
import { quoteIdent, quoteLiteral } from "./sql-text.js";

/** Values stamped on every target row of a file. */
export interface RowMetadata {
  readonly runId: string;
  readonly sourceFile: string;
  readonly loadedAt: Date;
  /** A column of the stage naming each row's file (files staged together), used instead of `sourceFile`. */
  readonly sourceFileColumn?: string | undefined;
}

/**
 * The SELECT that turns a staged file into target rows: source columns (less `mask: drop`),
 * `derive:` columns in order (each may use the ones before it), then the metadata columns. Pure.
 *
 * @example
 * shapeSql("f1_stage", columns, pipeline, { runId, sourceFile: "in/a.csv", loadedAt: new Date() }, "NOT _sluice_quarantined")
 */
export function shapeSql(
  stageTable: string,
  columns: readonly Pick<StagedColumn, "name">[],
  pipeline: Pick<PipelineConfig, "derive" | "columns">,
  meta: RowMetadata,
  where?: string,
  valueSql: (column: string) => string = quoteIdent,
): string {
  const kept = columns.filter((c) => pipeline.columns[c.name]?.mask !== "drop");
  const fileColumn = meta.sourceFileColumn ? quoteIdent(meta.sourceFileColumn) : undefined;
  const values =
    kept.map((c) => `${valueSql(c.name)} AS ${quoteIdent(c.name)}`).join(", ") || "NULL AS _sluice_empty";
  let sql = `SELECT ${values}${fileColumn ? `, ${fileColumn}` : ""} FROM ${quoteIdent(stageTable)}${where ? ` WHERE ${where}` : ""}`;
  for (const [name, expression] of Object.entries(pipeline.derive)) {
    sql = `SELECT *, (${expression}) AS ${quoteIdent(name)} FROM (${sql})`;
  }
  const excluded = [...(kept.length === 0 ? ["_sluice_empty"] : []), ...(fileColumn ? [fileColumn] : [])];
  const exclude = excluded.length > 0 ? ` EXCLUDE (${excluded.join(", ")})` : "";
  const sourceFile = fileColumn ?? quoteLiteral(meta.sourceFile);
  return `SELECT *${exclude}, ${quoteLiteral(meta.runId)} AS _sluice_run_id, ${sourceFile} AS _sluice_source_file, ${quoteLiteral(meta.loadedAt.toISOString())}::TIMESTAMPTZ AS _sluice_loaded_at FROM (${sql})`;
}
