import type { SqlDialect } from "./sql-dialect.js";
import { quoteIdent, quoteLiteral } from "./sql-text.js";

/** What a statement's affected-row count means for the load's numbers. */
export type StepCount = "saved" | "inserted" | "updated" | "deleted" | "upserted" | "none";

/** One statement of a write, run in order inside the publish transaction. */
export interface WriteStep {
  readonly sql: string;
  /** How to read the statement's row count (`count` steps return one number as a row). */
  readonly counts: StepCount;
  /** The statement is a `SELECT count(*)`; its value is the count. */
  readonly select?: boolean;
  /**
   * The statement returns one row carrying several counts (a column named after each kind) and, when
   * `reconciles`, the target side of reconciliation: `target_rows` and `s0`, `s1`, ... (sums of
   * {@link WriteRequest.sumColumns}), taken from the rows it wrote and the matched rows it left alone.
   */
  readonly returns?: { readonly counts: readonly StepCount[]; readonly reconciles: boolean };
  /**
   * The statement returns one row from which the steps after it are planned (they run next, before the
   * rest of the list): the DuckDB merge writes only the columns its classification found changed.
   */
  readonly plansNext?: (row: Readonly<Record<string, unknown>>) => WriteStep[];
}

/** Everything a write-mode plan needs to know. Names are unquoted; SQL quoting happens here. */
export interface WriteRequest {
  readonly dialect: SqlDialect;
  readonly mode: "append" | "replace" | "merge" | "delete_insert" | "scd2" | "cdc";
  /** Target table, already quoted (`"analytics"."orders"`). */
  readonly target: string;
  /** Staging table holding the batch, already quoted, in the same database as the target. */
  readonly stage: string;
  /** Undo table (before-images), already quoted. */
  readonly undo: string;
  readonly runId: string;
  /** The run's load time, ISO-8601 (scd2 validity bounds). */
  readonly loadedAt: string;
  /** Columns of the stage written to the target. */
  readonly columns: readonly string[];
  /** Every column of the target (after evolution), for before-images. */
  readonly targetColumns: readonly string[];
  readonly keys: readonly string[];
  readonly partitionBy: readonly string[];
  /** scd2: columns whose change makes a new version (default: every non-key data column). */
  readonly track?: readonly string[] | undefined;
  readonly closeDeleted?: boolean | undefined;
  /** cdc: deletes keep the row with `_sluice_deleted = true`. */
  readonly softDelete?: boolean | undefined;
  /** PostgreSQL: the target has a unique index on exactly `keys` (merge can use `ON CONFLICT`). */
  readonly uniqueKeys?: boolean | undefined;
  /** Numeric columns whose target-side sums a reconciling statement returns (as `s0`, `s1`, ...). */
  readonly sumColumns?: readonly string[] | undefined;
}

const q = quoteIdent;

/** A merge's statements by the dialect's way of merging ({@link SqlDialect.merge}). */
const mergeSteps: Readonly<Record<SqlDialect["merge"], (request: WriteRequest) => WriteStep[]>> = {
  classify: (request) => duckdbMergeSteps(request),
  upsert: (request) => postgresMergeSteps(request),
};
const isMeta = (c: string): boolean => c.startsWith("_sluice_");

/** Columns compared to decide whether a row changed: data columns that are not keys. */
function compared(request: WriteRequest, among: readonly string[] = request.columns): string[] {
  const keys = new Set(request.keys);
  return among.filter((c) => !keys.has(c) && !isMeta(c) && request.columns.includes(c));
}

function keyJoin(keys: readonly string[], left: string, right: string): string {
  return keys.map((k) => `${left}.${q(k)} = ${right}.${q(k)}`).join(" AND ");
}

function changed(columns: readonly string[], left = "t", right = "s"): string {
  if (columns.length === 0) return "false";
  return `(${columns.map((c) => `${left}.${q(c)} IS DISTINCT FROM ${right}.${q(c)}`).join(" OR ")})`;
}

