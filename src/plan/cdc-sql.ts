import type { TargetConfig } from "../config/schema.js";
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

/**
 * DuckDB SQL that turns a batch of change events into one row per key — its latest event — with the
 * row image's columns, `_sluice_op` (c, u or d) and `_sluice_cdc_position` (the LSN when the events carry
 * one, else `ts_ms`; flat tables use `cdc.order_by`, else file order). Debezium envelopes (`op`, `before`,
 * `after`, `ts_ms`, `source.lsn`) and flat tables with an op column are understood; exact duplicates and
 * out-of-order events within the batch collapse to the latest. `imageStructure` is the
 * `json_group_structure` of the Debezium images (see {@link cdcImagesSql}). Pure.
 *
 * @example
 * cdcFlattenSql("(SELECT ...)", [{ name: "op", type: "VARCHAR" }, { name: "after", type: "JSON" }], target, '{"id":"BIGINT"}')
 */
export function cdcFlattenSql(
  source: string,
  columns: readonly TypedColumn[],
  target: Pick<TargetConfig, "keys" | "cdc">,
  imageStructure = "{}",
): string {
  const cdc = target.cdc ?? { format: "debezium" as const, soft_delete: false };
  const keys = (target.keys ?? []).map(quoteIdent);
  const metaList = meta.filter((m) => has(columns, m)).map(quoteIdent);
  let events: string;
  if (cdc.format === "flat") {
    const op = cdc.op_column ?? "op";
    const order = cdc.order_by ? quoteIdent(cdc.order_by) : "_sluice_seq";
    events = `SELECT * EXCLUDE (${quoteIdent(op)}), ${opSql(quoteIdent(op))} AS _sluice_op, ${order} AS _sluice_cdc_position FROM (SELECT *, row_number() OVER () AS _sluice_seq FROM ${source})`;
  } else {
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
    events = `SELECT unnest(json_transform(${image}, ${quoteLiteral(imageStructure)})), ${opSql('"op"')} AS _sluice_op, CAST(coalesce(${lsn}, ${ts}, _sluice_seq) AS BIGINT) AS _sluice_cdc_position, _sluice_seq${metaList.map((m) => `, ${m}`).join("")} FROM (SELECT *, row_number() OVER () AS _sluice_seq FROM ${source}) WHERE NOT ${spelled('"op"', ["t"])}`;
  }
  const soft = cdc.soft_delete ? ", (_sluice_op = 'd') AS _sluice_deleted" : "";
  return `SELECT * EXCLUDE (_sluice_seq)${soft} FROM (${events}) QUALIFY row_number() OVER (PARTITION BY ${keys.join(", ")} ORDER BY _sluice_cdc_position DESC NULLS LAST, _sluice_seq DESC) = 1`;
}
