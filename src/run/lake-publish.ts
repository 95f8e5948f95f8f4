import type { DuckDBConnection } from "@duckdb/node-api";
import type { Logger } from "pino";
import type { LakeTargetConfig, PipelineConfig, TargetConfig } from "../config/schema.js";
import { queryRows } from "../engine/duckdb-query.js";
import { firstLine, SluiceError } from "../errors.js";
import { listDeltaLog, readCommit } from "../lake/delta-log.js";
import { snapshotSelectSql } from "../lake/delta-reader.js";
import { tryLoadSnapshot, writeDelta } from "../lake/delta-writer.js";
import { pruneFiles } from "../lake/file-pruning.js";
import { type LakeTable, tableFile } from "../lake/lake-table.js";
import { manifestVersions, readManifest, writeParquetLake } from "../lake/parquet-lake.js";
import { quoteLiteral } from "../plan/sql-text.js";
import { loadedHashesSql } from "../warehouse/catalog-sql.js";
import type { LedgerEntry, Warehouse } from "../warehouse/warehouse.js";
import type { ProjectContext } from "./project-context.js";
import type { RunOutcome } from "./run-outcome.js";

/** A pipeline's lake target with every default applied. */
export interface LakeTargetPlan {
  readonly table: string;
  readonly format: "delta" | "parquet";
  readonly mode: "append" | "overwrite" | "replace_partitions" | "merge";
  readonly keys: readonly string[];
  readonly partitionBy: readonly string[];
  readonly compression: LakeTargetConfig["compression"];
  readonly targetFileSize: string;
  readonly rowGroupSize: number;
}

const modeFromTarget: Readonly<Record<TargetConfig["mode"], LakeTargetPlan["mode"]>> = {
  append: "append",
  replace: "overwrite",
  merge: "merge",
  delete_insert: "replace_partitions",
  scd2: "append",
  cdc: "append",
};

/**
 * The lake target of a pipeline, or undefined without one. `mode` defaults from `target.mode`
 * (append→append, replace→overwrite, merge→merge, delete_insert→replace_partitions); `keys` from `target.keys`.
 *
 * @example
 * lakeTargetPlan({ mode: "replace", lake: { table: "orders", ... } })?.mode; // "overwrite"
 */
export function lakeTargetPlan(target: TargetConfig): LakeTargetPlan | undefined {
  const lake = target.lake;
  if (!lake) return undefined;
  return {
    table: lake.table,
    format: lake.format,
    mode: lake.mode ?? modeFromTarget[target.mode],
    keys: lake.keys ?? target.keys ?? [],
    partitionBy: lake.partition_by,
    compression: lake.compression,
    targetFileSize: lake.target_file_size,
    rowGroupSize: lake.row_group_size,
  };
}

/** One source file whose rows a lake commit holds. */
interface SourceRef {
  readonly path: string;
  readonly sha256: string;
  /** Rows of the file the commit wrote (absent in commits of older versions). */
  readonly rows?: number;
}

/** What Sluice records with each lake commit (Delta `commitInfo.sluice`, Parquet manifest `sluice`). */
type LakeProvenance = {
  readonly pipeline: string;
  readonly runId: string;
  readonly sequence: number;
  readonly sources: readonly SourceRef[];
};

/**
 * The highest run sequence a pipeline already committed to its lake table (0 when none).
 * A run crashed after its lake commit and before its warehouse commit "used" a sequence the
 * catalog never saw; the next run takes a higher one so that its Delta `txn` is new.
 *
 * @example
 * report.sequence = Math.max(report.sequence, (await lakeSequence(ctx, engine, "orders", pipeline)) + 1);
 */
export async function lakeSequence(
  ctx: ProjectContext,
  con: DuckDBConnection,
  name: string,
  pipeline: PipelineConfig,
): Promise<number> {
  const plan = lakeTargetPlan(pipeline.target);
  if (!plan) return 0;
  const table: LakeTable = { storage: ctx.lake, path: plan.table };
  if (plan.format === "delta") {
    const snapshot = await tryLoadSnapshot(con, table);
    return snapshot?.txns.get(name) ?? 0;
  }
  for (const version of await manifestVersions(table)) {
    const prov = (await readManifest(table, version)).sluice as LakeProvenance | undefined;
    if (prov?.pipeline === name) return prov.sequence;
  }
  return 0;
}