/** Saves the current versions of the target rows matching `where` (alias `t`) as before-images. */
function saveRows(request: WriteRequest, from: string, where: string): WriteStep {
  const cols = request.targetColumns;
  return {
    sql: `INSERT INTO ${request.undo} (_sluice_undo_run, ${cols.map(q).join(", ")}) SELECT ${quoteLiteral(request.runId)}, ${cols.map((c) => `t.${q(c)}`).join(", ")} FROM ${from} WHERE ${where}`,
    counts: "saved",
  };
}

function insertAll(request: WriteRequest, where = "true"): WriteStep {
  const cols = request.columns;
  return {
    sql: `INSERT INTO ${request.target} (${cols.map(q).join(", ")}) SELECT ${cols.map((c) => `s.${q(c)}`).join(", ")} FROM ${request.stage} AS s WHERE ${where}`,
    counts: "inserted",
  };
}

/**
 * Removes the rows of earlier loads of the same content (`--force`), keeping before-images.
 *
 * @example
 * replaceSteps(request, [{ runId: "r1", path: "in/a.csv" }])
 */
export function replaceSteps(
  request: WriteRequest,
  replaces: readonly { readonly runId: string; readonly path: string }[],
): WriteStep[] {
  return replaces.flatMap((old) => {
    const where = `t._sluice_run_id = ${quoteLiteral(old.runId)} AND t._sluice_source_file = ${quoteLiteral(old.path)}`;
    return [
      saveRows(request, `${request.target} AS t`, where),
      { sql: `DELETE FROM ${request.target} AS t WHERE ${where}`, counts: "deleted" as const },
    ];
  });
}

/**
 * The statements that write a staged batch into the target under a write mode, for DuckDB and
 * PostgreSQL alike. Every row a load inserts or changes carries its `_sluice_run_id`; every row it
 * removes or changes is first saved in the undo table under the run id — so undoing the newest load
 * is: delete its rows, put its before-images back ({@link undoSteps}). Pure.
 *
 * @example
 * writeSteps({ dialect: postgresDialect, mode: "merge", target: '"orders"', stage: "sluice_stage", undo: '"sluice"."undo_orders"', ... })
 */
export function writeSteps(request: WriteRequest): WriteStep[] {
  const { target, stage } = request;
  switch (request.mode) {
    case "append":
      return [insertAll(request)];
    case "replace":
      return [
        saveRows(request, `${target} AS t`, "true"),
        { sql: `DELETE FROM ${target}`, counts: "deleted" },
        insertAll(request),
      ];
    case "delete_insert": {
      const parts = request.partitionBy;
      const match = `EXISTS (SELECT 1 FROM (SELECT DISTINCT ${parts.map(q).join(", ")} FROM ${stage}) AS p WHERE ${parts
        .map((p) => `p.${q(p)} IS NOT DISTINCT FROM t.${q(p)}`)
        .join(" AND ")})`;
      return [
        saveRows(request, `${target} AS t`, match),
        { sql: `DELETE FROM ${target} AS t WHERE ${match}`, counts: "deleted" },
        insertAll(request),
      ];
    }
    case "merge":
      return mergeSteps[request.dialect.merge](request);
    case "scd2":
      return scd2Steps(request);
    case "cdc":
      return cdcSteps(request);
  }
}

/** Modes whose rows can be copied straight into the target (no stage to join): see {@link stepsBeforeCopy}. */
export const copiedModes: ReadonlySet<WriteRequest["mode"]> = new Set(["append", "replace"]);

/**
 * The statements of an `append` or `replace` that run before the batch is copied straight into the
 * target (PostgreSQL `COPY ... FROM STDIN` inside the publish transaction): none for append; for replace
 * the before-images of the whole table, then its rows deleted. The copy itself is the mode's insert.
 * Pure.
 *
 * @example
 * stepsBeforeCopy({ ...request, mode: "replace" }) // [save every row, DELETE FROM target]
 */
export function stepsBeforeCopy(request: WriteRequest): WriteStep[] {
  if (!copiedModes.has(request.mode)) throw new Error(`mode ${request.mode} is not written by a copy`);
  return writeSteps(request).filter((step) => step.counts !== "inserted");
}

