/**
 * SQL for `dedupe:` (keys, keep first | last | none, order_by). Pure: no I/O.
 *
 * - Rows are duplicates when all key columns are equal; NULL keys count as equal to each other
 *   (as in GROUP BY / DISTINCT).
 * - `first` keeps the row with the smallest `order_by`, `last` the one with the largest; rows
 *   whose `order_by` is NULL are chosen last. Ties go to the earliest (`first`) or latest
 *   (`last`) row of the batch by `_sluice_row`, so the result is deterministic.
 * - `none` drops every row whose key occurs more than once.
 * - `order_by` is an SQL expression over the row (default `_sluice_row`, i.e. batch order).
 */

import { SluiceError } from "../errors.js";
import { validateSqlExpression, wrapExpression } from "./sql-expression.js";
import { isIntegerType, quoteIdent, quoteLiteral, quoteQualified } from "./sql-text.js";

export interface DedupeConfig {
  readonly keys: readonly string[];
  readonly keep?: "first" | "last" | "none";
  readonly order_by?: string;
}

export interface DedupePlan {
  /**
   * Run in order: the row positions (`_sluice_row`) of the duplicates into the temp table
   * `<out>_dropped` — the window sorts only the keys and the order, never the whole rows — then
   * `<out>`, a view of the input without them: the kept rows are never copied.
   */
  readonly statements: readonly string[];
  /**
   * The view `<out>` to create instead of the second statement when `<out>_dropped` came out empty
   * (no duplicates: the usual batch): the same rows without the anti-join against the dropped positions,
   * which every later read of the view (profile, publish) would otherwise pay for.
   */
  readonly keptWithoutDropsSql: string;
  /** One row `{ kept, duplicates }`: rows kept and rows dropped as duplicates, after the statements ran. */
  readonly countSql: string;
  /** What the statements create, in order (drop them in reverse). */
  readonly created: readonly string[];
}

/**
 * Compiles a dedupe step from `source` (which has `_sluice_row`, the row's position) into the view
 * `outTable`. `where` optionally restricts the input (e.g. `NOT "_sluice_quarantined"` to dedupe only
 * the rows that passed); `exclude` leaves columns out of the result.
 *
 * @example
 * const d = compileDedupe({ keys: ["order_id"], keep: "last", order_by: "updated_at" }, "stage_checked", {
 *   outTable: "stage_deduped", where: 'NOT "_sluice_quarantined"' });
 * for (const sql of d.statements) await con.run(sql);
 * const { duplicates } = (await con.runAndReadAll(d.countSql)).getRowObjectsJson()[0]!;
 */
export function compileDedupe(
  config: DedupeConfig,
  source: string,
  options: { readonly outTable?: string; readonly where?: string; readonly exclude?: readonly string[] } = {},
): DedupePlan {
  if (config.keys.length === 0)
    throw new SluiceError("CONFIG_INVALID", "dedupe.keys: list at least one key column");
  const orderBy = config.order_by ?? "_sluice_row";
  const problem = validateSqlExpression(orderBy);
  if (problem) throw new SluiceError("CONFIG_INVALID", `dedupe.order_by: ${problem}`);
  const src = quoteQualified(source);
  const outName = options.outTable ?? `${source}_deduped`;
  const out = quoteQualified(outName);
  const dropped = quoteQualified(`${outName}_dropped`);
  const condition = options.where === undefined ? undefined : wrapExpression(options.where);
  const where = condition === undefined ? "" : ` WHERE ${condition}`;
  const kept = keptRowSql(config, orderBy, '"_sluice_row"', "count(*)");
  const exclude = options.exclude ?? [];
  const select = exclude.length === 0 ? "*" : `* EXCLUDE (${exclude.map((c) => quoteIdent(c)).join(", ")})`;
  const notDropped = `"_sluice_row" NOT IN (SELECT "_sluice_row" FROM ${dropped})`;
  const keptView = (filter: string | undefined) =>
    `CREATE OR REPLACE TEMP VIEW ${out} AS SELECT ${select} FROM ${src}${filter === undefined ? "" : ` WHERE ${filter}`}`;
  return {
    statements: [
      `CREATE OR REPLACE TEMP TABLE ${dropped} AS SELECT "_sluice_row" FROM ${src}${where} QUALIFY NOT (${kept})`,
      keptView(condition === undefined ? notDropped : `${condition} AND ${notDropped}`),
    ],
    keptWithoutDropsSql: keptView(condition),
    countSql:
      `SELECT i.n - d.n AS kept, d.n AS duplicates FROM (SELECT count(*) AS n FROM ${dropped}) AS d, ` +
      `(SELECT count(*) AS n FROM ${src}${where}) AS i`,
    created: [`${outName}_dropped`, outName],
  };
}