/**
 * Writes a run's rows into the pipeline's lake table, inside the warehouse transaction that publishes the
 * run, under the pipeline's lock (see `PositionClaim.afterClaim`): the lake commits of one pipeline
 * come one at a time across processes, each followed by its warehouse commit before the next begins.
 *
 * Exactly once across the two systems: each lake commit records its pipeline, run id, sequence
 * and source files (path + sha256) and carries a Delta `txn` (appId = pipeline, version past the
 * table's). The rest of the warehouse transaction (rows, ledger, run record) follows. If the process dies
 * between the two commits, the catalog never learns of the run, the files stay in the landing zone
 * and the next run stages them again. Before writing, that run walks the lake's commits newest first
 * and collects this pipeline's "orphan" commits — those whose run has no loaded ledger rows — until it
 * reaches a commit whose run the catalog knows (on a Delta table, past up to KNOWN_COMMITS_PAST of them:
 * workers commit other units after an interrupted run). Files whose content (sha256) an orphan already holds,
 * and whose rows the table still holds (a rollback forgets a run, a lake restore takes rows out), are
 * not written again (append mode; the other modes are idempotent by construction); they are
 * published to the warehouse and recorded in the ledger as usual.
 *
 * Commits of the pipeline come one at a time but not in the order of their run sequences (runs of several
 * processes start in one order and publish in another): the Delta txn version is taken past the table's,
 * or a run that took its sequence before the last commit would be skipped as present and its rows lost.
 * A retried publish of the same run is then not skipped by its txn: its interrupted commit is found as an
 * orphan instead (above). Files another run of the pipeline loaded meanwhile are left out, as the warehouse
 * publish that follows under the same lock leaves them out (reported skipped_duplicate).
 *
 * `streamBatch`: since no other commit of the pipeline is in flight, the rows of every interrupted run still
 * in a Delta table are removed in this commit (a stream batch's messages come again, in other batches).
 *
 * @example
 * await publishToLake(ctx, warehouse, "orders", plan, outcome, logger); // in the publish transaction
 */