/** The parts of a PostgreSQL merge over a unique index on the keys, shared by its two shapes. */
interface UpsertParts {
  /** Matched target rows (every target column) with `_sluice_changed`. */
  readonly old: string;
  /** Saves the changed matched rows as before-images (from `old`). */
  readonly saved: string;
  /** `INSERT ... ON CONFLICT DO UPDATE ... WHERE <changed>`, returning the summed columns. */
  readonly written: string;
  /** `count(*) AS n, sum(..) AS s0, ...` over rows carrying the summed columns. */
  readonly aggregates: string;
  readonly sums: readonly string[];
}

function postgresUpsertParts(request: WriteRequest): UpsertParts {
  const { target, stage, keys } = request;
  const compare = compared(request);
  const updates = request.columns.filter((c) => !keys.includes(c));
  const cols = request.columns;
  const onConflict =
    updates.length > 0 && compare.length > 0
      ? `DO UPDATE SET ${updates.map((c) => `${q(c)} = EXCLUDED.${q(c)}`).join(", ")} WHERE ${changed(compare, "t", "EXCLUDED")}`
      : "DO NOTHING";
  const targetCols = request.targetColumns;
  const sums = (request.sumColumns ?? []).filter((c) => cols.includes(c));
  const returning = sums.length > 0 ? sums.map(q).join(", ") : "1";
  return {
    old: `SELECT ${targetCols.map((c) => `t.${q(c)}`).join(", ")}, ${changed(compare)} AS _sluice_changed FROM ${target} AS t JOIN ${stage} AS s ON ${keyJoin(keys, "t", "s")}`,
    saved: `INSERT INTO ${request.undo} (_sluice_undo_run, ${targetCols.map(q).join(", ")}) SELECT ${quoteLiteral(request.runId)}, ${targetCols.map(q).join(", ")} FROM old WHERE _sluice_changed RETURNING 1`,
    written: `INSERT INTO ${target} AS t (${cols.map(q).join(", ")}) SELECT ${cols.map((c) => `s.${q(c)}`).join(", ")} FROM ${stage} AS s ON CONFLICT (${keys.map(q).join(", ")}) ${onConflict} RETURNING ${returning}`,
    aggregates: ["count(*) AS n", ...sums.map((c, i) => `sum(${q(c)}) AS s${i}`)].join(", "),
    sums,
  };
}

/**
 * PostgreSQL merge. With a unique index on the keys it is one statement: a data-modifying CTE reads the
 * matched target rows once (all sub-statements see the table as it was before the statement), saves the
 * changed ones as before-images, and `INSERT ... ON CONFLICT DO UPDATE ... WHERE <changed>` writes the
 * batch (index probes, no join). The same statement returns the counts and the target side of
 * reconciliation: the rows it wrote (`RETURNING`, i.e. as stored) plus the matched rows it left alone.
 * Without such an index: before-images, then `MERGE`. Either way unchanged rows are not touched.
 * ({@link postgresMergeBeside} splits the unique-index shape in two for a second connection.)
 */
