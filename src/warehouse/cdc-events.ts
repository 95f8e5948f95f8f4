import type { DuckDBConnection } from "@duckdb/node-api";
import type { TargetConfig } from "../config/schema.js";
import { describeColumns, queryRows } from "../engine/duckdb-query.js";
import { SluiceError } from "../errors.js";
import {
  type CdcDecoding,
  cdcEventsSql,
  cdcFlattenSql,
  cdcImagesSql,
  decodedEventsSql,
  decodedImagesSql,
  noDecoding,
  payloadStructure,
  undecodedSql,
  unknownOpsSql,
  withRawText,
} from "../plan/cdc-sql.js";
import {
  type DecimalShape,
  type DecodePlan,
  decodePlan,
  schemaVariantColumn,
  schemaVariantSql,
  variableScaleSql,
} from "../plan/connect-schema.js";
import { type ColumnInfo, quoteIdent, quoteLiteral } from "../plan/sql-text.js";

/** A batch's change events, unwrapped from their Kafka Connect envelope when they come in one. */
interface Events {
  /** SQL of the events: the payload's fields (row columns as sent) and Sluice's columns. */
  readonly sql: string;
  readonly columns: readonly ColumnInfo[];
  /** The events came as `{ schema, payload }`. */
  readonly enveloped: boolean;
  /** What the events' schemas say of their row columns (nothing without a schema). */
  readonly plan: DecodePlan;
}

const nothingToDecode: DecodePlan = { decoders: [], byVariant: false, problems: [] };
const rawTable = "sluice_cdc_raw";

const formatOf = (target: TargetConfig) => (target.cdc?.format === "flat" ? "flat" : "debezium");
const refuse = (target: TargetConfig, problem: string) =>
  new SluiceError("MALFORMED_ROWS", `table ${target.table ?? "?"}: ${problem}; nothing was published`);

/** JSON text of a column that holds JSON or a struct. */
const jsonText = (column: ColumnInfo) =>
  /^STRUCT/i.test(column.type)
    ? `CAST(to_json(${quoteIdent(column.name)}) AS VARCHAR)`
    : `CAST(${quoteIdent(column.name)} AS VARCHAR)`;

/**
 * The distinct Kafka Connect schemas of a batch's events (JSON text, sorted: their order numbers the
 * variants) and whether some event carries none. Events without a payload object (tombstones) do not count.
 */
async function eventSchemas(
  engine: DuckDBConnection,
  rowsSql: string,
  columns: readonly ColumnInfo[],
): Promise<{ texts: string[]; schemaless: boolean }> {
  const schema = columns.find((c) => c.name === "schema");
  if (!schema) return { texts: [], schemaless: true };
  const rows = await queryRows(
    engine,
    `SELECT DISTINCT CASE WHEN json_type(s) = 'OBJECT' THEN s END AS s FROM (SELECT ${jsonText(schema)} AS s FROM (${rowsSql}) WHERE json_type(CAST("payload" AS JSON)) = 'OBJECT')`,
  );
  const texts = rows.flatMap((r) => (r.s === null || r.s === undefined ? [] : [String(r.s)])).sort();
  return { texts, schemaless: rows.some((r) => r.s === null || r.s === undefined) };
}

/**
 * The batch's events, unwrapped from a `payload` envelope (Kafka Connect's JSON converter:
 * `{ "schema": ..., "payload": { "op", "before", "after", ... } }`) with the logical types its schemas
 * name; events that are not wrapped come back as they are. A column of a type Sluice does not decode
 * (or typed differently by two schemas) fails here, before anything is written. `into`: a temp table
 * the unwrapped events are materialized in.
 */