export async function publishToLake(
  ctx: ProjectContext,
  warehouse: Warehouse,
  name: string,
  plan: LakeTargetPlan,
  outcome: RunOutcome,
  logger: Logger,
  streamBatch = false,
): Promise<void> {
  const { rowsSql, report, ledger } = outcome;
  if (!rowsSql) return;
  const con = warehouse.engine;
  const table: LakeTable = { storage: ctx.lake, path: plan.table };
  const where = `pipeline ${name}: lake table ${plan.table}`;
  await assertPartitionColumns(con, rowsSql, plan, where);
  // A commit an earlier writer claimed but did not copy (killed, or cut off by a database restart) is
  // completed first: otherwise this commit would read a log without it, take its txn version (and be
  // skipped as already present when the claimed commit appears) and miss its orphans (and write their
  // files again).
  await ctx.lake.completeLog?.(tableFile(table, plan.format === "delta" ? "_delta_log" : "_manifests"));

  const duplicates = await loadedMeanwhile(warehouse, name, outcome);
  const loaded = ledger.filter((e) => e.status === "loaded" && !duplicates.has(e.path));
  // The rows name their original file: a replay unit's ledger path is not what they carry.
  const sourceFileOf = (path: string) => outcome.sourceFiles?.get(path) ?? path;
  const { already, stale } =
    plan.mode === "append"
      ? await interruptedRuns(warehouse, table, plan.format, name, loaded, streamBatch)
      : { already: new Map<string, string>(), stale: [] };
  for (const [path, runId] of already) {
    logger.info(
      { file: path, lake_run: runId },
      "rows already in the lake (interrupted run); not written again",
    );
  }
  for (const { path, runIds } of stale) {
    logger.info(
      { file: path, lake_runs: runIds },
      streamBatch
        ? "rows an interrupted run wrote to the lake leave it (its messages come again)"
        : "the interrupted run wrote other rows of this file to the lake; they are replaced",
    );
  }
  const sources = loaded
    .filter((e) => !already.has(e.path))
    .map((e) => ({ path: e.path, sha256: e.sha256, rows: e.rowsLoaded }));
  for (const path of duplicates) {
    logger.info({ file: path }, "loaded meanwhile by another run; not written to the lake");
  }
  if (sources.length === 0) return;
  const skipped = [...already.keys(), ...duplicates].map(sourceFileOf);
  const sql =
    skipped.length === 0
      ? rowsSql
      : `SELECT * FROM (${rowsSql}) WHERE _sluice_source_file NOT IN (${skipped.map(quoteLiteral).join(", ")})`;
  // `--force`: the earlier loads of the same content leave the lake in the same commit (Delta), and so do
  // the rows an interrupted run wrote of a file this run writes otherwise.
  const removedLoads = [
    ...outcome.replaces,
    ...stale.flatMap(({ path, runIds }) => runIds.map((runId) => ({ runId, path: sourceFileOf(path) }))),
  ];
  const replaced =
    removedLoads.length === 0
      ? undefined
      : removedLoads
          .map(
            (r) =>
              `(_sluice_run_id = ${quoteLiteral(r.runId)} AND _sluice_source_file = ${quoteLiteral(r.path)})`,
          )
          .join(" OR ");
  if (replaced && plan.format === "parquet") {
    logger.warn(
      { lake: plan.table },
      "--force: earlier rows of reloaded files stay in the parquet lake table",
    );
  }
  const provenance: LakeProvenance = {
    pipeline: name,
    runId: report.run_id,
    sequence: report.sequence,
    sources,
  };
  try {
    if (plan.format === "delta") {
      const result = await writeDelta(con, table, sql, {
        mode: plan.mode,
        partitionBy: plan.partitionBy,
        ...(plan.keys.length > 0 ? { keys: plan.keys } : {}),
        compression: plan.compression,
        targetFileSize: plan.targetFileSize,
        rowGroupSize: plan.rowGroupSize,
        ...(replaced ? { deleteWhere: replaced } : {}),
        appId: name,
        txnVersion: await txnPastTable(con, table, name, report.sequence),
        // Two runs can take the same version (one cut off from the database while it still wrote, the
        // other let in): the txn names no run, so it never skips a write; a retried run's commit is found
        // as an orphan instead (above).
        txnSkip: false,
        tableName: plan.table,
        commitInfo: { sluice: provenance },
      });
      logger.info(
        { lake: plan.table, version: result.version, files: result.filesAdded, rows: result.rowsWritten },
        result.skipped ? "lake commit already present (txn)" : "published to lake",
      );
    } else {
      if (plan.mode !== "append" && plan.mode !== "overwrite") {
        throw new SluiceError(
          "CONFIG_INVALID",
          `${where}: format parquet supports mode append or overwrite only`,
        );
      }
      const result = await writeParquetLake(con, table, sql, {
        mode: plan.mode,
        partitionBy: plan.partitionBy,
        compression: plan.compression,
        targetFileSize: plan.targetFileSize,
        rowGroupSize: plan.rowGroupSize,
        runId: report.run_id,
        provenance,
      });
      logger.info(
        { lake: plan.table, version: result.version, files: result.filesAdded },
        "published to lake",
      );
    }
  } catch (error) {
    if (error instanceof SluiceError) {
      throw new SluiceError(error.code, `${where}: ${error.message}`, {
        cause: error,
        transient: error.transient,
      });
    }
    throw new SluiceError("LAKE_ERROR", `${where}: ${firstLine(String((error as Error)?.message))}`, {
      cause: error,
    });
  }
}

/**
 * Ledger paths of the run's loaded files whose content another run of the pipeline has loaded since this
 * run looked (the same test as the warehouse publish's, which drops them as duplicates): none under
 * `--force`, whose loads replace the earlier ones.
 */