function postgresMergeSteps(request: WriteRequest): WriteStep[] {
  const { target, stage, keys } = request;
  const compare = compared(request);
  const updates = request.columns.filter((c) => !keys.includes(c));
  const cols = request.columns;
  if (request.uniqueKeys) {
    const parts = postgresUpsertParts(request);
    return [
      {
        sql: `WITH old AS (${parts.old}), saved AS (${parts.saved}), written AS (${parts.written}) SELECT v.n AS updated, w.n AS upserted, w.n + u.n AS target_rows${parts.sums.map((_, i) => `, CAST(coalesce(w.s${i}, 0) + coalesce(u.s${i}, 0) AS DOUBLE PRECISION) AS s${i}`).join("")} FROM (SELECT count(*) AS n FROM saved) AS v, (SELECT ${parts.aggregates} FROM written) AS w, (SELECT ${parts.aggregates} FROM old WHERE NOT _sluice_changed) AS u`,
        counts: "none",
        returns: { counts: ["updated", "upserted"], reconciles: true },
      },
    ];
  }
  const save: WriteStep = {
    ...saveRows(request, `${target} AS t JOIN ${stage} AS s ON ${keyJoin(keys, "t", "s")}`, changed(compare)),
    counts: "updated",
  };
  const diff = changed(compare);
  const whenMatched =
    updates.length > 0 && diff !== "false"
      ? ` WHEN MATCHED AND ${diff} THEN UPDATE SET ${updates.map((c) => `${q(c)} = s.${q(c)}`).join(", ")}`
      : "";
  return [
    save,
    {
      sql: `MERGE INTO ${target} AS t USING ${stage} AS s ON (${keyJoin(keys, "t", "s")})${whenMatched} WHEN NOT MATCHED THEN INSERT (${cols.map(q).join(", ")}) VALUES (${cols.map((c) => `s.${q(c)}`).join(", ")})`,
      counts: "upserted",
    },
  ];
}

/** A PostgreSQL merge split over two connections; see {@link postgresMergeBeside}. */
export interface BesideMerge {
  /** In the publish transaction: the upsert; returns `upserted` and `s0`, `s1`, ... of the rows written. */
  readonly write: string;
  /**
   * In a second transaction whose snapshot was taken before the write began (so it reads the target as
   * it was): saves the changed matched rows as before-images; returns `updated` (rows saved),
   * `unchanged` (matched rows the write leaves alone) and their `s0`, `s1`, ...
   */
  readonly beforeImages: string;
  /**
   * Runs first in the capture's transaction (`SET LOCAL`, that transaction only): the capture finds each
   * batch row's target row by a probe of the unique index instead of hashing the whole target.
   */
  readonly captureSettings: string;
  /** Folds the two result rows into the single-statement shape: `updated`, `upserted`, `target_rows`, `s0`, ... */
  combine(
    write: Readonly<Record<string, unknown>>,
    beforeImages: Readonly<Record<string, unknown>>,
  ): Record<string, number>;
}

/**
 * PostgreSQL merge over a unique index on the keys, as two statements that run at the same time on two
 * connections: the upsert (index probes, in the publish transaction) and the before-image capture (a
 * hash join of batch and target plus the undo insert, in a transaction whose snapshot predates the
 * upsert). The same work as the one-statement form, on two cores instead of one. The caller keeps every
 * other writer off the target meanwhile (the publish holds the table's lock) and commits the
 * before-images before the publish. Pure.
 *
 * @example
 * const { write, beforeImages, combine } = postgresMergeBeside({ ...request, uniqueKeys: true });
 */
export function postgresMergeBeside(request: WriteRequest): BesideMerge {
  const parts = postgresUpsertParts(request);
  const sums = (prefix: string) =>
    parts.sums.map((_, i) => `, CAST(${prefix}.s${i} AS DOUBLE PRECISION) AS s${i}`).join("");
  return {
    write: `WITH written AS (${parts.written}) SELECT w.n AS upserted${sums("w")} FROM (SELECT ${parts.aggregates} FROM written) AS w`,
    beforeImages: `WITH old AS (${parts.old}), saved AS (${parts.saved}) SELECT v.n AS updated, u.n AS unchanged${sums("u")} FROM (SELECT count(*) AS n FROM saved) AS v, (SELECT ${parts.aggregates} FROM old WHERE NOT _sluice_changed) AS u`,
    // Probes cost per batch row, as the upsert's own do; a hash join reads the whole target and holds
    // it in memory, and the upsert is adding row versions to that target meanwhile.
    captureSettings:
      "SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)",
    combine(write, images) {
      const upserted = Number(write.upserted ?? 0);
      const row: Record<string, number> = {
        updated: Number(images.updated ?? 0),
        upserted,
        target_rows: upserted + Number(images.unchanged ?? 0),
      };
      parts.sums.forEach((_, i) => {
        row[`s${i}`] = Number(write[`s${i}`] ?? 0) + Number(images[`s${i}`] ?? 0);
      });
      return row;
    },
  };
}

