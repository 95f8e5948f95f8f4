import type { DuckDBConnection } from "@duckdb/node-api";
import type { TargetConfig } from "../config/schema.js";
import type { JsonRow } from "../engine/duckdb-query.js";
import { queryRows } from "../engine/duckdb-query.js";
import { SluiceError } from "../errors.js";
import {
  planSchema,
  type SchemaChange,
  type SchemaPlan,
  schemaChanges,
  type TypedColumn,
} from "../plan/schema-plan.js";
import type { SqlDialect } from "../plan/sql-dialect.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import { canonicalType } from "../plan/type-evolution.js";
import {
  type BesideMerge,
  copiedModes,
  foldCounts,
  postgresMergeBeside,
  replaceSteps,
  type StepCount,
  stepsBeforeCopy,
  type WriteStep,
  writeSteps,
} from "../plan/write-modes.js";
import type { PreparedBatch } from "./prepare-batch.js";
import { quotedTableName, splitTableName } from "./split-table-name.js";
import { undoTableIdent, undoTableName } from "./undo-table-name.js";
import type { Reconciliation } from "./warehouse.js";

/** SQL against the warehouse inside the publish transaction. */
export interface SqlSession {
  readonly dialect: SqlDialect;
  /** Runs a statement; returns the rows it changed. */
  exec(sql: string): Promise<number>;
  rows(sql: string): Promise<JsonRow[]>;
}

