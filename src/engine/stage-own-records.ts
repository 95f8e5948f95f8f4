import type { DuckDBConnection } from "@duckdb/node-api";
import type { ColumnConfig, FileSourceConfig, NestedConfig } from "../config/schema.js";
import { flattensNested } from "../plan/nested-json.js";
import { jsonStructureType, type StagedColumn } from "../plan/read-sql.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import { queryNumber, queryRows } from "./duckdb-query.js";
import { nestedJsonColumns } from "./nested-json-columns.js";
import { KIND, type OwnRecords } from "./own-records.js";

/** A chunk's records and the file holding its good lines (the chunk itself when it has no poison). */
export interface OwnRecordsRead extends OwnRecords {
  readonly path: string;
  /** Bytes of the longest line. */
  readonly longestLine: number;
}

/** What {@link stageOwnRecords} needs of the stage request. */
export interface OwnStageContext {
  readonly tablePrefix: string;
  readonly table: string;
  readonly malformedTable: string;
  readonly source: FileSourceConfig & { readonly nested?: NestedConfig | undefined };
  readonly columns: Readonly<Record<string, ColumnConfig>>;
  readonly naming: "snake_case" | "keep";
}

/** The stage-file helpers the one-pass read shares with the file way (passed in: no import cycle). */
export interface OwnStageHelpers {
  readonly declaredFor: (
    columns: Readonly<Record<string, ColumnConfig>>,
    name: string,
  ) => ColumnConfig | undefined;
  readonly castIntoStage: (
    con: DuckDBConnection,
    ctx: Pick<OwnStageContext, "tablePrefix" | "table" | "malformedTable">,
    spec: { from: string; casts: readonly OwnCast[]; lineSql: string; rawSql: string; after?: string },
  ) => Promise<void>;
  readonly maxColumns: number;
}

interface OwnCast {
  readonly name: string;
  readonly valueSql: string;
  readonly type: string;
  readonly config: ColumnConfig | undefined;
  readonly cast: boolean;
}

/** More poison lines than this: their line numbers are not worth a list in SQL; read the file way. */
const MAX_POISON = 1_000;

/** The work table of the one-pass read (`<prefix>_own`). */
export function ownTable(prefix: string): string {
  return `${prefix}_own`;
}

/**
 * Stages a chunk Sluice wrote from records it parsed (a stream batch) in one pass: `read_json` with the
 * known keys as columns, instead of the file way's lines → parse → `json_group_structure` → extraction.
 * It gives what the file way gives — the same columns (names, types: a number key's type is its values'
 * `json_group_structure`), values (the text `json_extract_string` gives, cast the same way), line numbers
 * and malformed rows (poison lines) — or undefined where it does not apply: records not flat, a key's
 * values of two kinds, a JSON column, `nested:` flattening, a declared type a value does not fit. It
 * throws where DuckDB reads a record otherwise than JavaScript did (a lone surrogate escape, a duplicate
 * key). Either way the caller stages the chunk the file way instead, from a clean slate.
 *
 * @example
 * const columns = await stageOwnRecords(con, ctx, records, helpers); // undefined: read it the file way
 */
