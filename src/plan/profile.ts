/**
 * Column profiles of a batch: one aggregate query (single scan) and a pure reader
 * turning its one result row into a {@link Profile}. Pure: no I/O.
 */

import { type ColumnInfo, isNumericType, isStringType, quoteIdent, quoteQualified } from "./sql-text.js";

/** Statistics of one column in one batch. Numbers are null where they do not apply. */
export interface ColumnProfile {
  readonly nulls: number;
  readonly distinct: number;
  /** min/max as text (DuckDB's VARCHAR rendering), any orderable type. */
  readonly min: string | null;
  readonly max: string | null;
  /** Numeric columns only. `stddev` is the sample standard deviation. */
  readonly mean: number | null;
  readonly stddev: number | null;
  /** String columns only (characters). */
  readonly min_length: number | null;
  readonly max_length: number | null;
}

export interface Profile {
  readonly rows: number;
  readonly columns: Readonly<Record<string, ColumnProfile>>;
}

const PROFILED_EXCLUDED = /^_sluice_/;
const UNORDERED = /^(STRUCT|MAP|UNION|LIST|JSON)\b|\[\]$/i;

/** The columns `profileSql` profiles (the `_sluice_*` bookkeeping columns are skipped). */
export function profiledColumns(columns: readonly ColumnInfo[]): ColumnInfo[] {
  return columns.filter((c) => !PROFILED_EXCLUDED.test(c.name));
}

/**
 * One aggregate query over `table` returning a single row with one STRUCT column per profiled
 * column (named `p0`, `p1`, ... in the order of {@link profiledColumns}) plus `rows`.
 * `distinct` is exact (`count(DISTINCT)`) unless `approxDistinct` (HyperLogLog, much cheaper
 * on wide, large batches). `maskedColumns` get no min/max, so profiles (kept in run history)
 * never hold a masked column's values.
 *
 * @example
 * const sql = profileSql("stage", columns);
 * const profile = readProfile(columns, (await con.runAndReadAll(sql)).getRowObjectsJson()[0]!);
 */
export function profileSql(
  table: string,
  columns: readonly ColumnInfo[],
  options: { readonly approxDistinct?: boolean; readonly maskedColumns?: readonly string[] } = {},
): string {
  const masked = new Set(options.maskedColumns ?? []);
  const items = profiledColumns(columns).map((c, i) => {
    const ref = quoteIdent(c.name);
    const distinct = options.approxDistinct ? `approx_count_distinct(${ref})` : `count(DISTINCT ${ref})`;
    const orderable = !UNORDERED.test(c.type.trim()) && !masked.has(c.name);
    const numeric = isNumericType(c.type);
    const text = isStringType(c.type);
    const fields = [
      `'nulls': count(*) - count(${ref})`,
      `'distinct': ${distinct}`,
      `'min': ${orderable ? `CAST(min(${ref}) AS VARCHAR)` : "CAST(NULL AS VARCHAR)"}`,
      `'max': ${orderable ? `CAST(max(${ref}) AS VARCHAR)` : "CAST(NULL AS VARCHAR)"}`,
      `'mean': ${numeric ? `avg(CAST(${ref} AS DOUBLE))` : "CAST(NULL AS DOUBLE)"}`,
      `'stddev': ${numeric ? `stddev_samp(CAST(${ref} AS DOUBLE))` : "CAST(NULL AS DOUBLE)"}`,
      `'min_length': ${text ? `min(length(${ref}))` : "CAST(NULL AS BIGINT)"}`,
      `'max_length': ${text ? `max(length(${ref}))` : "CAST(NULL AS BIGINT)"}`,
    ];
    return `{${fields.join(", ")}} AS "p${i}"`;
  });
  return `SELECT count(*) AS "rows"${items.map((s) => `, ${s}`).join("")} FROM ${quoteQualified(table)}`;
}

function num(value: unknown): number | null {
  if (value === null || value === undefined) return null;
  const n = typeof value === "number" ? value : Number(value);
  return Number.isFinite(n) ? n : null;
}

function str(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}

/**
 * Reads the one row returned by {@link profileSql} (as from `getRowObjectsJson()`).
 *
 * @example
 * readProfile([{ name: "amount", type: "DOUBLE" }], { rows: "3", p0: { nulls: "0", distinct: "3", ... } })
 */
export function readProfile(columns: readonly ColumnInfo[], row: Readonly<Record<string, unknown>>): Profile {
  const out: Record<string, ColumnProfile> = {};
  profiledColumns(columns).forEach((c, i) => {
    const p = (row[`p${i}`] ?? {}) as Record<string, unknown>;
    out[c.name] = {
      nulls: num(p.nulls) ?? 0,
      distinct: num(p.distinct) ?? 0,
      min: str(p.min),
      max: str(p.max),
      mean: num(p.mean),
      stddev: num(p.stddev),
      min_length: num(p.min_length),
      max_length: num(p.max_length),
    };
  });
  return { rows: num(row.rows) ?? 0, columns: out };
}
