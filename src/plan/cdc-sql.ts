import type { TargetConfig } from "../config/schema.js";
import {
  type ColumnDecoder,
  type DecimalShape,
  decodedInJson,
  decodeSql,
  schemaVariantColumn,
} from "./connect-schema.js";
import type { TypedColumn } from "./schema-plan.js";
import { quoteIdent, quoteLiteral } from "./sql-text.js";

const meta = ["_sluice_run_id", "_sluice_source_file", "_sluice_loaded_at"];
const isStruct = (columns: readonly TypedColumn[], name: string): boolean =>
  columns.some((c) => c.name === name && c.type.toUpperCase().startsWith("STRUCT"));
const has = (columns: readonly TypedColumn[], name: string): boolean => columns.some((c) => c.name === name);

/** The `op` spellings understood (compared trimmed and lower-cased), by what they mean. */
const OP_SPELLINGS = {
  c: ["c", "r", "i", "insert"],
  u: ["u", "update"],
  d: ["d", "delete"],
} as const;

const opText = (column: string) => `lower(trim(CAST(${column} AS VARCHAR)))`;
const spelled = (column: string, spellings: readonly string[]) =>
  `${opText(column)} IN (${spellings.map(quoteLiteral).join(", ")})`;

/** `op` spellings (c/u/d/r, insert/update/delete, I/U/D) reduced to c, u, d; NULL for any other. */
function opSql(column: string): string {
  const cases = Object.entries(OP_SPELLINGS).map(
    ([op, names]) => `WHEN ${spelled(column, names)} THEN '${op}'`,
  );
  return `CASE ${cases.join(" ")} END`;
}

/**
 * DuckDB SQL listing up to 5 events of a batch whose op is none of the spellings understood (Debezium's
 * truncate `t` is skipped, not refused), as `op` (text) and `file`. Pure.
 *
 * @example
 * unknownOpsSql("(SELECT ...)", "op", "debezium") // SELECT ... WHERE NOT (...) LIMIT 5
 */
export function unknownOpsSql(source: string, opColumn: string, format: "debezium" | "flat"): string {
  const op = quoteIdent(opColumn);
  const known = [...Object.values(OP_SPELLINGS).flat(), ...(format === "debezium" ? ["t"] : [])];
  return `SELECT CAST(${op} AS VARCHAR) AS op, _sluice_source_file AS file FROM ${source} WHERE ${op} IS NULL OR NOT ${spelled(op, known)} LIMIT 5`;
}

/** DuckDB expression of a column as JSON (structs via to_json, text and JSON as they are). */
function asJson(columns: readonly TypedColumn[], name: string): string {
  const column = columns.find((c) => c.name === name);
  if (!column) return "CAST(NULL AS JSON)";
  return isStruct(columns, name) ? `to_json(${quoteIdent(name)})` : `CAST(${quoteIdent(name)} AS JSON)`;
}

/**
 * The `json_transform` structure that unwraps a JSON `payload` envelope (Kafka Connect's JSON converter:
 * `{ "schema": ..., "payload": { "op", "before", "after", ... } }`) into the columns of an unwrapped
 * event: scalar fields keep their type, objects and arrays stay JSON (as nested values of JSON lines
 * do). `groupStructure` is the payloads' `json_group_structure`; undefined when it is not an object. Pure.
 *
 * @example
 * payloadStructure('{"op":"VARCHAR","after":{"id":"UBIGINT"}}') // '{"op":"VARCHAR","after":"JSON"}'
 */
export function payloadStructure(groupStructure: string): string | undefined {
  const parsed: unknown = JSON.parse(groupStructure);
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return undefined;
  const fields = Object.entries(parsed as Record<string, unknown>).map(([name, type]) => [
    name,
    typeof type === "string" && type !== "NULL" ? type : "JSON",
  ]);
  return fields.length > 0 ? JSON.stringify(Object.fromEntries(fields)) : undefined;
}

/**
 * DuckDB SQL yielding the JSON row images of Debezium events (the `after` image, or `before` for
 * deletes) as column `j`; {@link cdcFlattenSql} needs their `json_group_structure`. Pure.
 *
 * @example
 * cdcImagesSql("(SELECT ...)", columns) // SELECT ... AS j FROM ...
 */
export function cdcImagesSql(source: string, columns: readonly TypedColumn[]): string {
  return `SELECT CASE WHEN ${opSql('"op"')} = 'd' THEN ${asJson(columns, "before")} ELSE ${asJson(columns, "after")} END AS j FROM ${source}`;
}

/** How a batch's row columns are decoded: the decoders, and the shape measured of VariableScaleDecimal columns. */
export interface CdcDecoding {
  readonly decoders: readonly ColumnDecoder[];
  /** VariableScaleDecimal columns: the DECIMAL shape holding every value of the batch. */
  readonly variable: ReadonlyMap<string, DecimalShape>;
  /** The events carry {@link schemaVariantColumn} (dropped once decoded). */
  readonly byVariant: boolean;
}