async function loadedMeanwhile(
  warehouse: Warehouse,
  pipeline: string,
  outcome: RunOutcome,
): Promise<Set<string>> {
  const loaded = outcome.ledger.filter((e) => e.status === "loaded" && e.sha256 !== "");
  if (outcome.replaces.length > 0 || loaded.length === 0) return new Set();
  const rows = await warehouse.query(
    loadedHashesSql(
      pipeline,
      loaded.map((e) => e.sha256),
    ),
  );
  const hashes = new Set(rows.map((r) => String(r.sha256)));
  return new Set(loaded.filter((e) => hashes.has(e.sha256)).map((e) => e.path));
}

/**
 * A Delta txn version for the pipeline past the table's (at least `sequence`): the commits of a pipeline
 * come in the order their runs publish, not the order of their sequences.
 */
async function txnPastTable(
  con: DuckDBConnection,
  table: LakeTable,
  name: string,
  sequence: number,
): Promise<number> {
  const seen = (await tryLoadSnapshot(con, table))?.txns.get(name) ?? 0;
  return Math.max(sequence, seen + 1);
}

async function assertPartitionColumns(
  con: DuckDBConnection,
  rowsSql: string,
  plan: LakeTargetPlan,
  where: string,
): Promise<void> {
  if (plan.partitionBy.length === 0 && plan.keys.length === 0) return;
  let columns: string[];
  try {
    columns = (await queryRows(con, `DESCRIBE ${rowsSql}`)).map((r) => String(r.column_name));
  } catch (error) {
    throw new SluiceError(
      "LAKE_ERROR",
      `${where}: the rows cannot be shaped (check derive expressions and column types): ${firstLine((error as Error).message)}`,
      { cause: error },
    );
  }
  const have = new Set(columns);
  for (const [role, list] of [
    ["partition_by", plan.partitionBy],
    ["keys", plan.mode === "merge" ? plan.keys : []],
  ] as const) {
    for (const column of list) {
      if (!have.has(column)) {
        throw new SluiceError(
          "LAKE_ERROR",
          `${where}: ${role} column ${column} is not a column of the rows (declare it under columns or derive it); the rows have ${columns.filter((c) => !c.startsWith("_sluice_")).join(", ")}`,
        );
      }
    }
  }
}

async function runKnown(warehouse: Warehouse, runId: string): Promise<boolean> {
  const rows = await warehouse.query(
    `SELECT 1 AS known FROM sluice.files WHERE run_id = ${quoteLiteral(runId)} AND status = 'loaded' LIMIT 1`,
  );
  return rows.length > 0;
}

/** A file a lake commit of an unknown run holds. */
interface OrphanSource {
  readonly runId: string;
  readonly path: string;
  readonly rows?: number | undefined;
}

/**
 * The loaded files an interrupted run (a lake commit the catalog does not know, whose rows are still in
 * the table) already wrote to the lake: `already` (ledger path → that run) when it wrote as many rows of
 * the file as this run loads, so they are not written again; `stale` when it wrote another number (the
 * configuration changed in between, e.g. a replay's checks): on Delta its rows of the file are replaced by
 * this run's in the same commit, so the lake holds what the warehouse does.
 */
async function interruptedRuns(
  warehouse: Warehouse,
  table: LakeTable,
  format: LakeTargetPlan["format"],
  pipeline: string,
  loaded: readonly LedgerEntry[],
  streamBatch: boolean,
): Promise<{ already: Map<string, string>; stale: { path: string; runIds: string[] }[] }> {
  const orphans = await orphanSources(table, format, pipeline, (runId) => runKnown(warehouse, runId));
  if (format === "delta") await keepRowsStillInTable(warehouse.engine, table, orphans);
  const already = new Map<string, string>();
  const stale: { path: string; runIds: string[] }[] = [];
  if (streamBatch && format === "delta") {
    // No other commit of the pipeline is in flight: an orphan is a dead run. A stream batch's messages
    // come again in other batches (another digest), so its rows leave the lake whatever this run holds.
    for (const list of orphans.values()) {
      for (const o of list) stale.push({ path: o.path, runIds: [o.runId] });
    }
    return { already, stale };
  }
  for (const entry of loaded) {
    const held = orphans.get(entry.sha256);
    if (!held) continue;
    const newest = held[0]!;
    if (format === "delta" && newest.rows !== undefined && newest.rows !== entry.rowsLoaded) {
      stale.push({ path: entry.path, runIds: [...new Set(held.map((o) => o.runId))] });
    } else {
      already.set(entry.path, newest.runId);
    }
  }
  return { already, stale };
}