/** Aggregates telling whether dedupe would drop anything, and how to read them (see {@link dedupeRepeatCounts}). */
export interface DedupeRepeatCounts {
  /** Aggregate expressions, each `AS` a `sluice_*` column, to add to a one-row query over the batch. */
  readonly aggregates: readonly string[];
  /** Whether a key repeats among the rows, from that query's row. */
  readonly repeats: (row: Readonly<Record<string, unknown>>) => boolean;
}

/**
 * Whether dedupe would drop any row, as aggregates over the batch (no window, nothing written): keys
 * repeat among the rows matching `where` unless their distinct count is their count. NULL keys are equal
 * to each other, as in the dedupe itself: two rows with a NULL key repeat.
 *
 * @example
 * const counts = dedupeRepeatCounts({ keys: ["order_id"] }, "NOT quarantined");
 * counts.repeats((await con.runAndReadAll(`SELECT ${counts.aggregates.join(", ")} FROM batch`)).getRowObjectsJson()[0]!)
 */
export function dedupeRepeatCounts(config: Pick<DedupeConfig, "keys">, where = "TRUE"): DedupeRepeatCounts {
  const [only, ...more] = config.keys;
  if (only === undefined)
    throw new SluiceError("CONFIG_INVALID", "dedupe.keys: list at least one key column");
  // One key: count(DISTINCT) skips NULLs, so NULL keys are counted apart. Several: a struct is never NULL.
  const key =
    more.length === 0
      ? quoteIdent(only)
      : `struct_pack(${config.keys.map((k, i) => `k${i} := ${quoteIdent(k)}`).join(", ")})`;
  const nullKeys =
    more.length === 0 ? `count(*) FILTER (WHERE ${where} AND ${quoteIdent(only)} IS NULL)` : "0";
  return {
    aggregates: [
      `count(*) FILTER (WHERE ${where}) AS "sluice_keyed_rows"`,
      // CASE rather than FILTER: the same count (excluded rows become NULL, which count(DISTINCT)
      // skips), and DuckDB's distinct aggregate runs cheaper without a filter.
      `count(DISTINCT CASE WHEN ${where} THEN ${key} END) AS "sluice_distinct_keys"`,
      `${nullKeys} AS "sluice_null_keys"`,
    ],
    repeats: (row) =>
      Number(row.sluice_distinct_keys ?? 0) + Math.min(Number(row.sluice_null_keys ?? 0), 1) <
      Number(row.sluice_keyed_rows ?? 0),
  };
}

/** Widest key range {@link keyBitmapSql} takes: 2^28 bits, a 32 MiB bitmap. */
export const KEY_BITMAP_MAX_BITS = 2n ** 28n;

/**
 * Whether {@link keyBitmapSql} can take a key of this DuckDB type: integers, but not UHUGEINT (which
 * DuckDB's `bitstring_agg` does not take).
 */
export function keyBitmapFits(type: string): boolean {
  return isIntegerType(type) && type.trim().toUpperCase() !== "UHUGEINT";
}

/**
 * One row `{ rows, nulls, min, max }` over `source` (quoted) for a single integer key: what
 * {@link keyBitmapSql} needs. `min`/`max` are text (exact for 64-bit values).
 *
 * @example
 * keyStatsSql('"batch"', "order_id")
 */