async function readEvents(
  engine: DuckDBConnection,
  rowsSql: string,
  target: TargetConfig,
  into?: string,
): Promise<Events> {
  const columns = await describeColumns(engine, rowsSql);
  const payload = columns.find((c) => c.name === "payload");
  if (!payload || columns.some((c) => c.name === "op")) {
    return { sql: rowsSql, columns, enveloped: false, plan: nothingToDecode };
  }
  const schemas = await eventSchemas(engine, rowsSql, columns);
  const plan = decodePlan(
    schemas.texts.map((t) => JSON.parse(t) as unknown),
    formatOf(target),
    schemas.schemaless && schemas.texts.length > 0,
  );
  if (plan.problems.length > 0) throw refuse(target, plan.problems.join("; "));
  // A struct (Parquet) unnests as it is; JSON (JSON lines) is given the shape of its fields first.
  let fields = `unnest("payload")`;
  if (!/^STRUCT/i.test(payload.type)) {
    const row = await queryRows(
      engine,
      `SELECT CAST(json_group_structure("payload") AS VARCHAR) AS s FROM (${rowsSql}) WHERE json_type("payload") = 'OBJECT'`,
    );
    const structure = payloadStructure(String(row[0]?.s ?? "null"));
    if (!structure) {
      throw new SluiceError(
        "KEY_VIOLATION",
        `table ${target.table ?? "?"}: the change events' payload holds no event object`,
      );
    }
    const raw = formatOf(target) === "flat" ? plan.decoders.map((d) => d.column) : [];
    fields = `unnest(json_transform("payload", ${quoteLiteral(withRawText(structure, raw))}))`;
  }
  const carried = columns.filter((c) => c.name.startsWith("_sluice_")).map((c) => quoteIdent(c.name));
  if (plan.byVariant) {
    const schema = columns.find((c) => c.name === "schema")!;
    carried.push(`${schemaVariantSql(jsonText(schema), schemas.texts)} AS ${schemaVariantColumn}`);
  }
  let sql = `SELECT ${fields}, ${carried.join(", ")} FROM (${rowsSql})`;
  if (into) {
    await engine.run(`CREATE OR REPLACE TEMP TABLE ${into} AS ${sql}`);
    sql = `SELECT * FROM ${into}`;
  }
  return { sql, columns: await describeColumns(engine, sql), enveloped: true, plan };
}

/**
 * The `json_group_structure` of the Debezium row images, with the decoded columns read as text;
 * undefined when no event carries an image.
 */
async function imageStructure(engine: DuckDBConnection, events: Events): Promise<string | undefined> {
  const row = await queryRows(
    engine,
    `SELECT CAST(json_group_structure(j) AS VARCHAR) AS s FROM (${cdcImagesSql(`(${events.sql})`, events.columns)}) WHERE j IS NOT NULL AND json_type(j) = 'OBJECT'`,
  );
  const structure = String(row[0]?.s ?? "{}");
  if (structure === "null" || structure === "{}") return undefined;
  return withRawText(
    structure,
    events.plan.decoders.map((d) => d.column),
  );
}

/**
 * The decoding of `events` (one row per event, row columns as raw text): the shape of each
 * VariableScaleDecimal column measured, then every value checked to decode — a value that does not
 * fails the load, naming column, type and file, rather than loading as NULL.
 */
async function decodingOf(
  engine: DuckDBConnection,
  events: string,
  plan: DecodePlan,
  target: TargetConfig,
): Promise<CdcDecoding> {
  const present = new Set((await describeColumns(engine, events)).map((c) => c.name));
  const decoders = plan.decoders.filter((d) => present.has(d.column));
  if (decoders.length === 0) return { ...noDecoding, byVariant: plan.byVariant };
  const variable = new Map<string, DecimalShape>();
  const measured = decoders.filter((d) => d.logicalType === "io.debezium.data.VariableScaleDecimal");
  if (measured.length > 0) {
    const aggregates = measured.flatMap((d, i) => {
      const m = variableScaleSql(`CAST(${quoteIdent(d.column)} AS VARCHAR)`);
      return [`${m.scale} AS s${i}`, `${m.digits} AS d${i}`];
    });
    const row = (await queryRows(engine, `SELECT ${aggregates.join(", ")} FROM (${events})`))[0] ?? {};
    measured.forEach((d, i) => {
      const scale = Number(row[`s${i}`] ?? 0);
      const precision = Number(row[`d${i}`] ?? 1) + scale;
      if (precision > 38) {
        throw refuse(
          target,
          `column "${d.column}" (${d.logicalType}) holds values needing DECIMAL(${precision},${scale}), more than DECIMAL(38) holds (set the connector's decimal.handling.mode to string)`,
        );
      }
      variable.set(d.column, { precision, scale });
    });
  }
  const decoding: CdcDecoding = { decoders, variable, byVariant: plan.byVariant };
  const lost = await queryRows(engine, undecodedSql(events, decoding));
  if (lost.length > 0) {
    const byName = new Map(decoders.map((d) => [d.column, d.logicalType]));
    const first = lost[0]!;
    const names = (first.columns as string[]).map((c) => `"${c}" (${byName.get(c)})`);
    const files = [...new Set(lost.map((r) => String(r.file)))];
    throw refuse(
      target,
      `change events hold values that do not decode as their schema says: column ${names.join(", column ")} in ${files.join(", ")}`,
    );
  }
  return decoding;
}

