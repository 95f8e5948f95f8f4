import type { QueryStageRequest } from "../engine/stage-query.js";
import { SluiceError } from "../errors.js";
import { lateDataFilterSql } from "../plan/incremental-sql.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";

/** A column of a PostgreSQL result, as node-postgres describes it. */
export interface PostgresField {
  readonly name: string;
  readonly dataTypeID: number;
  readonly dataTypeModifier: number;
}

/** PostgreSQL's temporal types, by OID: what a cursor's `lag` is subtracted from. */
const temporalTypes: ReadonlyMap<number, string> = new Map([
  [1082, "date"],
  [1114, "timestamp"],
  [1184, "timestamptz"],
]);

/**
 * The PostgreSQL query reading a warehouse source, with the pipeline's incremental filter pushed into
 * it (the PostgreSQL spelling of what `stageQuery` does in DuckDB): only rows whose cursor is above the
 * stored mark (minus `lag` for date and timestamp cursors) and, with `late_data_window` and partitions,
 * every partition a new row touched. The late-data cut-off is computed here, from this machine's clock,
 * as the DuckDB engine computes it; only date and timestamp partitions can be too old (others are always
 * re-staged). `outsideWindowSql` counts the new rows of partitions older than the window.
 *
 * @example
 * postgresIncrementalSql('"orders"', fields, { ...request, cursor: { column: "id", after: "41", overlapMs: 0 } })
 * // { sql: `SELECT * FROM "orders" WHERE "id" > '41'` }
 */
export function postgresIncrementalSql(
  base: string,
  fields: readonly PostgresField[],
  request: QueryStageRequest,
  now: Date = new Date(),
): { sql: string; outsideWindowSql?: string } {
  const cursor = request.cursor;
  if (!cursor || cursor.after === null) return { sql: `SELECT * FROM ${base}` };
  const field = fieldNamed(fields, cursor.column, "incremental.cursor");
  const temporal = temporalTypes.get(field.dataTypeID);
  // An untyped literal takes the cursor's own type in PostgreSQL.
  const mark = temporal ? `${quoteLiteral(cursor.after)}::${temporal}` : quoteLiteral(cursor.after);
  const lower =
    cursor.overlapMs > 0 && temporal ? `${mark} - interval '${cursor.overlapMs} milliseconds'` : mark;
  const partitionBy = cursor.partitionBy ?? [];
  return lateDataFilterSql(
    base,
    cursor.column,
    lower,
    partitionBy,
    cursor.windowMs === undefined || partitionBy.length === 0
      ? undefined
      : () =>
          recentCondition(
            fieldNamed(fields, partitionBy[0]!, "partition_by"),
            new Date(now.getTime() - cursor.windowMs!),
          ),
  );
}

function fieldNamed(fields: readonly PostgresField[], name: string, setting: string): PostgresField {
  const field = fields.find((f) => f.name === name);
  if (field) return field;
  throw new SluiceError(
    "QUERY_FAILED",
    `${setting} ${name}: the source has no such column (it has ${fields.map((f) => f.name).join(", ")})`,
  );
}

/** Whether a partition value is within the window: a date or timestamp at or after `cutoff`. */
function recentCondition(field: PostgresField, cutoff: Date): string {
  const type = temporalTypes.get(field.dataTypeID);
  if (!type) return "TRUE";
  const column = quoteIdent(field.name);
  // timestamptz is an instant; date and timestamp are wall-clock times, compared in local time as the
  // DuckDB engine does (now()::TIMESTAMP).
  const bound =
    type === "timestamptz"
      ? `${quoteLiteral(cutoff.toISOString())}::timestamptz`
      : `${quoteLiteral(localTimestamp(cutoff))}::timestamp`;
  return `(${column} IS NULL OR ${column} >= ${bound})`;
}

/** `YYYY-MM-DD HH:MM:SS.mmm` in this machine's time zone. */
function localTimestamp(date: Date): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}