/**
 * sha256 → runs (and paths) of files held by this pipeline's lake commits that the catalog does not know,
 * scanning newest first and stopping at the first commit of the pipeline whose run is known.
 */
/** Known commits an orphan search of a Delta table looks past (commits of other units in between). */
const KNOWN_COMMITS_PAST = 32;

async function orphanSources(
  table: LakeTable,
  format: LakeTargetPlan["format"],
  pipeline: string,
  known: (runId: string) => Promise<boolean>,
): Promise<Map<string, OrphanSource[]>> {
  const found = new Map<string, OrphanSource[]>();
  const consider = async (prov: LakeProvenance | undefined): Promise<boolean> => {
    if (!prov || prov.pipeline !== pipeline) return true;
    if (await known(prov.runId)) return false;
    for (const s of prov.sources) {
      found.set(s.sha256, [
        ...(found.get(s.sha256) ?? []),
        { runId: prov.runId, path: s.path, rows: s.rows },
      ]);
    }
    return true;
  };
  if (format === "delta") {
    let versions: number[];
    try {
      versions = [...(await listDeltaLog(table)).commits.keys()].sort((a, b) => b - a);
    } catch {
      return found; // no table yet
    }
    // Workers commit other units of the pipeline after an interrupted run's commit, so its orphan is not
    // always the newest: look past known commits too, a bounded way (keepRowsStillInTable then drops
    // unknown runs whose rows left the table, such as rolled-back ones).
    let knownSeen = 0;
    for (const version of versions) {
      const info = (await readCommit(table, version)).find((a) => a.commitInfo)?.commitInfo;
      if (!(await consider(info?.sluice as LakeProvenance | undefined)) && ++knownSeen > KNOWN_COMMITS_PAST)
        break;
    }
    return found;
  }
  for (const version of await manifestVersions(table)) {
    if (!(await consider((await readManifest(table, version)).sluice as LakeProvenance | undefined))) break;
  }
  return found;
}

/**
 * Keeps only the orphans whose run still has rows in the table. A commit of an unknown run is not always
 * an interrupted run: `sluice rollback` forgets a run whose commit stays in the log, and `sluice lake
 * restore` (or an overwrite) may since have taken its rows out again. Only a run whose rows are live in
 * the current snapshot makes its files "already in the lake"; the others are written again. Files are
 * pruned by their `_sluice_run_id` statistics, so only the orphan runs' files are read.
 */
async function keepRowsStillInTable(
  con: DuckDBConnection,
  table: LakeTable,
  orphans: Map<string, OrphanSource[]>,
): Promise<void> {
  if (orphans.size === 0) return;
  const snapshot = await tryLoadSnapshot(con, table);
  if (!snapshot) {
    orphans.clear();
    return;
  }
  // Rows without Sluice's run column: the commits' provenance is all there is to go by.
  if (!snapshot.schema.fields.some((f) => f.name === "_sluice_run_id")) return;
  const live = new Set<string>();
  for (const runId of new Set([...orphans.values()].flat().map((o) => o.runId))) {
    const files = pruneFiles(snapshot, [{ column: "_sluice_run_id", op: "=", value: runId }]);
    const select = await snapshotSelectSql(con, snapshot, files);
    try {
      const sql = `SELECT 1 AS live FROM (${select.sql}) WHERE _sluice_run_id = ${quoteLiteral(runId)} LIMIT 1`;
      if ((await queryRows(con, sql)).length > 0) live.add(runId);
    } finally {
      await select.cleanup();
    }
  }
  for (const [sha256, list] of orphans) {
    const holding = list.filter((o) => live.has(o.runId));
    if (holding.length > 0) orphans.set(sha256, holding);
    else orphans.delete(sha256);
  }
}