/** A transaction on a second connection, opened with its snapshot already taken. */
export interface SnapshotTransaction {
  rows(sql: string): Promise<JsonRow[]>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

/**
 * PostgreSQL: a second connection for work beside the publish transaction, which holds the target's
 * lock throughout (no other Sluice writer touches the table meanwhile).
 */
export interface BesideSession {
  /** Takes the second connection; false when none is free without waiting (the write then runs alone). */
  open(): Promise<boolean>;
  /** Statements committed as they run (autocommit): DDL both connections must see. */
  readonly committed: SqlSession;
  /** Begins a REPEATABLE READ transaction and takes its snapshot now. */
  snapshot(): Promise<SnapshotTransaction>;
}

/** Columns of a table with their types as the database spells them; undefined when it does not exist. */
export async function tableColumns(
  session: Pick<SqlSession, "dialect" | "rows">,
  schema: string,
  name: string,
): Promise<TypedColumn[] | undefined> {
  const rows = await session.rows(session.dialect.tableColumnsSql(schema, name));
  if (rows.length === 0) return undefined;
  return rows.map((r) => ({ name: String(r.name), type: String(r.type) }));
}

/** What {@link writeBatch} needs. */
export interface WriteBatchRequest {
  readonly session: SqlSession;
  readonly engine: DuckDBConnection;
  readonly batch: PreparedBatch;
  readonly target: TargetConfig & { readonly table: string };
  readonly runId: string;
  readonly loadedAt: Date;
  readonly replaces: readonly { readonly runId: string; readonly path: string }[];
  readonly policy: "evolve" | "freeze" | "discard_columns";
  readonly sumColumns: readonly string[];
  /**
   * Source-side numbers of the batch; undefined when the write itself reads the source (single pass):
   * then the rows it wrote are the source count.
   */
  readonly source?: { readonly rows: number; readonly sums: Readonly<Record<string, number>> } | undefined;
  /**
   * Makes the batch's columns available in the warehouse; returns the quoted stage table name.
   * `analyze`: the statements that follow join the stage, so planner statistics are worth a pass.
   * `shared`: the {@link beside} connection reads the stage too (it must be committed, not temporary).
   */
  stageBatch(
    columns: readonly TypedColumn[],
    options: { readonly analyze: boolean; readonly shared?: boolean },
  ): Promise<string>;
  /**
   * Copies the batch's rows straight into the target inside the publish transaction (PostgreSQL
   * `COPY ... FROM STDIN`); when given, `append` and `replace` use it instead of a stage, so the rows
   * cross once. `created`: this transaction created the target (no other session sees it yet);
   * `exported`: called once the engine has handed over every row, with their number (it is free from
   * then on, while the server may still be copying); it returns the engine work it started beside the
   * write, if any. Returns the rows stored.
   */
  readonly copyRows?:
    | ((
        target: string,
        columns: readonly TypedColumn[],
        options: {
          readonly created: boolean;
          readonly exported: (rows?: number) => Promise<unknown> | undefined;
        },
      ) => Promise<number>)
    | undefined;
  /** A second connection; when given, a merge may capture its before-images there, beside the write. */
  readonly beside?: BesideSession | undefined;
  /**
   * Engine work to overlap with the write on PostgreSQL, where the engine is idle once the batch is on
   * the server (see {@link PublishBatch.alongsideWrite}); started after staging, settled before returning.
   * `rows`: the batch's rows, when the engine counted them handing them over.
   */
  readonly alongside?: ((rows?: number) => Promise<unknown>) | undefined;
  /**
   * Called before the write changes a table's definition (creates or alters the target or its undo
   * table) when the caller has not yet taken the locks such changes need (a PostgreSQL append that
   * locks late, see postgres-publish.ts); true when it took them just now: what was read of the
   * tables before may be stale (another publish may have changed them meanwhile) and is read again.
   */
  readonly beforeSchemaChange?: (() => Promise<boolean>) | undefined;
}

/** What a write did. */
export interface WriteOutcome {
  readonly inserted: number;
  readonly updated: number;
  readonly deleted: number;
  readonly saved: number;
  readonly reconciliation: Reconciliation;
  /** Columns the load added to or retyped in the table. */
  readonly schemaChanges?: readonly SchemaChange[];
  /**
   * A single-pass merge: the rows its stage received (every one accepted: inserted, updated or left
   * unchanged) and their count per source file.
   */
  readonly staged?: StagedRows | undefined;
}

/** The rows a single-pass merge staged on the warehouse (see {@link checkStagedKeys}). */
export interface StagedRows {
  readonly rows: number;
  byFile(): Promise<ReadonlyMap<string, number>>;
}

/**
 * How the error begins that a single-pass merge throws when its stage holds a NULL key or a key twice
 * (see {@link checkStagedKeys}): the run reads its files again, staged, where the key checks report it.
 */
export const STAGED_KEYS_MARK = "sluice keys on the stage";

/** What {@link checkTargetSchema} needs: the warehouse, the engine holding the batch, and the batch. */
export interface TargetSchemaRequest {
  readonly session: Pick<SqlSession, "dialect" | "rows">;
  readonly engine: DuckDBConnection;
  readonly target: TargetConfig & { readonly table: string };
  /** The batch as the engine holds it: a table or view and its columns (DuckDB types). */
  readonly batch: Pick<PreparedBatch, "table" | "columns">;
  readonly policy: "evolve" | "freeze" | "discard_columns";
}

/** The most columns one run adds to an existing table (schema evolution); see docs/configuration.md. */
export const MAX_NEW_COLUMNS = 1000;

/**
 * Plans the target's schema change for a batch and refuses what the policy or the data do not allow
 * (SCHEMA_CHANGE): a new column under `freeze`, an incompatible type, text that does not convert to an
 * existing column's type, a narrowing of a column holding data. Changes nothing; the returned plan says
 * what the write must do. Also run before a lake commit beside the warehouse table, so that a batch the
 * warehouse would refuse never reaches the lake.
 *
 * @example
 * const plan = await checkTargetSchema({ session, engine, target, batch, policy: "evolve" });
 */
export async function checkTargetSchema(request: TargetSchemaRequest): Promise<SchemaPlan> {
  const { session, target, batch } = request;
  const dialect = session.dialect;
  const { schema, name } = splitTableName(target.table, dialect);
  const quoted = quotedTableName(target.table, dialect);
  const existing = await tableColumns(session, schema, name);
  const modeColumns: TypedColumn[] =
    target.mode === "scd2"
      ? [
          { name: "valid_from", type: "TIMESTAMPTZ" },
          { name: "valid_to", type: "TIMESTAMPTZ" },
          { name: "is_current", type: "BOOLEAN" },
        ]
      : [];
  const incoming = [...batch.columns.filter((c) => c.name !== "_sluice_op"), ...modeColumns];
  const plan = planSchema(target.table, existing, incoming, request.policy, dialect);
  if (plan.errors.length > 0) {
    throw new SluiceError("SCHEMA_CHANGE", `${plan.errors.join("; ")}; nothing was published`);
  }
  if (existing && plan.add.length > MAX_NEW_COLUMNS) {
    throw new SluiceError(
      "SCHEMA_CHANGE",
      `table ${target.table}: ${plan.add.length} new columns arrive, more than the ${MAX_NEW_COLUMNS} one run adds to a table (each is an ALTER TABLE inside the run's transaction, past the memory limit beyond that); load the new columns in smaller files, or into a new table; nothing was published`,
    );
  }
  for (const check of plan.checks) {
    const bad = await queryRows(
      request.engine,
      `SELECT CAST(${quoteIdent(check.name)} AS VARCHAR) AS v, _sluice_source_file AS f FROM ${quoteIdent(batch.table)} WHERE ${quoteIdent(check.name)} IS NOT NULL AND TRY_CAST(${quoteIdent(check.name)} AS ${check.type}) IS NULL LIMIT 1`,
    );
    if (bad.length > 0) {
      const kind = ["int", "float", "decimal"].includes(canonicalType(check.type).family)
        ? "non-numeric"
        : "unconvertible";
      throw new SluiceError(
        "SCHEMA_CHANGE",
        `table ${target.table}: column "${check.name}" is ${existing?.find((c) => c.name === check.name)?.type} in the table but ${kind} text arrives, e.g. ${quoteLiteral(String(bad[0]!.v))} in ${String(bad[0]!.f)}; nothing was published`,
      );
    }
  }
  if (plan.narrowIfEmpty.length > 0) {
    const hasRows = (await session.rows(`SELECT 1 AS x FROM ${quoted} LIMIT 1`)).length > 0;
    if (hasRows) {
      const n = plan.narrowIfEmpty[0]!;
      throw new SluiceError(
        "SCHEMA_CHANGE",
        `table ${target.table}: column "${n.name}": type changed from ${n.from} to ${n.incoming}, which would narrow a column holding data; declare columns: { ${n.name}: { type: varchar } } in the pipeline or migrate the table by hand; nothing was published`,
      );
    }
  }
  return plan;
}

/**
 * Writes a prepared batch into its target table under the target's write mode, inside the caller's
 * transaction: schema evolution (per policy), before-images for rollback, the mode's statements, then
 * reconciliation of source against target. Shared by the DuckDB and PostgreSQL warehouses.
 *
 * @example
 * const outcome = await writeBatch({ session, engine, batch, target, runId, loadedAt, replaces: [], policy: "evolve", sumColumns: [], source, stageBatch });
 */
export async function writeBatch(request: WriteBatchRequest): Promise<WriteOutcome> {
  const { session, target, batch } = request;
  const dialect = session.dialect;
  const { schema, name } = splitTableName(target.table, dialect);
  const quoted = quotedTableName(target.table, dialect);
  const planOf = () =>
    checkTargetSchema({ session, engine: request.engine, target, batch, policy: request.policy });
  let plan = await planOf();
  const changes =
    plan.create !== undefined || plan.add.length + plan.widen.length + plan.narrowIfEmpty.length > 0;
  if (changes && (await request.beforeSchemaChange?.())) plan = await planOf();
  const undo = undoTableName(target.table, dialect);
  const undoIdent = undoTableIdent(target.table, dialect);
  if (plan.create) {
    if (schema !== dialect.defaultSchema) {
      await session.exec(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    }
    const create = dialect.createTableSql(quoted, plan.create, {
      mode: target.mode,
      keys: target.keys ?? [],
    });
    for (const sql of create) await session.exec(sql);
  }
  for (const column of plan.add) {
    await session.exec(`ALTER TABLE ${quoted} ADD COLUMN ${quoteIdent(column.name)} ${column.type}`);
  }
  for (const column of [...plan.widen, ...plan.narrowIfEmpty]) {
    await session.exec(dialect.alterColumnTypeSql(quoted, column.name, column.type));
  }
  const targetColumns = (await tableColumns(session, schema, name))!;
  const uniqueKeys =
    target.mode === "merge" && (target.keys ?? []).length > 0
      ? await hasUniqueIndex(session, schema, name, target.keys ?? [])
      : false;
  // Before-images beside the write need both connections to see the same tables: nothing this
  // transaction changed but has not committed (new or altered target, rows of replaced loads).
  const beside =
    uniqueKeys &&
    request.beside &&
    !plan.create &&
    plan.add.length === 0 &&
    plan.widen.length === 0 &&
    plan.narrowIfEmpty.length === 0 &&
    request.replaces.length === 0 &&
    (await request.beside.open())
      ? request.beside
      : undefined;
  await syncUndoTable(
    beside?.committed ?? session,
    quoted,
    { quoted: undo, name: undoIdent },
    targetColumns,
    request.beforeSchemaChange,
  );

  const targetTypes = new Map(targetColumns.map((c) => [c.name, c.type]));
  const discard = new Set(plan.discard);
  const stageColumns = batch.columns
    .filter((c) => !discard.has(c.name))
    .map((c) => ({ name: c.name, type: targetTypes.get(c.name) ?? dialect.ddlType(c.type) }));
  // Rows copied straight into the target need no stage (see copyRows). The ON CONFLICT merge probes
  // the target's index row by row: no join to plan, no statistics needed.
  const copied = request.copyRows !== undefined && copiedModes.has(target.mode);
  const stage = copied
    ? undefined
    : await request.stageBatch(stageColumns, { analyze: !uniqueKeys, shared: beside !== undefined });
  // A single pass has no source numbers yet: a merge takes them, and its key checks, from its stage.
  const staged =
    stage !== undefined && request.source === undefined && target.mode === "merge"
      ? await checkStagedKeys(
          session,
          stage,
          target,
          request.sumColumns.filter((c) => stageColumns.some((s) => s.name === c)),
        )
      : undefined;
  const written = staged ? { ...request, source: staged.source } : request;
  // Where the warehouse writes on a server the engine has nothing left to do for this write: engine
  // work may run beside it (the caller passes `alongside` only then). It settles before this returns or throws, so no engine
  // statement of it overlaps whatever the caller runs next; its failure surfaces where it is awaited.
  // A merge with a capture beside it starts the work once the capture is done (a core is free then).
  let alongside: Promise<unknown> | undefined;
  const startAlongside = (rows?: number) => {
    if (request.alongside && !alongside) {
      alongside = request.alongside(rows);
      alongside.catch(() => undefined);
    }
    return alongside;
  };
  try {
    const ready = { quoted, undo, stage, stageColumns, targetColumns, uniqueKeys, beside };
    const outcome =
      stage === undefined
        ? await writeCopied(written, ready, plan.create !== undefined, startAlongside)
        : // A single-pass merge counted its rows on the stage: the work beside learns their number
          // as the copy tells an append's (it chooses how the profile counts distinct values).
          await writeStaged(written, { ...ready, stage }, () => startAlongside(staged?.rows.rows));
    return { ...outcome, schemaChanges: schemaChanges(plan), staged: staged?.rows };
  } finally {
    await alongside?.catch(() => undefined);
  }
}

/** What the write proper knows once the target is ready. */
interface ReadyTarget {
  readonly quoted: string;
  readonly undo: string;
  readonly stage: string | undefined;
  readonly stageColumns: readonly TypedColumn[];
  readonly targetColumns: readonly TypedColumn[];
  readonly uniqueKeys: boolean;
  readonly beside: BesideSession | undefined;
}

/** The statements' request of a write (see write-modes.ts). */
function stepsRequestOf(request: WriteBatchRequest, ready: ReadyTarget, sumColumns: readonly string[]) {
  const { session, target } = request;
  const { quoted, undo, stageColumns, targetColumns, uniqueKeys } = ready;
  return {
    dialect: session.dialect,
    mode: target.mode,
    target: quoted,
    // A copied write has no stage; none of its statements reads one.
    stage: ready.stage ?? quoted,
    undo,
    runId: request.runId,
    loadedAt: request.loadedAt.toISOString(),
    columns: stageColumns.map((c) => c.name),
    targetColumns: targetColumns.map((c) => c.name),
    keys: target.keys ?? [],
    partitionBy: target.partition_by ?? [],
    track: target.track,
    closeDeleted: target.close_deleted,
    softDelete: target.cdc?.soft_delete,
    uniqueKeys,
    sumColumns,
  } as const;
}

/**
 * An `append` or `replace` whose rows are copied straight into the target (PostgreSQL): replace's
 * before-images and delete, the copy, then reconciliation — the copy's own count is the target side
 * unless sums are reconciled too. Engine work beside the write starts once the engine has exported
 * the rows (the server may still be copying them).
 */
async function writeCopied(
  request: WriteBatchRequest,
  ready: ReadyTarget,
  created: boolean,
  startAlongside: (rows?: number) => Promise<unknown> | undefined,
): Promise<WriteOutcome> {
  const { session, target } = request;
  const sumColumns = reconciledSums(
    request,
    ready.stageColumns.map((c) => c.name),
  );
  const stepsRequest = stepsRequestOf(request, ready, sumColumns);
  const counts: [StepCount, number][] = [];
  for (const step of [...replaceSteps(stepsRequest, request.replaces), ...stepsBeforeCopy(stepsRequest)]) {
    counts.push([step.counts, await session.exec(step.sql)]);
  }
  const copied = await request.copyRows!(ready.quoted, ready.stageColumns, {
    created,
    exported: startAlongside,
  });
  counts.push(["inserted", copied]);
  startAlongside(copied);
  const folded = foldCounts(target.mode, counts);
  const targetSide =
    sumColumns.length > 0
      ? await targetNumbers(request, ready.quoted, ready.quoted, sumColumns)
      : { target_rows: copied };
  return { ...folded, reconciliation: reconciliationOf(request, sumColumns, targetSide, folded.inserted) };
}

/** The write proper, once the batch is staged: before-images, the mode's statements, reconciliation. */
async function writeStaged(
  request: WriteBatchRequest,
  ready: ReadyTarget & { readonly stage: string },
  startAlongside: () => void,
): Promise<WriteOutcome> {
  const { session, target } = request;
  const { quoted, stage, stageColumns, beside } = ready;
  const sumColumns = reconciledSums(
    request,
    stageColumns.map((c) => c.name),
  );
  const stepsRequest = stepsRequestOf(request, ready, sumColumns);
  if (beside) {
    const merge = postgresMergeBeside(stepsRequest);
    const measured = merge.combine(...(await writeBeside(session, beside, merge, startAlongside)));
    const folded = foldCounts(target.mode, [
      ["updated", measured.updated!],
      ["upserted", measured.upserted!],
    ]);
    return { ...folded, reconciliation: reconciliationOf(request, sumColumns, measured, folded.inserted) };
  }
  startAlongside();
  const steps: WriteStep[] = [...replaceSteps(stepsRequest, request.replaces), ...writeSteps(stepsRequest)];
  const counts: [StepCount, number][] = [];
  let measured: JsonRow | undefined;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    if (step.plansNext) {
      steps.splice(i + 1, 0, ...step.plansNext((await session.rows(step.sql))[0] ?? {}));
    } else if (step.returns) {
      const row = (await session.rows(step.sql))[0] ?? {};
      for (const kind of step.returns.counts) counts.push([kind, Number(row[kind] ?? 0)]);
      if (step.returns.reconciles) measured = row;
    } else if (step.select) {
      const row = (await session.rows(step.sql))[0];
      counts.push([step.counts, Number(row?.n ?? 0)]);
    } else {
      counts.push([step.counts, await session.exec(step.sql)]);
    }
  }
  const folded = foldCounts(target.mode, counts, target.cdc?.soft_delete ?? false);
  // A statement that measured the target side while writing spares the reconciliation query.
  const targetSide = measured ?? (await targetNumbers(request, quoted, stage, sumColumns));
  return {
    ...folded,
    reconciliation: reconciliationOf(request, sumColumns, targetSide, folded.inserted),
  };
}

/**
 * Runs the write in the publish transaction and the before-image capture beside it at the same time;
 * the capture's snapshot is taken before the write starts, so it reads the target as it was. Commits the
 * before-images only when both succeeded (the publish transaction commits after; before-images of a
 * publish that then fails belong to no load and are never read). Returns both statements' rows.
 * `afterCapture` is called once the capture is done (its core is free then while the write goes on).
 */
async function writeBeside(
  session: SqlSession,
  beside: BesideSession,
  merge: Pick<BesideMerge, "write" | "beforeImages" | "captureSettings">,
  afterCapture: () => void,
): Promise<[JsonRow, JsonRow]> {
  const snapshot = await beside.snapshot();
  // The snapshot is taken: the settings may follow while the write starts.
  const capture = snapshot.rows(merge.captureSettings).then(() => snapshot.rows(merge.beforeImages));
  capture.then(afterCapture, () => undefined);
  const [written, saved] = await Promise.allSettled([session.rows(merge.write), capture]);
  if (written.status === "rejected" || saved.status === "rejected") {
    await snapshot.rollback().catch(() => undefined);
    throw written.status === "rejected" ? written.reason : (saved as PromiseRejectedResult).reason;
  }
  await snapshot.commit();
  return [written.value[0] ?? {}, saved.value[0] ?? {}];
}

/**
 * The key checks and source numbers of a single-pass merge, by one aggregate over its stage (the rows as
 * the warehouse parsed them from DuckDB's read of the files), before the upsert: a NULL key or a key twice
 * throws ({@link STAGED_KEYS_MARK}: the staged way names them); otherwise the rows and the sums of
 * `sumColumns`, the source side of reconciliation.
 */
async function checkStagedKeys(
  session: SqlSession,
  stage: string,
  target: TargetConfig & { readonly table: string },
  sumColumns: readonly string[],
): Promise<{
  source: NonNullable<WriteBatchRequest["source"]>;
  rows: StagedRows;
}> {
  const keys = (target.keys ?? []).map(quoteIdent);
  const sums = sumColumns.map((c, i) => `, CAST(sum(${quoteIdent(c)}) AS DOUBLE PRECISION) AS s${i}`);
  // A distinct count sorts the keys: on 1M rows ~10x cheaper than grouping them into a hash table (one
  // group per key). NULL keys are counted apart; a row of several keys is never NULL itself.
  const distinct = keys.length === 1 ? keys[0] : `(${keys.join(", ")})`;
  const row =
    (
      await session.rows(
        `SELECT count(*) AS n, count(DISTINCT ${distinct}) AS keys, count(*) FILTER (WHERE ${keys.map((k) => `${k} IS NULL`).join(" OR ")}) AS null_keys${sums.join("")} FROM ${stage}`,
      )
    )[0] ?? {};
  if (Number(row.null_keys ?? 0) > 0 || Number(row.keys ?? 0) < Number(row.n ?? 0)) {
    throw new SluiceError(
      "KEY_VIOLATION",
      `${STAGED_KEYS_MARK}: table ${target.table}: ${Number(row.null_keys) > 0 ? "a NULL key" : "a key more than once"} in the batch`,
    );
  }
  const rows = Number(row.n ?? 0);
  return {
    source: { rows, sums: Object.fromEntries(sumColumns.map((c, i) => [c, Number(row[`s${i}`] ?? 0)])) },
    rows: {
      rows,
      async byFile() {
        const counts = await session.rows(
          `SELECT _sluice_source_file AS f, count(*) AS n FROM ${stage} GROUP BY 1`,
        );
        return new Map(counts.map((r) => [String(r.f), Number(r.n)]));
      },
    },
  };
}

/** Whether a unique index a merge can target covers exactly `keys` (false where merges use none). */
async function hasUniqueIndex(
  session: SqlSession,
  schema: string,
  name: string,
  keys: readonly string[],
): Promise<boolean> {
  const lookup = session.dialect.uniqueIndexesSql;
  if (!lookup) return false;
  const wanted = [...keys].sort();
  const rows = await session.rows(lookup(schema, name, keys.length));
  return rows.some((r) => {
    const cols = (r.cols as string[] | null) ?? [];
    return cols.length === wanted.length && cols.every((c, i) => c === wanted[i]);
  });
}

/**
 * Keeps the undo table's columns in step with the target (created on first use). `beforeChange`: see
 * {@link WriteBatchRequest.beforeSchemaChange} (the undo table is read again once it took the locks).
 */
export async function syncUndoTable(
  session: SqlSession,
  target: string,
  undoTable: { readonly quoted: string; readonly name: string },
  targetColumns: readonly TypedColumn[],
  beforeChange?: () => Promise<boolean>,
): Promise<void> {
  const undo = undoTable.quoted;
  const existing = await tableColumns(session, "sluice", undoTable.name);
  const have = new Map(existing?.map((c) => [c.name, c.type]));
  const inStep =
    existing !== undefined &&
    targetColumns.every((c) => have.get(c.name)?.toLowerCase() === c.type.toLowerCase());
  if (!inStep && beforeChange && (await beforeChange())) {
    return syncUndoTable(session, target, undoTable, targetColumns);
  }
  if (!existing) {
    await session.exec(
      `CREATE TABLE ${undo} AS SELECT CAST(NULL AS VARCHAR) AS _sluice_undo_run, t.* FROM ${target} AS t WHERE false`,
    );
    for (const sql of session.dialect.undoIndexSql(undo)) await session.exec(sql);
    return;
  }
  for (const column of targetColumns) {
    const type = have.get(column.name);
    if (type === undefined) {
      await session.exec(`ALTER TABLE ${undo} ADD COLUMN ${quoteIdent(column.name)} ${column.type}`);
    } else if (type.toLowerCase() !== column.type.toLowerCase()) {
      await session.exec(session.dialect.alterColumnTypeSql(undo, column.name, column.type));
    }
  }
}

/** The numeric columns reconciled for this write (cdc reconciles rows only; scd2 its tracked columns). */
function reconciledSums(request: WriteBatchRequest, stageColumns: readonly string[]): string[] {
  const config = request.target;
  if (config.mode === "cdc" || !request.source) return [];
  const tracked = config.mode === "scd2" && config.track ? new Set(config.track) : undefined;
  return request.sumColumns.filter((c) => stageColumns.includes(c) && (!tracked || tracked.has(c)));
}

/**
 * The target side of reconciliation, by query: `n` (rows), `s0`, `s1`, ... (sums) over the rows the
 * batch's keys reach (merge, scd2: current versions, cdc: live rows) or that carry the run id; for cdc
 * also `source_rows` (the batch's rows that are not deletes).
 */
async function targetNumbers(
  request: WriteBatchRequest,
  target: string,
  stage: string,
  sumColumns: readonly string[],
): Promise<JsonRow> {
  const { session, target: config } = request;
  const keys = (config.keys ?? []).map(quoteIdent);
  const join = keys.map((k) => `t.${k} = s.${k}`).join(" AND ");
  const sums = sumColumns.map((c, i) => `CAST(sum(t.${quoteIdent(c)}) AS DOUBLE PRECISION) AS s${i}`);
  const select = `SELECT count(*) AS target_rows${sums.map((s) => `, ${s}`).join("")}`;
  let sql: string;
  let sourceRows: number | undefined;
  switch (config.mode) {
    case "merge":
      sql = `${select} FROM ${target} AS t JOIN ${stage} AS s ON ${join}`;
      break;
    case "scd2":
      sql = `${select} FROM ${target} AS t JOIN ${stage} AS s ON ${join} WHERE t.is_current`;
      break;
    case "cdc": {
      const live = config.cdc?.soft_delete ? " AND NOT t._sluice_deleted" : "";
      sourceRows = Number(
        (await session.rows(`SELECT count(*) AS n FROM ${stage} WHERE _sluice_op <> 'd'`))[0]?.n ?? 0,
      );
      sql = `${select} FROM ${target} AS t JOIN ${stage} AS s ON ${join} WHERE s._sluice_op <> 'd'${live}`;
      break;
    }
    default:
      sql = `${select} FROM ${target} AS t WHERE t._sluice_run_id = ${quoteLiteral(request.runId)}`;
  }
  const row = (await session.rows(sql))[0] ?? {};
  return sourceRows === undefined ? row : { ...row, source_rows: sourceRows };
}

/** Source (the batch as the engine holds it) against the target side: rows and sums. */
function reconciliationOf(
  request: WriteBatchRequest,
  sumColumns: readonly string[],
  row: JsonRow,
  written: number,
): Reconciliation {
  const sourceRows =
    row.source_rows === undefined ? (request.source?.rows ?? written) : Number(row.source_rows);
  const targetRows = Number(row.target_rows ?? 0);
  const mismatches: string[] = [];
  if (targetRows !== sourceRows) mismatches.push(`rows: source ${sourceRows}, target ${targetRows}`);
  const sumReport: Record<string, { source: number; target: number }> = {};
  sumColumns.forEach((c, i) => {
    const source = request.source?.sums[c] ?? 0;
    const value = Number(row[`s${i}`] ?? 0);
    sumReport[c] = { source, target: value };
    if (Math.abs(source - value) > 1e-9 * Math.max(1, Math.abs(source))) {
      mismatches.push(`sum(${c}): source ${source}, target ${value}`);
    }
  });
  return {
    source_rows: sourceRows,
    target_rows: targetRows,
    sums: sumReport,
    ok: mismatches.length === 0,
    mismatches,
  };
}