/** No decoding: events without a Kafka Connect schema load as they are. */
export const noDecoding: CdcDecoding = { decoders: [], variable: new Map(), byVariant: false };

/**
 * A `json_group_structure` (object of DuckDB types) with the given keys read as text: the raw form
 * {@link decodeSql} decodes (a string's content, a number's digits, an object's JSON). Keys absent
 * from the structure stay absent. Pure.
 *
 * @example
 * withRawText('{"id":"UBIGINT","d":"UBIGINT"}', ["d"]) // '{"id":"UBIGINT","d":"VARCHAR"}'
 */
export function withRawText(structure: string, keys: readonly string[]): string {
  const parsed = JSON.parse(structure) as Record<string, unknown>;
  for (const key of keys) if (key in parsed) parsed[key] = "VARCHAR";
  return JSON.stringify(parsed);
}

/**
 * DuckDB SQL yielding one row per change event (truncates skipped) with the row image's columns as
 * sent, `_sluice_op` (c, u or d), `_sluice_cdc_position` (the LSN when the events carry one, else `ts_ms`;
 * flat tables use `cdc.order_by`, else file order) and `_sluice_seq` (batch order). Debezium envelopes
 * (`op`, `before`, `after`, `ts_ms`, `source.lsn`) and flat tables with an op column are understood.
 * `imageStructure` is the `json_group_structure` of the Debezium images (see {@link cdcImagesSql}). Pure.
 *
 * @example
 * cdcEventsSql("(SELECT ...)", [{ name: "op", type: "VARCHAR" }, { name: "after", type: "JSON" }], {}, '{"id":"BIGINT"}')
 */
export function cdcEventsSql(
  source: string,
  columns: readonly TypedColumn[],
  target: Pick<TargetConfig, "cdc">,
  imageStructure = "{}",
): string {
  const cdc = target.cdc ?? { format: "debezium" as const, soft_delete: false };
  if (cdc.format === "flat") {
    const op = cdc.op_column ?? "op";
    const order = cdc.order_by ? quoteIdent(cdc.order_by) : "_sluice_seq";
    return `SELECT * EXCLUDE (${quoteIdent(op)}), ${opSql(quoteIdent(op))} AS _sluice_op, ${order} AS _sluice_cdc_position FROM (SELECT *, row_number() OVER () AS _sluice_seq FROM ${source})`;
  }
  const carried = [...meta, schemaVariantColumn].filter((m) => has(columns, m)).map(quoteIdent);
  const image = `CASE WHEN ${opSql('"op"')} = 'd' THEN ${asJson(columns, "before")} ELSE ${asJson(columns, "after")} END`;
  const sourceType = columns.find((c) => c.name === "source")?.type ?? "";
  const lsn = isStruct(columns, "source")
    ? /\blsn\b/i.test(sourceType)
      ? `TRY_CAST("source"."lsn" AS BIGINT)`
      : "NULL"
    : has(columns, "source")
      ? `TRY_CAST(json_extract_string(CAST("source" AS JSON), '$.lsn') AS BIGINT)`
      : "NULL";
  const ts = has(columns, "ts_ms") ? `TRY_CAST("ts_ms" AS BIGINT)` : "NULL";
  return `SELECT unnest(json_transform(${image}, ${quoteLiteral(imageStructure)})), ${opSql('"op"')} AS _sluice_op, CAST(coalesce(${lsn}, ${ts}, _sluice_seq) AS BIGINT) AS _sluice_cdc_position, _sluice_seq${carried.map((m) => `, ${m}`).join("")} FROM (SELECT *, row_number() OVER () AS _sluice_seq FROM ${source}) WHERE NOT ${spelled('"op"', ["t"])}`;
}

/** A decoder's DuckDB expression over a column holding its raw text. */
const decodeColumn = (decoding: CdcDecoding, decoder: ColumnDecoder, column: string) =>
  decodeSql(decoder, `CAST(${column} AS VARCHAR)`, decoding.variable.get(decoder.column));

/**
 * DuckDB SQL of `events` (one row per event, row columns as sent) with the row columns decoded per
 * `decoding`, and without {@link schemaVariantColumn}. Pure.
 *
 * @example
 * decodedEventsSql("SELECT ...", { decoders: [{ column: "d", logicalType: "io.debezium.time.Date" }], variable: new Map(), byVariant: false })
 */
export function decodedEventsSql(events: string, decoding: CdcDecoding): string {
  const replace = decoding.decoders.map(
    (d) => `${decodeColumn(decoding, d, quoteIdent(d.column))} AS ${quoteIdent(d.column)}`,
  );
  if (replace.length === 0 && !decoding.byVariant) return events;
  const exclude = decoding.byVariant ? ` EXCLUDE (${schemaVariantColumn})` : "";
  const replaced = replace.length > 0 ? ` REPLACE (${replace.join(", ")})` : "";
  return `SELECT *${exclude}${replaced} FROM (${events})`;
}