const matches = "sluice_tmp_merge";
/** Change flags one BIGINT of the classification holds (bits 0..61: positive, exact as a JSON number). */
const FLAGS_PER_WORD = 62;

/**
 * The classification's change flags of the compared columns: bit `i % 62` of word `i / 62` is set
 * where column `i` differs from the target row it matches. Pure.
 */
function changeWords(columns: readonly string[]): string[] {
  const words: string[] = [];
  for (let from = 0; from < columns.length; from += FLAGS_PER_WORD) {
    const flags = columns
      .slice(from, from + FLAGS_PER_WORD)
      .map((c, bit) => `CASE WHEN t.${q(c)} IS DISTINCT FROM s.${q(c)} THEN ${2n ** BigInt(bit)} ELSE 0 END`);
    words.push(`CAST(${flags.join(" + ")} AS BIGINT) AS _sluice_changed_${words.length}`);
  }
  return words;
}

/**
 * DuckDB merge: one join classifies every batch row against the target row it matches (its rowid, NULL
 * for a new row, and which compared columns differ); changed target rows are saved, then updated in
 * place by rowid, and new ones inserted. Measured on DuckDB 1.5 (1M into 1M, half changed, commit
 * included): ~28% less than deleting the changed rows and inserting them again, whose insert writes
 * every changed row anew. The update sets only the columns that differ in some changed row (and the
 * lineage columns): DuckDB's update and the commit's checkpoint cost per column written, and a column
 * equal in every changed row is equal after the update either way. The result equals `MERGE`, also
 * when the target holds a key more than once (each match is updated).
 */
function duckdbMergeSteps(request: WriteRequest): WriteStep[] {
  const { target, stage, keys } = request;
  const cols = request.columns;
  const targetCols = request.targetColumns;
  const comparedCols = compared(request);
  const words = changeWords(comparedCols);
  // A new row (no rowid) has every flag set: it differs from the NULLs the outer join gives it.
  const isChanged =
    words.length === 0
      ? "false"
      : `_sluice_rowid IS NOT NULL AND (${words.map((_, i) => `_sluice_changed_${i} <> 0`).join(" OR ")})`;
  const changedRows = `(SELECT _sluice_rowid FROM ${matches} WHERE ${isChanged})`;
  const keyList = keys.map(q).join(", ");
  // The columns that differ in some changed row, from the flags (bit_or of each word, then its bits).
  const flagsOf = comparedCols.map(
    (_, i) =>
      `(bit_or(_sluice_changed_${Math.floor(i / FLAGS_PER_WORD)}) & ${2n ** BigInt(i % FLAGS_PER_WORD)}) <> 0 AS c${i}`,
  );
  const update = (row: Readonly<Record<string, unknown>>): WriteStep[] => {
    const written = new Set(comparedCols.filter((_, i) => row[`c${i}`] === true));
    const set = cols
      .filter((c) => !keys.includes(c) && (isMeta(c) || written.has(c)))
      .map((c) => `${q(c)} = s.${q(c)}`)
      .join(", ");
    if (written.size === 0 || set === "") return [];
    return [
      {
        // Counted as written rows: with the new ones they make `upserted`, of which `updated` changed.
        sql: `UPDATE ${target} AS t SET ${set} FROM (SELECT s.*, m._sluice_rowid FROM ${stage} AS s JOIN (SELECT ${keyList}, _sluice_rowid FROM ${matches} WHERE ${isChanged}) AS m ON ${keyJoin(keys, "m", "s")}) AS s WHERE t.rowid = s._sluice_rowid`,
        counts: "upserted",
      },
    ];
  };
  return [
    { sql: `DROP TABLE IF EXISTS ${matches}`, counts: "none" },
    {
      sql: `CREATE TEMP TABLE ${matches} AS SELECT ${[...keys.map((k) => `s.${q(k)}`), "t.rowid AS _sluice_rowid", ...words].join(", ")} FROM ${stage} AS s LEFT JOIN ${target} AS t ON ${keyJoin(keys, "t", "s")}`,
      counts: "none",
    },
    {
      sql: `INSERT INTO ${request.undo} (_sluice_undo_run, ${targetCols.map(q).join(", ")}) SELECT ${quoteLiteral(request.runId)}, ${targetCols.map((c) => `t.${q(c)}`).join(", ")} FROM ${target} AS t SEMI JOIN ${changedRows} AS c ON t.rowid = c._sluice_rowid`,
      counts: "updated",
    },
    ...(flagsOf.length === 0
      ? []
      : [
          {
            sql: `SELECT ${flagsOf.join(", ")} FROM ${matches} WHERE ${isChanged}`,
            counts: "none" as const,
            plansNext: update,
          },
        ]),
    {
      sql: `INSERT INTO ${target} (${cols.map(q).join(", ")}) SELECT ${cols.map((c) => `s.${q(c)}`).join(", ")} FROM ${stage} AS s SEMI JOIN (SELECT ${keyList} FROM ${matches} WHERE _sluice_rowid IS NULL) AS m ON ${keyJoin(keys, "m", "s")}`,
      counts: "upserted",
    },
    { sql: `DROP TABLE IF EXISTS ${matches}`, counts: "none" },
  ];
}