export async function stageOwnRecords(
  con: DuckDBConnection,
  ctx: OwnStageContext,
  records: OwnRecordsRead,
  helpers: OwnStageHelpers,
): Promise<StagedColumn[] | undefined> {
  const { keys } = records;
  if (!records.flat || flattensNested(ctx.source.nested) || keys.length === 0) return undefined;
  if (keys.length > helpers.maxColumns || records.poison.length > MAX_POISON) return undefined;
  for (const key of keys) {
    const kinds = key.kinds & ~KIND.null;
    // One kind of value besides null (two kinds make a JSON column).
    if ((kinds & (kinds - 1)) !== 0 || (kinds & KIND.nested) !== 0) return undefined;
  }
  const own = ownTable(ctx.tablePrefix);
  const isNumber = keys.map((k) => (k.kinds & KIND.number) !== 0);
  const alias = keys.map((_, i) => `c${i + 1}`);
  // Numbers are read as JSON: their structure is asked of DuckDB (it tells 1 from 1.0, which JSON.parse
  // does not), and their text is what the file way's json_extract_string gives.
  const read = `read_json(${quoteLiteral(records.path)}, format='newline_delimited', records=true, columns={${keys
    .map((k, i) => `${quoteLiteral(k.name)}: '${isNumber[i] ? "JSON" : "VARCHAR"}'`)
    .join(", ")}}, maximum_object_size=${Math.max(16 * 1024 * 1024, records.longestLine + 1)})`;
  // The n-th good record's line in the chunk: n plus the poison lines before it (poison i stands after
  // line - i good records).
  const before = records.poison.map((p, i) => p.line - (i + 1));
  const lineSql = before.length > 0 ? `o + len(list_filter([${before.join(", ")}], x -> x < o))` : "o";
  await con.run(`CREATE OR REPLACE TEMP TABLE ${quoteIdent(own)} AS
    SELECT (${lineSql})::BIGINT AS line, ${alias.join(", ")} FROM ${read} WITH ORDINALITY AS r(${alias.join(", ")}, o)`);
  const numbers = alias.filter((_, i) => isNumber[i]);
  const [structures] =
    numbers.length > 0
      ? await queryRows(
          con,
          `SELECT ${numbers.map((a) => `json_group_structure(${a})::VARCHAR AS ${a}`).join(", ")} FROM ${quoteIdent(own)}`,
        )
      : [{}];
  const structure: Record<string, unknown> = {};
  keys.forEach((key, i) => {
    if (isNumber[i]) structure[key.name] = JSON.parse(String(structures?.[alias[i]!]));
    else if (key.kinds & KIND.string) structure[key.name] = "VARCHAR";
    else if (key.kinds & KIND.boolean) structure[key.name] = "BOOLEAN";
    else structure[key.name] = "NULL";
  });
  const nested = nestedJsonColumns(structure, ctx.source.nested, ctx.columns, ctx.naming);
  const columns: StagedColumn[] = nested.leaves.map((leaf) => {
    const declared = helpers.declaredFor(ctx.columns, leaf.name);
    return {
      name: leaf.name,
      sourceName: leaf.sourceName,
      type: declared?.type ?? jsonStructureType(leaf.structure),
      declared: declared?.type !== undefined,
    };
  });
  if (columns.some((c) => c.type.toUpperCase() === "JSON")) return undefined;
  if (records.poison.length > 0) {
    await con.run(`INSERT INTO ${quoteIdent(ctx.malformedTable)}
      SELECT line, 'INVALID JSON', 'line is not valid JSON', left(text, 1000000)
      FROM (VALUES ${records.poison.map((p) => `(${p.line}, ${quoteLiteral(p.text)})`).join(", ")}) AS t(line, text)`);
  }
  await helpers.castIntoStage(con, ctx, {
    from: `(SELECT line, ${alias.join(", ")} FROM ${quoteIdent(own)})`,
    casts: columns.map((c, i) => ({
      name: c.name,
      valueSql: isNumber[i] ? `${alias[i]}::VARCHAR` : alias[i]!,
      type: c.type,
      config: helpers.declaredFor(ctx.columns, c.name),
      cast: c.type.toUpperCase() !== "VARCHAR",
    })),
    lineSql: "line",
    // A value that does not fit its type sends the chunk the file way (which quarantines it with its record).
    rawSql: "NULL::VARCHAR",
    after: `DROP TABLE ${quoteIdent(own)}`,
  });
  if (columns.some((c) => c.type.toUpperCase() !== "VARCHAR")) {
    const misfits = await queryNumber(
      con,
      `SELECT count(*) FROM ${quoteIdent(ctx.malformedTable)} WHERE error_type = 'CAST'`,
    );
    if (misfits > 0) return undefined;
  }
  return columns;
}