/**
 * DuckDB SQL listing up to 5 events of `events` holding a value that does not decode: `file` and
 * `columns` (the names of the columns whose value does not). Pure.
 *
 * @example
 * undecodedSql("SELECT ...", decoding) // SELECT _sluice_source_file AS file, ... LIMIT 5
 */
export function undecodedSql(events: string, decoding: CdcDecoding): string {
  const lost = decoding.decoders.map((d) => {
    const column = quoteIdent(d.column);
    return {
      name: d.column,
      test: `(${column} IS NOT NULL AND ${decodeColumn(decoding, d, column)} IS NULL)`,
    };
  });
  const names = lost.map((l) => `CASE WHEN ${l.test} THEN ${quoteLiteral(l.name)} END`);
  return `SELECT _sluice_source_file AS file, list_filter([${names.join(", ")}], x -> x IS NOT NULL) AS columns FROM (${events}) WHERE ${lost.map((l) => l.test).join(" OR ")} LIMIT 5`;
}

/**
 * DuckDB SQL of Debezium events (unwrapped) with their `before` and `after` images rewritten as JSON
 * holding decoded values (numbers for decimals, ISO text for dates and times, nested JSON for Json) —
 * the form a lake's event log keeps. `imageStructure` is the images' structure with the decoded
 * columns as text (see {@link withRawText}). Pure.
 *
 * @example
 * decodedImagesSql("SELECT ...", columns, '{"id":"UBIGINT","d":"VARCHAR"}', decoding)
 */
export function decodedImagesSql(
  events: string,
  columns: readonly TypedColumn[],
  imageStructure: string,
  decoding: CdcDecoding,
): string {
  const images = ["before", "after"].filter((image) => has(columns, image));
  const keys = Object.keys(JSON.parse(imageStructure) as Record<string, unknown>);
  if (images.length === 0 || keys.length === 0)
    return decodedEventsSql(events, { ...decoding, decoders: [] });
  const byColumn = new Map(decoding.decoders.map((d) => [d.column, d]));
  const parsed = (image: string) => quoteIdent(`_sluice_${image}`);
  const rebuilt = images.map((image) => {
    const fields = keys.map((key) => {
      const value = `${parsed(image)}.${quoteIdent(key)}`;
      const decoder = byColumn.get(key);
      const decoded = decoder && decodedInJson(decoder) ? decodeColumn(decoding, decoder, value) : value;
      return `${quoteIdent(key)} := ${decoded}`;
    });
    return `CASE WHEN json_type(${asJson(columns, image)}) = 'OBJECT' THEN to_json(struct_pack(${fields.join(", ")})) ELSE ${asJson(columns, image)} END AS ${quoteIdent(image)}`;
  });
  const helpers = images.map(parsed);
  const exclude = decoding.byVariant ? [...helpers, schemaVariantColumn] : helpers;
  const transformed = images
    .map(
      (image) =>
        `json_transform(${asJson(columns, image)}, ${quoteLiteral(imageStructure)}) AS ${parsed(image)}`,
    )
    .join(", ");
  return `SELECT * EXCLUDE (${exclude.join(", ")}) REPLACE (${rebuilt.join(", ")}) FROM (SELECT *, ${transformed} FROM (${events}))`;
}

/**
 * DuckDB SQL that turns a batch of change events into one row per key — its latest event — with the
 * row image's columns (decoded per `decoding`), `_sluice_op` and `_sluice_cdc_position` (see
 * {@link cdcEventsSql}). Exact duplicates and out-of-order events within the batch collapse to the
 * latest. Pure.
 *
 * @example
 * cdcFlattenSql("(SELECT ...)", [{ name: "op", type: "VARCHAR" }, { name: "after", type: "JSON" }], target, '{"id":"BIGINT"}')
 */
export function cdcFlattenSql(
  source: string,
  columns: readonly TypedColumn[],
  target: Pick<TargetConfig, "keys" | "cdc">,
  imageStructure = "{}",
  decoding: CdcDecoding = noDecoding,
): string {
  const keys = (target.keys ?? []).map(quoteIdent);
  const events = decodedEventsSql(cdcEventsSql(source, columns, target, imageStructure), decoding);
  const soft = target.cdc?.soft_delete ? ", (_sluice_op = 'd') AS _sluice_deleted" : "";
  return `SELECT * EXCLUDE (_sluice_seq)${soft} FROM (${events}) QUALIFY row_number() OVER (PARTITION BY ${keys.join(", ")} ORDER BY _sluice_cdc_position DESC NULLS LAST, _sluice_seq DESC) = 1`;
}