const closing = "sluice_tmp_closing";

function scd2Steps(request: WriteRequest): WriteStep[] {
  const { target, stage, keys } = request;
  const tracked = compared(request, request.track ?? request.columns);
  const at = `CAST(${quoteLiteral(request.loadedAt)} AS TIMESTAMPTZ)`;
  const deletedRows = request.closeDeleted
    ? ` UNION ALL SELECT ${keys.map((k) => `t.${q(k)}`).join(", ")}, 'deleted' FROM ${target} AS t WHERE t.is_current AND NOT EXISTS (SELECT 1 FROM ${stage} AS s WHERE ${keyJoin(keys, "t", "s")})`
    : "";
  const cols = request.columns;
  return [
    { sql: `DROP TABLE IF EXISTS ${closing}`, counts: "none" },
    {
      sql: `CREATE TEMP TABLE ${closing} AS SELECT ${keys.map((k) => `s.${q(k)}`).join(", ")}, 'changed' AS _sluice_why FROM ${target} AS t JOIN ${stage} AS s ON ${keyJoin(keys, "t", "s")} WHERE t.is_current AND ${changed(tracked)}${deletedRows}`,
      counts: "none",
    },
    saveRows(
      request,
      `${target} AS t`,
      `t.is_current AND EXISTS (SELECT 1 FROM ${closing} AS c WHERE ${keyJoin(keys, "c", "t")})`,
    ),
    {
      sql: `SELECT count(*) AS n FROM ${closing} WHERE _sluice_why = 'changed'`,
      counts: "updated",
      select: true,
    },
    {
      sql: `SELECT count(*) AS n FROM ${closing} WHERE _sluice_why = 'deleted'`,
      counts: "deleted",
      select: true,
    },
    {
      sql: `UPDATE ${target} AS t SET valid_to = ${at}, is_current = false, _sluice_run_id = ${quoteLiteral(request.runId)} FROM ${closing} AS c WHERE t.is_current AND ${keyJoin(keys, "t", "c")}`,
      counts: "none",
    },
    {
      sql: `INSERT INTO ${target} (${cols.map(q).join(", ")}, valid_from, valid_to, is_current) SELECT ${cols.map((c) => `s.${q(c)}`).join(", ")}, ${at}, CAST(NULL AS TIMESTAMPTZ), true FROM ${stage} AS s WHERE NOT EXISTS (SELECT 1 FROM ${target} AS t WHERE t.is_current AND ${keyJoin(keys, "t", "s")})`,
      counts: "upserted",
    },
    { sql: `DROP TABLE IF EXISTS ${closing}`, counts: "none" },
  ];
}

const affected = "sluice_tmp_affected";