export function keyStatsSql(source: string, key: string): string {
  const ref = quoteIdent(key);
  return (
    `SELECT count(*) AS "rows", count(*) - count(${ref}) AS "nulls", ` +
    `CAST(min(${ref}) AS VARCHAR) AS "min", CAST(max(${ref}) AS VARCHAR) AS "max" FROM ${source}`
  );
}

/**
 * The number of distinct non-NULL values of a single integer key between `min` and `max` (its bounds,
 * from {@link keyStatsSql}) as one row `{ distinct_keys }`: one bit per possible value, set by each row,
 * then counted — exact, and about ten times cheaper than `count(DISTINCT)`. Undefined when the range is
 * wider than {@link KEY_BITMAP_MAX_BITS} (sparse keys: use a distinct count).
 *
 * @example
 * keyBitmapSql('"batch"', "order_id", 1n, 5_000_000n) // => SELECT bit_count(bitstring_agg(...)) ...
 */
export function keyBitmapSql(source: string, key: string, min: bigint, max: bigint): string | undefined {
  if (max < min || max - min + 1n > KEY_BITMAP_MAX_BITS) return undefined;
  const ref = quoteIdent(key);
  return `SELECT bit_count(bitstring_agg(${ref}, ${min}, ${max})) AS "distinct_keys" FROM ${source}`;
}

/**
 * Dedupe across the files of one batch (each file is already deduped on its own): one row per key
 * among all of them, by `order_by` as for one file, ties going to the later file for `last` and the
 * earlier for `first` (`files` lists `_sluice_source_file` values in the run's order); `none` drops a
 * key found in more than one file. Returns the statement writing `outTable` (the batch with a
 * `_sluice_kept` flag), and the SQL of the kept rows and of the dropped rows counted per file. Pure.
 *
 * @example
 * const d = batchDedupeSql({ keys: ["id"], keep: "last" }, "(SELECT ...)", ["in/a.csv", "in/b.csv"], "sluice_batch_dedupe");
 */
export function batchDedupeSql(
  config: DedupeConfig,
  batchSql: string,
  files: readonly string[],
  outTable: string,
): { readonly create: string; readonly kept: string; readonly droppedPerFile: string } {
  const fileOrder = `CASE "_sluice_source_file" ${files.map((f, i) => `WHEN ${quoteLiteral(f)} THEN ${i}`).join(" ")} END`;
  const kept = keptRowSql(config, config.order_by, fileOrder, 'count(DISTINCT "_sluice_source_file")');
  const out = quoteIdent(outTable);
  return {
    create: `CREATE OR REPLACE TEMP TABLE ${out} AS SELECT *, ${kept} AS "_sluice_kept" FROM (${batchSql})`,
    kept: `SELECT * EXCLUDE ("_sluice_kept") FROM ${out} WHERE "_sluice_kept"`,
    droppedPerFile: `SELECT "_sluice_source_file" AS file, count(*) AS n FROM ${out} WHERE NOT "_sluice_kept" GROUP BY 1`,
  };
}

/**
 * The window condition that holds for the row a dedupe keeps of each key: with `keep: none`, every row of
 * a key whose `occurrences` (a window aggregate) is 1; with `first` / `last`, the row ranked first by
 * `orderBy` (NULLs last; none: by `tieBreak` alone), ties broken by `tieBreak` in the same direction.
 */
function keptRowSql(
  config: DedupeConfig,
  orderBy: string | undefined,
  tieBreak: string,
  occurrences: string,
): string {
  const partition = config.keys.map((k) => quoteIdent(k)).join(", ");
  const keep = config.keep ?? "last";
  if (keep === "none") return `${occurrences} OVER (PARTITION BY ${partition}) = 1`;
  const dir = keep === "first" ? "ASC" : "DESC";
  const byValue = orderBy ? `${wrapExpression(orderBy)} ${dir} NULLS LAST, ` : "";
  return `row_number() OVER (PARTITION BY ${partition} ORDER BY ${byValue}${tieBreak} ${dir}) = 1`;
}