/**
 * DuckDB SQL of a `cdc` batch reduced to one row per key (see {@link cdcFlattenSql}), with the values
 * of every column the events' Kafka Connect schema types decoded (Decimal, dates, times, timestamps,
 * Json, Uuid, ...). Refuses, one sentence naming the table: events whose op is none of the spellings
 * understood, events without row images, columns of a type Sluice does not decode, values that do not
 * decode. The unwrapped events live in a temp table until {@link dropCdcWork}.
 *
 * @example
 * const sql = await cdcBatchSql(engine, rowsSql, pipeline.target);
 */
export async function cdcBatchSql(
  engine: DuckDBConnection,
  rowsSql: string,
  target: TargetConfig,
): Promise<string> {
  const events = await readEvents(engine, rowsSql, target, rawTable);
  const columns = events.columns;
  const opColumn = target.cdc?.format === "flat" ? (target.cdc.op_column ?? "op") : "op";
  if (!columns.some((c) => c.name === opColumn)) {
    throw new SluiceError(
      "KEY_VIOLATION",
      `table ${target.table ?? "?"}: mode cdc needs an op column "${opColumn}" in the data (columns: ${columns.map((c) => c.name).join(", ")})`,
    );
  }
  const unknown = await queryRows(engine, unknownOpsSql(`(${events.sql})`, opColumn, formatOf(target)));
  if (unknown.length > 0) {
    const shown = unknown.map(
      (r) => `${r.op === null ? "NULL" : quoteLiteral(String(r.op))} in ${String(r.file)}`,
    );
    throw new SluiceError(
      "MALFORMED_ROWS",
      `table ${target.table ?? "?"}: change events with an op that is none of c/u/d/r, I/U/D, insert/update/delete: ${shown.join(", ")}; nothing was published`,
    );
  }
  let structure = "{}";
  if (formatOf(target) === "debezium") {
    const found = await imageStructure(engine, events);
    if (found === undefined) {
      throw new SluiceError(
        "KEY_VIOLATION",
        `table ${target.table ?? "?"}: change events carry no row images (before/after)`,
      );
    }
    structure = found;
  }
  const raw = cdcEventsSql(`(${events.sql})`, columns, target, structure);
  const decoding = await decodingOf(engine, raw, events.plan, target);
  return cdcFlattenSql(`(${events.sql})`, columns, target, structure, decoding);
}

/** Drops what {@link cdcBatchSql} left in the engine (once its SQL has been materialized). */
export async function dropCdcWork(engine: DuckDBConnection): Promise<void> {
  await engine.run(`DROP TABLE IF EXISTS ${rawTable}`);
}

/**
 * DuckDB SQL of a `cdc` batch's events as a lake's event log keeps them: unwrapped from a Kafka Connect
 * envelope, with decoded values (flat events: typed columns; Debezium events: `before`/`after` as JSON
 * holding decoded values). Events not wrapped in an envelope are returned as they are (`rowsSql`).
 *
 * @example
 * await writeDelta(engine, table, await cdcLakeEventsSql(engine, rowsSql, pipeline.target), options);
 */
export async function cdcLakeEventsSql(
  engine: DuckDBConnection,
  rowsSql: string,
  target: TargetConfig,
): Promise<string> {
  const events = await readEvents(engine, rowsSql, target);
  if (!events.enveloped) return rowsSql;
  if (formatOf(target) === "flat") {
    return decodedEventsSql(events.sql, await decodingOf(engine, events.sql, events.plan, target));
  }
  const structure = await imageStructure(engine, events);
  if (structure === undefined)
    return decodedEventsSql(events.sql, { ...noDecoding, byVariant: events.plan.byVariant });
  const raw = cdcEventsSql(`(${events.sql})`, events.columns, target, structure);
  const decoding = await decodingOf(engine, raw, events.plan, target);
  return decodedImagesSql(events.sql, events.columns, structure, decoding);
}
