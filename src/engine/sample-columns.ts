import type { DuckDBConnection } from "@duckdb/node-api";
import type { PipelineConfig } from "../config/schema.js";
import { normalizeColumnNames } from "../plan/column-names.js";
import type { DataColumn } from "../plan/column-references.js";
import { resolveDeclaredColumns } from "../plan/declared-columns.js";
import { formatFromName } from "../plan/landing-paths.js";
import { flattensNested } from "../plan/nested-json.js";
import { jsonStructureType, userCsvOptions } from "../plan/read-sql.js";
import { type ColumnInfo, quoteLiteral } from "../plan/sql-text.js";
import { queryRows } from "./duckdb-query.js";
import { nestedJsonColumns } from "./nested-json-columns.js";

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
  let sql: string;
  if (format === "csv") {
    sql = `DESCRIBE SELECT * FROM read_csv(${[path, ...userCsvOptions(source.options), "ignore_errors=true", "max_line_size=33554432", "buffer_size=33554432"].join(", ")})`;
  } else if (format === "jsonl") {
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
    const sourceNames = format === "csv" ? await headerAsWritten(con, path, source, described) : described;
    const names = normalizeColumnNames(sourceNames, pipeline.naming);
    const { columns } = resolveDeclaredColumns(pipeline);
    const declared = (name: string) => columns.find((c) => c.name === name)?.config.type;
    return [
      ...names.map((name, i) => ({
        name,
        sourceName: sourceNames[i],
        type: declared(name) ?? String(rows[i]!.column_type),
      })),
      // A derived column's type is only known from the data: text binds with most expressions.
      ...Object.keys(pipeline.derive).map((name) => ({
        name,
        type: declared(name) ?? "VARCHAR",
        derived: true,
      })),
    ];
  } catch {
    return undefined;
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

/**
 * DuckDB's reader renames a repeated header name (`E,e` → `E`, `e_1`); the rows Sluice stages name
 * them from the header as written (`E`, `e_2`): the sample must too. The first line is read as text, and
 * a described name that is a written one with DuckDB's suffix takes the written one.
 */
async function headerAsWritten(
  con: DuckDBConnection,
  path: string,
  source: { options?: Parameters<typeof userCsvOptions>[0] },
  described: readonly string[],
): Promise<string[]> {
  if (source.options?.header === false) return [...described];
  const options = userCsvOptions({ ...source.options, header: undefined });
  const first =
    (
      await queryRows(
        con,
        `SELECT * FROM read_csv(${[path, ...options, "header=false", "all_varchar=true", "ignore_errors=true", "max_line_size=33554432", "buffer_size=33554432"].join(", ")}) LIMIT 1`,
      ).catch(() => [])
    )[0] ?? {};
  const written = Object.values(first);
  if (written.length !== described.length) return [...described];
  return described.map((name, i) => {
    const raw = written[i];
    return typeof raw === "string" && name !== raw && /^(.*)_\d+$/.exec(name)?.[1] === raw ? raw : name;
  });
}
