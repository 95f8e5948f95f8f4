import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import type { FileSourceConfig, PipelineConfig } from "../config/schema.js";
import { normalizeColumnNames } from "../plan/column-names.js";
import type { DataColumn } from "../plan/column-references.js";
import { resolveDeclaredColumns } from "../plan/declared-columns.js";
import { formatFromName } from "../plan/landing-paths.js";
import { flattensNested } from "../plan/nested-json.js";
import { jsonStructureType } from "../plan/read-sql.js";
import { type ColumnInfo, quoteLiteral } from "../plan/sql-text.js";
import { queryRows } from "./duckdb-query.js";
import { nestedJsonColumns } from "./nested-json-columns.js";
import { describeCsvFile } from "./stage-file.js";

/** A column of a sample file (or a derived one), with its type. */
export type SampledColumn = ColumnInfo & DataColumn;

/**
 * The columns a pipeline's rows will have, read from a sample file's header or schema (no data is
 * loaded): normalized source columns (declared type, else the sniffed one) with their source names,
 * plus `derive:` columns. Undefined when the file cannot be described.
 *
 * @example
 * await sampleColumns(con, "landing/in/orders/a.csv", pipeline) // [{ name: "order_id", type: "BIGINT" }, ...]
 */
export async function sampleColumns(
  con: DuckDBConnection,
  localPath: string,
  pipeline: PipelineConfig,
): Promise<SampledColumn[] | undefined> {
  if (!("path" in pipeline.source)) return undefined;
  const source = pipeline.source;
  const format = source.format ?? formatFromName(localPath);
  const path = quoteLiteral(localPath);
  if ((format === "json" || format === "jsonl") && flattensNested(pipeline.nested)) {
    return sampleNestedColumns(con, path, format, pipeline).catch(() => undefined);
  }
  if (format === "csv") return sampleCsvColumns(con, localPath, pipeline).catch(() => undefined);
  let sql: string;
  if (format === "jsonl") {
    sql = `DESCRIBE SELECT * FROM read_json(${path}, format='newline_delimited', ignore_errors=true)`;
  } else if (format === "json") {
    // An array, one object or JSON lines: DuckDB tells them apart.
    sql = `DESCRIBE SELECT * FROM read_json(${path}, format='auto', records=true, ignore_errors=true)`;
  } else if (format === "parquet") {
    sql = `DESCRIBE SELECT * FROM read_parquet(${path})`;
  } else {
    return undefined;
  }
  try {
    const rows = await queryRows(con, sql);
    const described = rows.map((r) => String(r.column_name));
    return withDeclared(
      pipeline,
      described,
      rows.map((r) => String(r.column_type)),
    );
  } catch {
    return undefined;
  }
}

/** Sampled columns from source names and types: normalized, declared types winning, plus `derive:` ones. */
function withDeclared(
  pipeline: PipelineConfig,
  sourceNames: readonly (string | null)[],
  types: readonly string[],
): SampledColumn[] {
  const names = normalizeColumnNames(sourceNames, pipeline.naming);
  const { columns } = resolveDeclaredColumns(pipeline);
  const declared = (name: string) => columns.find((c) => c.name === name)?.config.type;
  return [
    ...names.map((name, i) => ({
      name,
      sourceName: sourceNames[i] ?? name,
      type: declared(name) ?? types[i] ?? "VARCHAR",
    })),
    // A derived column's type is only known from the data: text binds with most expressions.
    ...Object.keys(pipeline.derive).map((name) => ({
      name,
      type: declared(name) ?? "VARCHAR",
      derived: true,
    })),
  ];
}

/**
 * A CSV sample's columns found as a run stages the file (see `describeCsvFile`): the same layout
 * detection and header repair, so a messy file lists the columns a run loads.
 */
async function sampleCsvColumns(
  con: DuckDBConnection,
  localPath: string,
  pipeline: PipelineConfig,
): Promise<SampledColumn[]> {
  const source = pipeline.source as FileSourceConfig;
  // A header with a stray quote is read through a copy (as a run does): it goes in a folder of its own.
  const workDir = await mkdtemp(join(tmpdir(), "sluice-sample-"));
  try {
    const { names, types } = await describeCsvFile(con, {
      localPath,
      displayPath: localPath,
      format: "csv",
      source,
      columns: {},
      naming: pipeline.naming,
      tablePrefix: "sluice_validate_sample",
      workDir,
    });
    return withDeclared(pipeline, names, types);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/** The columns of a JSON sample as `nested: flatten | tables` stages them (paths inside JSON columns too). */
async function sampleNestedColumns(
  con: DuckDBConnection,
  path: string,
  format: "json" | "jsonl",
  pipeline: PipelineConfig,
): Promise<SampledColumn[]> {
  const layout = format === "jsonl" ? "newline_delimited" : "auto";
  const rows = await queryRows(
    con,
    `SELECT json_group_structure(json)::VARCHAR AS s FROM read_json(${path}, format='${layout}', records=false, ignore_errors=true) WHERE json_type(json) = 'OBJECT'`,
  );
  const text = rows[0]?.s;
  const structure = typeof text === "string" ? (JSON.parse(text) as Record<string, unknown>) : {};
  const { columns } = resolveDeclaredColumns(pipeline);
  const declared = new Map(columns.map((c) => [c.name, c.config]));
  const staged = nestedJsonColumns(structure, pipeline.nested, Object.fromEntries(declared), pipeline.naming);
  return [
    ...staged.leaves.map((leaf) => ({
      name: leaf.name,
      sourceName: leaf.sourceName,
      type: declared.get(leaf.name)?.type ?? jsonStructureType(leaf.structure),
      inside: leaf.inside,
    })),
    ...(staged.rowId ? [{ name: staged.rowId.column.name, type: "VARCHAR" }] : []),
    ...Object.keys(pipeline.derive).map((name) => ({
      name,
      type: declared.get(name)?.type ?? "VARCHAR",
      derived: true,
    })),
  ];
}