function cdcSteps(request: WriteRequest): WriteStep[] {
  const { target, stage, keys } = request;
  const position = "_sluice_cdc_position";
  const cols = request.columns.filter((c) => c !== "_sluice_op");
  const upsert = {
    ...insertAll(
      { ...request, columns: cols },
      `${request.softDelete ? "true" : "s._sluice_op <> 'd'"} AND NOT EXISTS (SELECT 1 FROM ${target} AS t WHERE ${keyJoin(keys, "t", "s")})`,
    ),
    counts: "upserted" as const,
  };
  return [
    { sql: `DROP TABLE IF EXISTS ${affected}`, counts: "none" },
    {
      sql: `CREATE TEMP TABLE ${affected} AS SELECT ${keys.map((k) => `s.${q(k)}`).join(", ")}, s._sluice_op FROM ${stage} AS s JOIN ${target} AS t ON ${keyJoin(keys, "t", "s")} WHERE t.${position} IS NULL OR s.${position} > t.${position}`,
      counts: "none",
    },
    saveRows(
      request,
      `${target} AS t`,
      `EXISTS (SELECT 1 FROM ${affected} AS a WHERE ${keyJoin(keys, "a", "t")})`,
    ),
    { sql: `SELECT count(*) AS n FROM ${affected} WHERE _sluice_op <> 'd'`, counts: "updated", select: true },
    { sql: `SELECT count(*) AS n FROM ${affected} WHERE _sluice_op = 'd'`, counts: "deleted", select: true },
    {
      sql: `DELETE FROM ${target} AS t WHERE EXISTS (SELECT 1 FROM ${affected} AS a WHERE ${keyJoin(keys, "a", "t")})`,
      counts: "none",
    },
    upsert,
    { sql: `DROP TABLE IF EXISTS ${affected}`, counts: "none" },
  ];
}

/** Row numbers of one write, from the statements' counts. */
export interface WriteCounts {
  readonly inserted: number;
  readonly updated: number;
  readonly deleted: number;
  /** Before-images saved (the storage cost of being able to roll this load back). */
  readonly saved: number;
}

/**
 * Folds step counts into inserted/updated/deleted. `upserted` covers inserts plus the new images of
 * updated rows (and, for soft-deleting cdc, of deleted ones). Pure.
 *
 * @example
 * foldCounts("merge", [["updated", 5], ["upserted", 12]]) // { inserted: 7, updated: 5, ... }
 */
export function foldCounts(
  mode: WriteRequest["mode"],
  counts: readonly (readonly [StepCount, number])[],
  softDelete = false,
): WriteCounts {
  const sum = (kind: StepCount) => counts.filter(([k]) => k === kind).reduce((n, [, v]) => n + v, 0);
  const deleted = sum("deleted");
  const updated = sum("updated");
  const saved = sum("saved") + (mode === "merge" ? updated : 0);
  const inserted =
    sum("inserted") + Math.max(0, sum("upserted") - updated - (mode === "cdc" && softDelete ? deleted : 0));
  return { inserted, updated, deleted, saved };
}

/**
 * Undoes one load: removes the rows it wrote, restores the rows it replaced. Applied newest load
 * first, this restores a table exactly as it was after any earlier load. Pure.
 *
 * @example
 * undoSteps('"orders"', '"sluice"."undo_main_orders"', "20261121T223344Z-9f2c1a", ["order_id", ...])
 */
export function undoSteps(
  target: string,
  undo: string,
  runId: string,
  columns: readonly string[],
): WriteStep[] {
  const run = quoteLiteral(runId);
  const cols = columns.map(q).join(", ");
  return [
    { sql: `DELETE FROM ${target} WHERE _sluice_run_id = ${run}`, counts: "deleted" },
    {
      sql: `INSERT INTO ${target} (${cols}) SELECT ${cols} FROM ${undo} WHERE _sluice_undo_run = ${run}`,
      counts: "inserted",
    },
    { sql: `DELETE FROM ${undo} WHERE _sluice_undo_run = ${run}`, counts: "none" },
  ];
}
