import { createHash } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import type { FileFormat, FileSourceConfig, PipelineConfig } from "../config/schema.js";
import { isFileSource } from "../config/schema.js";
import { unaccountedLines } from "../engine/account-lines.js";
import { bindExpressions } from "../engine/bind-expressions.js";
import { describeColumns, queryNumber, queryRows } from "../engine/duckdb-query.js";
import { csvLineMapper, type JudgedFile, judgeFile, maskSaltSql, setMaskSalt } from "../engine/judge-file.js";
import { checkWrittenRows, type GuardedFile, guardFile, probeFile } from "../engine/probe-file.js";
import { completeDeferredRead, type StagedFile, stageFile } from "../engine/stage-file.js";
import { asSluiceError, SluiceError } from "../errors.js";
import type { ContentDigest } from "../integrity/hash-file.js";
import { type LineCount, linesOf } from "../integrity/line-count.js";
import { HISTORY_WINDOW } from "../plan/anomalies.js";
import { blocksPublish, type CheckResult, WRITE_GUARD_MARK } from "../plan/check-compiler.js";
import type { ForeignKeySet } from "../plan/check-rules.js";
import { unmaskableColumnError } from "../plan/column-references.js";
import { withResolvedColumns } from "../plan/declared-columns.js";
import { batchDedupeSql } from "../plan/dedupe.js";
import { fitsFileName, formatFromName, quarantineFileOf, quarantineFolder } from "../plan/landing-paths.js";
import { longColumnNameError } from "../plan/long-column-name-error.js";
import { maskExpression } from "../plan/masking.js";
import { isSluiceColumn } from "../plan/schema-plan.js";
import { shapeSql } from "../plan/shape-sql.js";
import { quoteIdent, quoteLiteral, quoteQualified } from "../plan/sql-text.js";
import { scratchDir } from "../storage/scratch-dir.js";
import type { StorageEntry } from "../storage/storage.js";
import { lastRunJudgedSql, loadedHashesSql, loadedSizeSql } from "../warehouse/catalog-sql.js";
import type { AfterWrite, LedgerEntry, RunRecord, Warehouse } from "../warehouse/warehouse.js";
import { type AcquiredFile, acquireFile } from "./acquire-file.js";
import { recordAfterCommitWarnings } from "./after-commit-warnings.js";
import { discoverFiles } from "./discover-files.js";
import { planIncremental } from "./incremental.js";
import { lakeSequence, lakeTargetPlan } from "./lake-publish.js";
import type { ProjectContext } from "./project-context.js";
import { numericColumns, publishRun } from "./publish-run.js";
import { settleQuarantineFiles, writeQuarantineFile } from "./quarantine-files.js";
import { queryEntry, querySourceOf, stageQuerySource } from "./query-source.js";
import { quarantinedValuesConfig, replayedValuesSql } from "./replayed-values.js";
import { newRunId } from "./run-id.js";
import { logProblem, openRunLogOf } from "./run-log.js";
import { type ProfileOptions, profileHistory, profileRun } from "./run-profile.js";
import { type RunProgress, trackRunProgress } from "./run-progress.js";
import { addRows, type CheckReport, emptyRows, type FileReport, type RunReport } from "./run-report.js";
import { freeDestination, settleFile } from "./settle-files.js";
import { SinglePassUndone, singlePassAllowed } from "./single-pass.js";
import { type StagedForeignKeys, stageForeignKeys } from "./stage-foreign-keys.js";

export type { RunProgress } from "./run-progress.js";

/** Options of one pipeline run. */
export interface PipelineRunOptions {
  /** Only these landing-relative files (they must match the pipeline's glob). */
  readonly files?: readonly string[] | undefined;
  /** Exactly these landing files, found elsewhere than the glob (backfills of archived files). */
  readonly entries?: readonly StorageEntry[] | undefined;
  /** Leave the files where they are afterwards (they are already archived). */
  readonly keepInPlace?: boolean | undefined;
  /** Reload content the ledger already has, replacing its earlier rows. */
  readonly force?: boolean;
  readonly onProgress?: (progress: RunProgress) => void;
  /** Replay: process exactly these landing files (outside the glob), as replays of an earlier run. */
  readonly replay?: ReplaySpec | undefined;
}

/** What `sluice replay` hands to a run. */
export interface ReplaySpec {
  readonly ofRun: string;
  readonly files: readonly {
    readonly path: string;
    /** Rows of quarantine files keep the original source file name in the target. */
    readonly sourceFile?: string;
    readonly format?: FileFormat;
    /** The file holds quarantined values (parsed and masked already): see quarantinedValuesConfig. */
    readonly values?: boolean;
  }[];
}

interface FileWork {
  readonly entry: StorageEntry;
  readonly report: FileReport;
  staged?: StagedFile;
  judged?: JudgedFile;
  /** Earlier loads of the same content (replaced under --force; the crash-repair hint otherwise). */
  priorLoads: readonly LedgerEntry[];
  /**
   * Data problems send a failed file to unprocessed/ (once its hash is known); transient ones leave it
   * where it is.
   */
  moveOnFailure: boolean;
  /** The content's hash while the file is read meanwhile (see `settleDigest`). */
  digest?: Promise<ContentDigest> | undefined;
  /** Its checks are enforced by the write and counted after it (see `guardFile`). */
  guarded?: GuardedFile | undefined;
  /** The file's line breaks, counted as it was hashed (the read is checked against them). */
  lines?: LineCount | undefined;
}

/**
 * Runs one file pipeline once: discover → stage → decide → publish (one transaction) → archive → report.
 *
 * @example
 * const report = await runFilePipeline(ctx, warehouse, "orders", config.pipelines.orders, {});
 */
export async function runFilePipeline(
  ctx: ProjectContext,
  warehouse: Warehouse,
  name: string,
  written: PipelineConfig,
  options: PipelineRunOptions = {},
): Promise<RunReport> {
  // Declared columns by their names in the rows, whichever name the config used (`E-Mail` → `e_mail`).
  const configured = withResolvedColumns(written);
  /** The pipeline as run: its checks gain one when the warehouse refused a NUL byte (see NUL_CHECK). */
  let pipeline = configured;
  if ("stream" in pipeline.source) {
    throw new SluiceError("USAGE", `pipeline ${name}: stream sources are run by \`sluice worker\``);
  }
  // Warehouse sources (sql/table) stage one query result through the same path as a file.
  const query = querySourceOf(pipeline.source);
  const source: FileSourceConfig = isFileSource(pipeline.source)
    ? pipeline.source
    : { path: "", on_malformed: "quarantine" };
  const startedAt = new Date();
  const runId = newRunId(startedAt);
  const report: RunReport = {
    run_id: runId,
    pipeline: name,
    status: "skipped",
    started_at: startedAt.toISOString(),
    finished_at: startedAt.toISOString(),
    sequence: 0,
    files: [],
    rows: emptyRows(),
    checks: [],
    error: null,
    log: null,
    quarantine: null,
    ...(options.replay ? { replay_of: options.replay.ofRun } : {}),
  };
  const landing = ctx.landing;
  const replayed = new Map((options.replay?.files ?? []).map((f) => [f.path, f]));
  /** The pipeline as it applies to one file: replayed quarantined values are parsed and masked already. */
  const pipelineOf = (path: string): PipelineConfig =>
    replayed.get(path)?.values ? quarantinedValuesConfig(pipeline) : pipeline;
  const entries = query
    ? [queryEntry(name, query)]
    : options.replay
      ? await replayEntries(ctx, options.replay)
      : options.entries
        ? [...options.entries]
        : await selectEntries(ctx, source.path, options.files);
  if (entries.length === 0) {
    if (!query && !options.replay && !options.entries) report.note = `no file matches ${source.path}`;
    return report;
  }

  const log = openRunLogOf(landing, report, startedAt);
  report.log = log.path;
  const logger = log.logger.child({ pipeline: name });
  logger.info({ files: entries.length, force: options.force ?? false }, "run started");
  const con = warehouse.engine;
  const workDir = scratchDir("run-");
  const works: FileWork[] = [];
  const bytesTotal = entries.reduce((n, e) => n + e.size, 0);
  let bytesDone = 0;
  const progress = await trackRunProgress(
    con,
    name,
    { filesTotal: entries.length, bytesTotal },
    options.onProgress,
  );
  /** Sizes of this run's files: a file of a size seen before is hashed before it is read. */
  const sizesInRun = new Set<number>();
  const hasMasks = Object.values(pipeline.columns).some((c) => c.mask !== undefined);
  /** The profile may be taken beside the warehouse write when it cannot stop the publish. */
  const profileBesideWrite =
    warehouse.capabilities.engineFreeDuringWrite &&
    pipeline.anomalies?.fail !== true &&
    pipeline.target.table !== undefined &&
    lakeTargetPlan(pipeline.target) === undefined;
  /** Files hashed (and downloaded) once, even when a run reads them a second time. */
  const acquiredFiles = new Map<string, AcquiredFile>();
  let singlePass = false;
  let quarantineSql: string | undefined;
  /** Single pass: the published rows, profiled once the publish has committed. */
  let profileAfterCommit: PublishedRows | undefined;

  /** Set once the run's publish committed: what follows (files, moves) can no longer fail the run. */
  let committed = false;
  /** The referenced keys of the run's `foreign_key` checks (see stageForeignKeys). */
  let foreignKeys: StagedForeignKeys | undefined;
  /** The keys as one file's checks compare with them: replayed values are hashed already. */
  const foreignKeysOf = (path: string): ReadonlyMap<number, ForeignKeySet> | undefined => {
    if (!foreignKeys || !replayed.get(path)?.values) return foreignKeys?.sets;
    return new Map(
      [...foreignKeys.sets].map(([index, set]) => {
        const check = pipeline.checks[index];
        const hashedAlready =
          check?.rule === "foreign_key" && pipeline.columns[check.column]?.mask === "hash";
        return [index, hashedAlready ? { table: set.table } : set];
      }),
    );
  };
  try {
    // A landing zone that cannot take the run's log (a full disk) fails the run before it loads anything.
    if (log.empty() && log.problem()) {
      throw new SluiceError(
        "STORAGE_ERROR",
        `${log.problem()}; nothing was loaded: free space and run again`,
      );
    }
    report.sequence = await warehouse.nextSequence(name);
    // A run that died between its lake commit and its warehouse commit used a sequence the catalog never saw.
    report.sequence = Math.max(report.sequence, (await lakeSequence(ctx, con, name, pipeline)) + 1);
    if (pipeline.checks.some((c) => c.rule === "foreign_key")) {
      foreignKeys = await stageForeignKeys(
        warehouse,
        ctx.project.config,
        name,
        pipeline,
        "sluice_r",
        maskSaltSql,
      );
    }
    if (hasMasks || foreignKeys?.hashes) await setMaskSalt(con, process.env.SLUICE_MASK_SALT ?? "");
    const runShape = {
      files: entries.length,
      sumColumns: numericColumns(pipeline),
      query,
      replay: options.replay,
    };
    singlePass = singlePassAllowed(warehouse, pipeline, runShape);
    if (singlePass && needsJudging(pipeline)) {
      // Asked of the catalog only when the answer can matter.
      const lastRunJudged = (await warehouse.query(lastRunJudgedSql(name))).some((r) => r.judged === true);
      singlePass = singlePassAllowed(warehouse, pipeline, { ...runShape, lastRunJudged });
    }
    for (;;) {
      for (const [index, entry] of entries.entries()) {
        progress.file(index, bytesDone, entry.path, entry.size);
        const work = await stageOne(index, entry);
        works.push(work);
        report.files.push(work.report);
        bytesDone += entry.size;
      }
      progress.filesDone(bytesDone);

      const loaded = works.filter((w) => w.report.status === "loaded" && w.staged);
      // Late data on a warehouse source re-stages whole partitions, older rows included: no cursor filter.
      const lateData = query !== undefined && pipeline.late_data_window !== undefined;
      const rowsBefore = lateData ? loaded.map((w) => ({ ...w.report.rows })) : [];
      const incremental = await planIncremental(warehouse, name, pipeline, loaded);
      if (lateData) for (const [i, w] of loaded.entries()) Object.assign(w.report.rows, rowsBefore[i]);
      const rowsParts = loaded
        .filter((w) => w.staged!.columns.length > 0)
        .map((w) =>
          shapeSql(
            w.judged?.keptTable ?? w.staged!.table,
            w.staged!.columns,
            pipelineOf(w.report.path),
            {
              runId,
              sourceFile: replayed.get(w.report.path)?.sourceFile ?? w.report.path,
              loadedAt: startedAt,
            },
            lateData ? undefined : incremental?.filterFor(w.staged!),
            maskedValue(pipelineOf(w.report.path), w.staged!),
          ),
        );
      let rowsSql =
        rowsParts.length > 0 ? rowsParts.map((p) => `(${p})`).join(" UNION ALL BY NAME ") : undefined;
      if (rowsSql && rowsParts.length > 1 && pipeline.dedupe && KEYED_MODES.has(pipeline.target.mode)) {
        rowsSql = await dedupeAcrossFiles(rowsSql, loaded);
      }
      // Files read by the publish itself are counted and profiled after the write.
      const deferred = loaded.filter((w) => w.staged?.deferred);
      let alongsideWrite: (() => Promise<Record<string, unknown>>) | undefined;
      if (rowsSql && deferred.length === 0) {
        // The profile describes the rows as published: without the columns discard_columns leaves out.
        const profiled = await publishedColumnsSql(rowsSql);
        const rowsAtMost = loaded.reduce((sum, w) => sum + w.report.rows.loaded, 0);
        if (profileBesideWrite) {
          // Anomalies only warn here: the profile is taken while the server writes the batch (the engine
          // is idle then), with the history read now (the warehouse's connections are busy publishing).
          const history = await profileHistory(warehouse, name, HISTORY_WINDOW);
          alongsideWrite = async () => {
            await profileRows(profiled, { history, rowsAtMost });
            return { profile: report.profile, anomalies: report.anomalies };
          };
        } else {
          const anomalies = await profileRows(profiled, { rowsAtMost });
          if (anomalies.length > 0 && pipeline.anomalies?.fail) {
            // A run that deviates is held back whole: its files go to unprocessed/ for a person to look at.
            const error = `anomalies (anomalies.fail: true): ${anomalies.map((a) => a.message).join("; ")}; nothing published`;
            for (const work of loaded) {
              Object.assign(work.report, { status: "failed", error });
              work.report.rows.loaded = 0;
              work.moveOnFailure = true;
            }
            rowsSql = undefined;
          }
        }
      }
      const reserved = new Set<string>();
      for (const work of works) {
        const { report: file } = work;
        // A failed file moves only for a data problem, and only once its content is known (hashed).
        if (query || (file.status === "failed" && !(work.moveOnFailure && file.sha256 !== ""))) continue;
        if (options.keepInPlace) {
          file.archived_to = file.path;
          continue;
        }
        const area = file.status === "failed" ? "unprocessed" : "archive";
        const repair = work.priorLoads.find((p) => p.path === file.path && p.archivedTo !== null);
        if (
          file.status === "skipped_duplicate" &&
          repair?.archivedTo &&
          !reserved.has(repair.archivedTo) &&
          fitsFileName(repair.archivedTo)
        ) {
          // Crash repair: the file goes where its earlier load said it went.
          reserved.add(repair.archivedTo);
          file.archived_to = repair.archivedTo;
        } else {
          file.archived_to = await freeDestination(landing, area, name, file.path, startedAt, reserved);
        }
      }

      sumRows();
      const failedFiles = works.filter((w) => w.report.status === "failed");
      report.status = failedFiles.length > 0 ? "failed" : "succeeded";
      if (failedFiles.length > 0) {
        report.error = failedFiles.map((w) => w.report.error).join("; ");
      }
      sumChecks();
      quarantineSql = quarantineOf();
      if (quarantineSql) await landing.checkPath(quarantineFileOf(report.quarantine!));
      const finishedAt = new Date();
      report.finished_at = finishedAt.toISOString();
      const run = {
        runId,
        pipeline: name,
        status: report.status,
        startedAt,
        finishedAt,
        report: { ...report },
      };
      try {
        await publishRun(
          ctx,
          warehouse,
          pipeline,
          {
            run,
            report,
            rowsSql,
            // A query's mark covers every row it read (quarantined ones are kept, not re-read each run).
            watermark: await incremental?.markOf(
              query && rowsSql && loaded[0]?.staged
                ? `SELECT * FROM ${quoteIdent(loaded[0].staged.table)}`
                : rowsSql,
            ),
            replaces: options.force
              ? loaded.flatMap((w) => w.priorLoads.map((p) => ({ runId: p.runId, path: p.path })))
              : [],
            ledger: ledgerOf(),
            sourceFiles: new Map(
              [...replayed].flatMap(([path, f]) => (f.sourceFile ? [[path, f.sourceFile] as const] : [])),
            ),
            quarantineSql,
            alongsideWrite,
            completeAfterWrite:
              deferred.length > 0 && rowsSql
                ? (written) => completeSinglePass(run, loaded, written, rowsSql!)
                : undefined,
          },
          logger,
          (stage) => progress.stage(stage),
        );
      } catch (error) {
        // A row failed a check or repeated a key the write enforced (see guardFile): the staged way finds
        // and reports it.
        const tripped = works.some((w) => w.guarded) ? guardTripped(error) : undefined;
        // The warehouse cannot store a NUL byte in text: the rows holding one are quarantined.
        const nul = !warehouse.capabilities.textHoldsNul && pipeline === configured && refusedNul(error);
        if (!(error instanceof SinglePassUndone) && !tripped && !nul) throw error;
        if (nul) pipeline = { ...configured, checks: [...configured.checks, NUL_CHECK] };
        // Nothing was published (one transaction): read the files again, staged, and decide as usual.
        if (nul) {
          logger.warn(
            { check: NUL_CHECK.name },
            "the warehouse refused a NUL byte in text; reading the files again, quarantining rows that hold one",
          );
        } else {
          const reason = tripped ?? (error as Error).message;
          logger.info({ reason }, "single pass undone; reading the files again, staged");
        }
        await dropWorkTables();
        works.length = 0;
        report.files.length = 0;
        report.checks = [];
        report.quarantine = null;
        report.error = null;
        delete report.profile;
        delete report.anomalies;
        sizesInRun.clear();
        bytesDone = 0;
        singlePass = false;
        continue;
      }
      break;
    }

    committed = true;
    // Crash-test hook: die right after the commit, before quarantine files and moves.
    if (process.env.SLUICE_FAILPOINT === "after-commit") process.kill(process.pid, "SIGKILL");
    // After the commit: quarantine files are written, files move. What fails here (a crash, a full disk)
    // is repaired by a later run and reported as a warning: the run itself has succeeded.
    const ownQuarantine = quarantineSql;
    const afterCommit = await settleQuarantineFiles(
      landing,
      warehouse,
      name,
      runId,
      ownQuarantine
        ? () => writeQuarantineFile(landing, con, workDir, ownQuarantine, report.quarantine!)
        : undefined,
      logger,
    );
    // The profile of a single-pass run (engine work) runs while the files move (storage work only): on
    // an S3 landing zone the server-side copies into archive/ take as long as the profile.
    const profiling = profileAfterCommit
      ? (async () => {
          // The rows are committed: a profile that cannot be computed or stored is a warning, not a failure.
          try {
            await profileRows(await publishedRowsSql(con, profileAfterCommit), {
              statsTable: profileAfterCommit.table,
              rowsAtMost: profileAfterCommit.rows,
            });
            await warehouse.updateRunReport(runId, { ...report });
          } catch (error) {
            logger.warn({ err: asSluiceError(error, "INTERNAL").message }, "profile not recorded");
          }
        })()
      : undefined;
    let movesFailed = false;
    for (const work of works) {
      const file = work.report;
      if (!file.archived_to || file.archived_to === file.path) continue;
      try {
        await settleFile(landing, file.path, file.archived_to, file.size);
        logger.info({ file: file.path, to: file.archived_to, status: file.status }, "file moved");
      } catch (error) {
        const message = asSluiceError(
          error,
          "STORAGE_ERROR",
          `${file.path}: could not be moved to ${file.archived_to}`,
        ).message;
        file.warnings.push(`${message}; it stays where it is, and the next run moves it`);
        logger.warn({ file: file.path }, message);
        file.archived_to = null;
        movesFailed = true;
      }
    }
    await profiling;
    // The stored report says where the files are (the ledger keeps the destination the next run uses)
    // and what could not be written after the commit.
    await recordAfterCommitWarnings(
      warehouse,
      report,
      [...afterCommit, ...logProblem(log)],
      movesFailed,
      logger,
    );
    logger.info({ status: report.status, rows: report.rows }, "run finished");
    return report;
  } catch (error) {
    if (committed) {
      // The run is published and recorded: a problem after that is a warning, never a failed run.
      await recordAfterCommitWarnings(warehouse, report, [asSluiceError(error).message], false, logger);
      return report;
    }
    const failure = asSluiceError(error, "INTERNAL");
    report.status = "failed";
    report.error = failure.message;
    report.finished_at = new Date().toISOString();
    report.quarantine = null;
    logger.error({ code: failure.code }, failure.message);
    // Nothing was published: record the failed run; its files stay in the landing zone for the next run.
    for (const work of works) await settleDigest(work);
    for (const work of works) {
      if (work.report.status === "loaded")
        Object.assign(work.report, { status: "failed", error: failure.message });
      work.report.archived_to = null;
      work.report.rows.loaded = 0;
    }
    sumRows();
    await warehouse
      .recordRun(
        {
          runId,
          pipeline: name,
          status: "failed",
          startedAt,
          finishedAt: new Date(report.finished_at),
          report: { ...report },
        },
        works.map((w) => ({
          runId,
          pipeline: name,
          path: w.report.path,
          sha256: w.report.sha256,
          size: w.report.size,
          status: w.report.status === "skipped_duplicate" ? "skipped_duplicate" : "failed",
          rowsRead: w.report.rows.read,
          rowsLoaded: 0,
          archivedTo: null,
          error: w.report.error,
        })),
      )
      .catch((recordError: unknown) =>
        logger.error({ err: String(recordError) }, "could not record the failed run"),
      );
    throw Object.assign(failure, { report });
  } finally {
    progress.stop();
    // Hashes still running are not needed any more (a failed run settles the ones it records first).
    await Promise.all([...acquiredFiles.values()].map((acquired) => acquired.release?.()));
    await dropWorkTables();
    rmSync(workDir, { recursive: true, force: true });
    await log.close();
  }

  /** Drops the engine tables and views of the run's files. */
  async function dropWorkTables(): Promise<void> {
    const drop = async (name: string) => {
      await con.run(`DROP VIEW IF EXISTS ${quoteIdent(name)}`).catch(() => undefined);
      await con.run(`DROP TABLE IF EXISTS ${quoteIdent(name)}`).catch(() => undefined);
    };
    await drop("sluice_batch_dedupe");
    for (const table of foreignKeys?.tables ?? []) await drop(table);
    for (const work of works) {
      for (const table of [...(work.judged?.tables ?? [])].reverse()) {
        await drop(table);
        await drop(`${table}_lines`);
      }
      const staged = work.staged;
      if (!staged) continue;
      for (const table of [staged.table, staged.malformedTable]) await drop(table);
      if (staged.deferred) {
        for (const table of [staged.deferred.rejectsTable, staged.deferred.rejectsScan]) await drop(table);
      }
    }
  }

  /**
   * A keyed write (merge, scd2) takes one row per key from the whole batch: each file was deduped on its
   * own, so a key found in several files is deduped again across them (see `batchDedupeSql`); the rows
   * dropped count as their file's duplicates.
   */
  async function dedupeAcrossFiles(rowsSql: string, loaded: readonly FileWork[]): Promise<string> {
    const sourceOf = (w: FileWork) => replayed.get(w.report.path)?.sourceFile ?? w.report.path;
    const files = loaded.filter((w) => w.staged!.columns.length > 0);
    const plan = batchDedupeSql(pipeline.dedupe!, rowsSql, files.map(sourceOf), "sluice_batch_dedupe");
    await con.run(plan.create);
    const dropped = await queryRows(con, plan.droppedPerFile);
    for (const { file, n } of dropped) {
      const work = files.find((w) => sourceOf(w) === String(file));
      if (!work) continue;
      work.report.rows.loaded -= Number(n);
      work.report.rows.duplicates += Number(n);
    }
    logger.info({ duplicates: dropped.reduce((sum, r) => sum + Number(r.n), 0) }, "deduped across files");
    return plan.kept;
  }

  /** The run's check results: the sum over its files. */
  function sumChecks(): void {
    report.checks = aggregateChecks(works.flatMap((w) => w.judged?.checks ?? []));
  }

  /** The run's row counts: the sum over its files. */
  function sumRows(): void {
    report.rows = emptyRows();
    for (const work of works) addRows(report.rows, work.report.rows);
  }

  /** SQL over the engine for the run's quarantined rows (malformed and failing checks), if any. */
  function quarantineOf(): string | undefined {
    const parts = [
      ...works
        .filter((w) => w.staged && w.report.rows.malformed > 0 && source.on_malformed !== "drop")
        .map((w) => quarantineSelect(runId, name, w, hasMasks, replayed.get(w.report.path)?.values === true)),
      ...works.flatMap((w) => (w.judged?.quarantineSql ? [w.judged.quarantineSql] : [])),
    ];
    report.quarantine = parts.length > 0 ? quarantineFolder(name, runId) : null;
    return parts.length > 0 ? parts.join(" UNION ALL ") : undefined;
  }

  function ledgerOf(): LedgerEntry[] {
    return works.map((w) => ({
      runId,
      pipeline: name,
      path: w.report.path,
      sha256: w.report.sha256,
      size: w.report.size,
      status: w.report.status,
      rowsRead: w.report.rows.read,
      rowsLoaded: w.report.rows.loaded,
      archivedTo: w.report.archived_to,
      error: w.report.error,
    }));
  }

  /**
   * The run's rows as the target will hold them: under `schema_evolution: discard_columns`, only the
   * columns an existing target has (and Sluice's own, which are always added); otherwise `rowsSql`.
   */
  async function publishedColumnsSql(rowsSql: string): Promise<string> {
    const table = pipeline.target.table;
    if (pipeline.schema_evolution !== "discard_columns" || table === undefined) return rowsSql;
    const existing = await warehouse.columnsOf(table);
    if (!existing) return rowsSql;
    const kept = new Set(existing);
    const columns = (await describeColumns(con, `(${rowsSql})`))
      .map((c) => c.name)
      .filter((c) => kept.has(c) || isSluiceColumn(c));
    return `SELECT ${columns.map(quoteIdent).join(", ")} FROM (${rowsSql})`;
  }

  /** Profiles rows about to be published (or just written) and logs what deviates from the last runs. */
  async function profileRows(rowsSql: string, options: ProfileOptions = {}) {
    const profiledAt = performance.now();
    const { profile, anomalies } = await profileRun(
      con,
      warehouse,
      name,
      pipeline,
      rowsSql,
      `sluice_profile_${report.sequence}`,
      options,
    );
    report.profile = profile;
    report.anomalies = anomalies.map((a) => a.message);
    logger.info({ ms: Math.round(performance.now() - profiledAt), anomalies: anomalies.length }, "profiled");
    for (const anomaly of anomalies)
      logger.warn({ metric: anomaly.metric, column: anomaly.column }, anomaly.message);
    return anomalies;
  }

  /**
   * Inside a single-pass publish, right after the write read the deferred files: their malformed rows,
   * counts and the decisions a staged run takes before publishing. Anything that would have stopped the
   * publish undoes it ({@link SinglePassUndone}); otherwise the run's numbers, quarantine and profile.
   */
  async function completeSinglePass(
    run: RunRecord,
    loaded: readonly FileWork[],
    written: number,
    rowsSql: string,
  ): Promise<AfterWrite> {
    const table = pipeline.target.table!;
    const rowsOfRun = `_sluice_run_id = ${quoteLiteral(runId)}`;
    let accepted: Map<string, number>;
    if (loaded.length === 1) {
      accepted = new Map([[loaded[0]!.report.path, written]]);
    } else {
      const rows = await warehouse.query(
        `SELECT _sluice_source_file AS f, count(*) AS n FROM ${quoteQualified(table)} WHERE ${rowsOfRun} GROUP BY 1`,
      );
      accepted = new Map(rows.map((r) => [String(r.f), Number(r.n)]));
    }
    // The files were hashed while the write read them: their content must be new to the ledger.
    for (const work of loaded) {
      await settleDigest(work);
      if (work.report.status === "failed") throw new SinglePassUndone(work.report.error ?? work.report.path);
    }
    const hashes = loaded.map((w) => w.report.sha256);
    if (hashes.length > 0 && (await warehouse.query(loadedHashesSql(name, hashes))).length > 0) {
      throw new SinglePassUndone("the same content was loaded meanwhile");
    }
    for (const work of loaded) {
      const staged = work.staged!;
      const file = work.report;
      if (!staged.deferred) continue;
      const { malformed, misfits } = await completeDeferredRead(con, staged);
      if (misfits.length > 0) {
        throw new SinglePassUndone(
          `${file.path}: values of ${misfits.join(", ")} do not fit the type inferred from a sample`,
        );
      }
      const after = await landing.stat(file.path);
      if (!after || after.size !== file.size || after.mtimeMs !== work.entry.mtimeMs) {
        throw new SinglePassUndone(`${file.path}: changed or disappeared while being read`);
      }
      const rows = accepted.get(file.path) ?? 0;
      Object.assign(file.rows, {
        read: rows + malformed,
        loaded: rows,
        malformed,
        quarantined: source.on_malformed === "drop" ? 0 : malformed,
      });
      if (malformed > 0 && source.on_malformed === "fail") {
        throw new SinglePassUndone(`${file.path}: malformed rows with on_malformed: fail`);
      }
      if (file.rows.read > 0 && malformed / file.rows.read > pipeline.max_failure_rate) {
        throw new SinglePassUndone(`${file.path}: malformed rows above max_failure_rate`);
      }
      if (work.lines && (await lostLinesError(work))) {
        // Read again staged, where the file fails with the lines it lost.
        throw new SinglePassUndone(`${file.path}: lines unaccounted for`);
      }
      logger.info(
        { file: file.path, sha256: file.sha256, rows: file.rows, columns: staged.columns.length },
        "read",
      );
    }
    for (const work of loaded) {
      if (!work.guarded) continue;
      const fileRows =
        loaded.length === 1
          ? rowsOfRun
          : `${rowsOfRun} AND _sluice_source_file = ${quoteLiteral(work.report.path)}`;
      const { checks, undo } = await checkWrittenRows(
        con,
        work.guarded,
        pipeline,
        `SELECT * FROM ${quoteQualified(table)} WHERE ${fileRows}`,
        foreignKeysOf(work.entry.path),
      );
      logger.info(
        { file: work.report.path, clean: undo === undefined, reason: undo },
        "checked after the write",
      );
      if (undo) throw new SinglePassUndone(`${work.report.path}: ${undo}`);
      const warnings = warnChecks(checks);
      work.judged = { ...work.judged!, checks, warnings };
      work.report.warnings.push(...warnings);
    }
    sumChecks();
    sumRows();
    quarantineSql = quarantineOf();
    if (quarantineSql) await landing.checkPath(quarantineFileOf(report.quarantine!));
    // The profile describes the published rows: this run's rows of the target, in the batch's columns.
    // It is read after the commit (committed rows scan about twice as fast as a transaction's own).
    const names = async (sql: string) =>
      (await queryRows(con, `DESCRIBE SELECT * FROM (${sql})`)).map((r) => String(r.column_name));
    const inTarget = new Set(await names(`SELECT * FROM ${quoteQualified(table)}`));
    const columns = (await names(rowsSql)).filter((c) => inTarget.has(c)).map(quoteIdent);
    profileAfterCommit = { table, columns, rowsOfRun, rows: written };
    return {
      run: { ...run, report: { ...report } },
      ledger: ledgerOf(),
      quarantineSql,
      checks: report.checks,
    };
  }

  /**
   * Stages one file; its hash is settled before it returns unless the single-pass publish reads the file
   * (then it is settled after that write, in `completeSinglePass`).
   */
  async function stageOne(index: number, entry: StorageEntry): Promise<FileWork> {
    const work = await readOne(index, entry);
    const readByWrite =
      singlePass &&
      work.staged?.deferred &&
      work.staged.columns.length > 0 &&
      work.report.status === "loaded";
    if (!readByWrite) {
      await settleDigest(work);
      const lost = await lostLinesError(work);
      if (lost) markFailed(work, lost, true);
    }
    return work;
  }

  /**
   * A file whose read left lines unaccounted for (see `unaccountedLines`) fails, named: a reader that
   * loses rows without a word never publishes what it kept.
   */
  async function lostLinesError(work: FileWork): Promise<SluiceError | undefined> {
    const staged = work.staged;
    const file = work.report;
    const format =
      staged?.headerLines !== undefined ? "csv" : staged?.blankLines !== undefined ? "jsonl" : undefined;
    const lines = staged?.lines ?? work.lines;
    if (!staged || !format || !lines || file.status !== "loaded") return undefined;
    const lost = await unaccountedLines(con, staged, format, lines, file.rows.read);
    if (lost === 0) return undefined;
    logger.warn({ file: file.path, lines, rows: file.rows }, "lines unaccounted for");
    return new SluiceError(
      "FILE_UNPARSEABLE",
      `${file.path}: ${lost} of its ${linesOf(lines, "any")} lines were neither read as rows nor quarantined (${file.rows.read} rows read); a line may exceed the reader's buffer or a quote may be unbalanced — check the file or set source.options; nothing of it is published`,
    );
  }

  /**
   * Applies a file's hash to its report: its size is what was hashed (a file that grew or shrank since
   * it was listed is still being written: left for the next run). A replay's row file is known by its
   * content and the replay link it belongs to: the same rows replayed again from the same run are a
   * duplicate, the rows a later replay takes over are not. A compressed file found truncated or
   * corrupt while hashed fails, whatever its read made of it, and moves to unprocessed/.
   */
  function applyDigest(work: FileWork, digest: ContentDigest): void {
    const file = work.report;
    if (digest.bytes !== work.entry.size) {
      markFailed(
        work,
        new SluiceError(
          "FILE_CHANGED",
          `${file.path}: changed while being read (still being written?); left for the next run`,
          { transient: true },
        ),
        false,
      );
      return;
    }
    const sha256 =
      options.replay && work.entry.path.startsWith("replay/")
        ? createHash("sha256").update(`replay:${options.replay.ofRun}:${digest.sha256}`).digest("hex")
        : digest.sha256;
    Object.assign(file, { sha256, size: digest.bytes });
    work.lines = digest.lines;
    if (digest.damage) {
      markFailed(
        work,
        new SluiceError(
          "FILE_CORRUPT",
          `${file.path}: ${digest.damage}; the file is incomplete or damaged, nothing of it is published`,
        ),
        true,
      );
    }
  }

  /** Waits for a file hashed while it was read and applies its hash (a read failure fails the file). */
  async function settleDigest(work: FileWork): Promise<void> {
    const pending = work.digest;
    if (!pending) return;
    work.digest = undefined;
    try {
      applyDigest(work, await pending);
    } catch (error) {
      markFailed(work, readError(work.entry.path, error), false);
    }
  }

  /** Fails a file: nothing of it is published; data problems move it to unprocessed/ once hashed. */
  function markFailed(work: FileWork, error: unknown, moveOnFailure: boolean): FileWork {
    const file = work.report;
    const e = asSluiceError(error, "FILE_UNREADABLE", file.path);
    file.status = "failed";
    file.error = e.message;
    work.moveOnFailure = moveOnFailure;
    file.rows.loaded = 0;
    logger.warn({ file: file.path, code: e.code }, e.message);
    return work;
  }

  async function readOne(index: number, entry: StorageEntry): Promise<FileWork> {
    const file: FileReport = {
      path: entry.path,
      sha256: "",
      size: entry.size,
      status: "loaded",
      archived_to: null,
      rows: emptyRows(),
      error: null,
      warnings: [],
    };
    const work: FileWork = { entry, report: file, priorLoads: [], moveOnFailure: false };
    const fail = (error: unknown, moveOnFailure: boolean): FileWork => markFailed(work, error, moveOnFailure);
    if (entry.refused)
      return fail(new SluiceError("FILE_UNREADABLE", `${entry.path}: ${entry.refused.reason}`), false);
    if (query) {
      const staged = await stageQuerySource(warehouse, name, pipeline, query, `sluice_q${index}`);
      Object.assign(file, { sha256: staged.sha256 });
      const { accepted, malformed } = staged.staged;
      Object.assign(file.rows, {
        read: accepted + malformed,
        loaded: accepted,
        malformed,
        quarantined: malformed,
      });
      file.warnings.push(...staged.staged.warnings);
      work.staged = staged.staged;
      const unmaskable = unmaskableColumnError(written, staged.staged.columns, entry.path);
      if (unmaskable) return fail(unmaskable, false);
      const longName = longColumnNameError(
        staged.staged.columns,
        pipeline,
        entry.path,
        warehouse.capabilities.maxIdentifierBytes,
      );
      if (longName) return fail(longName, false);
      return judgeAndDecide(work, staged.staged, fail);
    }
    const format = replayed.get(entry.path)?.format ?? source.format ?? formatFromName(entry.path);
    // The ledger knows files by content. Content can only repeat a loaded file (or one of this run) of
    // the same size, so a file of a new size is read while it is hashed; others are hashed first.
    const hashWhileReading =
      landing.localPath(entry.path) !== undefined &&
      !options.force &&
      !options.replay &&
      !sizesInRun.has(entry.size) &&
      (await warehouse.query(loadedSizeSql(name, entry.size))).length === 0;
    let localPath: string;
    let acquired: AcquiredFile;
    try {
      const before = await landing.stat(entry.path);
      if (!before)
        throw new SluiceError("FILE_VANISHED", `${entry.path}: disappeared before it could be read`, {
          transient: true,
        });
      acquired = acquiredFiles.get(entry.path) ?? (await acquireFile(landing, entry, workDir, index, format));
      acquiredFiles.set(entry.path, acquired);
      localPath = acquired.localPath;
    } catch (error) {
      return fail(readError(entry.path, error), false);
    }
    sizesInRun.add(entry.size);
    if (hashWhileReading) {
      work.digest = acquired.digest;
    } else {
      // Earlier files of this run may still be hashing: their content must be known to compare.
      for (const earlier of works) await settleDigest(earlier);
      try {
        applyDigest(work, await acquired.digest);
      } catch (error) {
        return fail(readError(entry.path, error), false);
      }
      if (file.status === "failed") return work;
      // Even under --force: it reloads content loaded by earlier runs, never the same content twice in one.
      if (works.some((w) => w.report.sha256 === file.sha256)) {
        file.status = "skipped_duplicate";
        file.warnings.push("same content as another file of this run");
        return work;
      }
      work.priorLoads = await warehouse.loadsOf(name, file.sha256);
      if (work.priorLoads.length > 0 && !options.force) {
        file.status = "skipped_duplicate";
        logger.info(
          { file: file.path, sha256: file.sha256, first_run: work.priorLoads[0]?.runId },
          "content already loaded",
        );
        return work;
      }
    }
    if (!format) {
      return fail(
        new SluiceError(
          "FILE_UNPARSEABLE",
          `${entry.path}: unknown format; set source.format to csv, jsonl, json or parquet`,
        ),
        true,
      );
    }
    if (entry.size === 0) {
      file.warnings.push("empty file: nothing to load");
      work.staged = undefined;
      return work;
    }
    // A CSV file is read once where it can be: by the publish (single pass) or by the check pass.
    const deferRead = format === "csv" && (singlePass || pipeline.checks.length > 0);
    const warningsBefore = file.warnings.length;
    for (let attempt = 0; ; attempt++) {
      // A hash still running yields to DuckDB's bulk read of the file: here (staging reads it whole), or
      // once the sniff is done when the publish or the check pass reads it.
      const deferred = deferRead && attempt === 0;
      if (hashWhileReading && !deferred) acquired.yieldToReader?.();
      try {
        work.staged = await stageFile(con, {
          localPath,
          displayPath: entry.path,
          format,
          source,
          columns: pipelineOf(entry.path).columns,
          naming: pipeline.naming,
          tablePrefix: `sluice_f${index}`,
          deferred,
          // Positions matter to checks and dedupe (lines, ties) and to cdc (batch order breaks ties).
          keepOrder: needsJudging(pipeline) || pipeline.target.mode === "cdc",
          workDir: join(workDir, `f${index}`),
        });
      } catch (error) {
        if (!(await landing.stat(entry.path))) {
          return fail(
            new SluiceError("FILE_VANISHED", `${entry.path}: disappeared during the run`, {
              transient: true,
            }),
            false,
          );
        }
        const e = asSluiceError(error, "FILE_UNPARSEABLE", entry.path);
        return fail(e, !e.transient);
      }
      const staged = work.staged;
      if (hashWhileReading) acquired.yieldToReader?.();
      file.warnings.splice(warningsBefore);
      file.warnings.push(...staged.warnings);
      const after = await landing.stat(entry.path);
      if (!after)
        return fail(
          new SluiceError("FILE_VANISHED", `${entry.path}: disappeared during the run`, { transient: true }),
          false,
        );
      if (after.size !== file.size || after.mtimeMs !== entry.mtimeMs) {
        return fail(
          new SluiceError(
            "FILE_CHANGED",
            `${entry.path}: changed while being read (still being written?); left for the next run`,
            {
              transient: true,
            },
          ),
          false,
        );
      }
      file.rows.malformed = staged.malformed;
      file.rows.read = staged.accepted + staged.malformed;
      file.rows.loaded = staged.accepted;
      file.rows.quarantined = source.on_malformed === "drop" ? 0 : staged.malformed;
      // A mask this file's columns cannot take fails the file: it is never loaded unmasked.
      const unmaskable = unmaskableColumnError(written, staged.columns, entry.path);
      if (unmaskable) return fail(unmaskable, false);
      try {
        await bindExpressions(con, staged, pipeline, entry.path);
      } catch (error) {
        // The configuration does not fit this file's types: the file itself stays where it is.
        return fail(error, false);
      }
      const longName = longColumnNameError(
        staged.columns,
        pipeline,
        entry.path,
        warehouse.capabilities.maxIdentifierBytes,
      );
      if (longName) return fail(longName, false);
      const guarded =
        staged.deferred && singlePass && needsJudging(pipeline)
          ? await guardFile(con, staged, pipeline, staged.prefix, foreignKeysOf(entry.path))
          : undefined;
      if (guarded) {
        // The publish enforces the checks as it writes; what they found is counted after the write.
        work.judged = {
          keptTable: guarded.keptTable,
          quarantined: 0,
          duplicates: 0,
          checks: [],
          quarantineSql: undefined,
          warnings: [],
          tables: guarded.tables,
        };
        work.guarded = guarded;
      } else if (staged.deferred && singlePass && needsJudging(pipeline)) {
        // Checks or dedupe: a clean file is read by the publish like any other; the rest are judged.
        const probed = await probeFile(con, staged, pipeline, staged.prefix, foreignKeysOf(entry.path));
        logger.info({ file: file.path, rows: probed.rows, clean: probed.clean }, "probed");
        if (probed.clean) {
          work.judged = {
            keptTable: staged.table,
            quarantined: 0,
            duplicates: 0,
            checks: probed.checks,
            quarantineSql: undefined,
            warnings: warnChecks(probed.checks),
            tables: probed.tables,
          };
          file.warnings.push(...work.judged.warnings);
        } else if (pipeline.checks.length === 0) {
          // Dedupe alone has no check pass to read a deferred file: stage it.
          await con.run(`DROP VIEW IF EXISTS ${quoteIdent(staged.table)}`);
          continue;
        }
      }
      if (staged.deferred && singlePass && (work.judged || !needsJudging(pipeline))) {
        // Read by the publish itself (single pass): counted and decided there.
        logger.info({ file: file.path, columns: staged.columns.length }, "planned");
        return work;
      }
      const lineOf =
        format === "csv" && staged.headerLines !== undefined
          ? csvLineMapper({
              localPath,
              headerLines: staged.headerLines,
              malformedTable: staged.malformedTable,
            })
          : undefined;
      if (staged.deferred) {
        // Read by the check pass: counted right after it (see judgeAndDecide).
        try {
          return await judgeAndDecide(work, staged, fail, lineOf);
        } catch (error) {
          if (!(error instanceof SinglePassUndone)) throw error;
          logger.info({ file: file.path, reason: error.message }, "reading the file again, staged");
          await con.run(`DROP VIEW IF EXISTS ${quoteIdent(staged.table)}`);
          continue;
        }
      }
      logger.info(
        { file: file.path, sha256: file.sha256, rows: file.rows, columns: staged.columns.length },
        "staged",
      );
      if (staged.malformed > 0 && source.on_malformed === "fail") {
        return fail(await malformedFailure(entry.path, staged), true);
      }
      return judgeAndDecide(work, staged, fail, lineOf);
    }
  }

  /** The judge stage (checks, dedupe) and the decision (thresholds) for a staged file or query result. */
  async function judgeAndDecide(
    work: FileWork,
    stagedBefore: StagedFile,
    fail: (error: unknown, moveOnFailure: boolean) => FileWork,
    lineOf?: Parameters<typeof judgeFile>[3]["lineOf"],
  ): Promise<FileWork> {
    let staged = stagedBefore;
    const file = work.report;
    progress.stage("check");
    if (needsJudging(pipeline)) {
      const judged = await judgeFile(con, staged, pipelineOf(work.entry.path), {
        runId,
        pipeline: name,
        file: work.entry.path,
        prefix: staged.prefix,
        foreignKeys: foreignKeysOf(work.entry.path),
        lineOf,
        afterRead: staged.deferred ? (table) => completeCheckedRead(work, staged, table) : undefined,
      });
      // A deferred read is complete now: its numbers are in work.staged.
      staged = work.staged ?? staged;
      work.judged = judged;
      if (staged.malformed > 0 && source.on_malformed === "fail") {
        return fail(await malformedFailure(file.path, staged), true);
      }
      file.warnings.push(...judged.warnings);
      file.rows.quarantined += judged.quarantined;
      file.rows.duplicates = judged.duplicates;
      file.rows.loaded = staged.accepted - judged.quarantined - judged.duplicates;
      file.warnings.push(...warnChecks(judged.checks));
      const blocking = judged.checks.filter(blocksPublish);
      if (blocking.length > 0) {
        const what = blocking.map(
          (c) => `${c.name} [${c.severity}]: ${c.message ?? `${c.failed} rows failed`}`,
        );
        return fail(
          new SluiceError("CHECK_FATAL", `${work.entry.path}: ${what.join("; ")}; nothing published`),
          true,
        );
      }
    }
    const failing = staged.malformed + (work.judged?.quarantined ?? 0);
    const rate = file.rows.read === 0 ? 0 : failing / file.rows.read;
    if (rate > pipeline.max_failure_rate) {
      return fail(
        new SluiceError(
          "THRESHOLD_EXCEEDED",
          `${work.entry.path}: ${failing} of ${file.rows.read} rows failed (${(rate * 100).toFixed(1)}% > max_failure_rate ${(pipeline.max_failure_rate * 100).toFixed(1)}%); nothing published`,
        ),
        true,
      );
    }
    return work;
  }

  /** After the check pass read a deferred CSV file: its malformed rows and numbers. */
  async function completeCheckedRead(work: FileWork, staged: StagedFile, flagged: string): Promise<void> {
    const file = work.report;
    const { malformed, misfits } = await completeDeferredRead(con, staged);
    if (misfits.length > 0) {
      throw new SinglePassUndone(
        `values of ${misfits.join(", ")} do not fit the type inferred from a sample`,
      );
    }
    const accepted = await queryNumber(con, `SELECT count(*) FROM ${quoteIdent(flagged)}`);
    work.staged = { ...staged, accepted, malformed, deferred: undefined };
    Object.assign(file.rows, {
      read: accepted + malformed,
      loaded: accepted,
      malformed,
      quarantined: source.on_malformed === "drop" ? 0 : malformed,
    });
    logger.info(
      { file: file.path, sha256: file.sha256, rows: file.rows, columns: staged.columns.length },
      "staged",
    );
  }

  async function malformedFailure(path: string, staged: StagedFile): Promise<SluiceError> {
    const first = await firstMalformed(staged);
    return new SluiceError("MALFORMED_ROWS", `${path}: malformed row (on_malformed: fail): ${first}`);
  }

  async function firstMalformed(staged: StagedFile): Promise<string> {
    const rows = await warehouse.engine.runAndReadAll(
      `SELECT line, error_type, message FROM ${quoteIdent(staged.malformedTable)} ORDER BY line NULLS LAST LIMIT 1`,
    );
    const row = rows.getRowObjectsJson()[0];
    return row ? `line ${row.line ?? "?"}: ${row.error_type}: ${row.message}` : "unknown";
  }
}

/** Write modes that need one row per key in a batch. */
const KEYED_MODES: ReadonlySet<string> = new Set(["merge", "scd2"]);

/** A single-pass run's rows in its target: the columns of its batch, the filter on its run id. */
interface PublishedRows {
  readonly table: string;
  readonly columns: readonly string[];
  readonly rowsOfRun: string;
  readonly rows: number;
}

/**
 * SQL over a single-pass run's committed rows. A target holding exactly as many rows as the run wrote
 * holds only them (the warehouse file is this process's alone), so the run-id filter is left out: the
 * profile then reads no lineage column and DuckDB answers min/max of numbers from its statistics.
 */
async function publishedRowsSql(con: DuckDBConnection, rows: PublishedRows): Promise<string> {
  const select = `SELECT ${rows.columns.join(", ")} FROM ${quoteQualified(rows.table)}`;
  const held = await queryNumber(con, `SELECT count(*) FROM ${quoteQualified(rows.table)}`);
  return held === rows.rows ? select : `${select} WHERE ${rows.rowsOfRun}`;
}

/** The warnings of `warn` rules that failed. */
function warnChecks(checks: readonly CheckResult[]): string[] {
  return checks
    .filter((c) => c.severity === "warn" && c.failed > 0)
    .map((c) => `check ${c.name} (warn): ${c.message ?? `${c.failed} rows failed`}`);
}

/**
 * The check a run adds when its warehouse refused a NUL byte in text (PostgreSQL): every row holding one,
 * in any column, is quarantined with this reason, and the run is judged again with it. Only then: the
 * check reads every value of every row.
 */
const NUL_CHECK = {
  rule: "expression",
  name: "no_nul_bytes",
  // A comparison, not NOT: DuckDB expands *COLUMNS(*) inside functions and comparisons only.
  sql: "contains(concat_ws('', *COLUMNS(*)), chr(0)) = false",
  message: "a value holds a NUL byte, which the warehouse cannot store in text",
  severity: "error",
} as const satisfies PipelineConfig["checks"][number];

/** The messages of an error and of its causes, outermost first. */
function* causeMessages(error: unknown): Generator<string> {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) yield e.message;
}

/** Whether an error (or one of its causes) is PostgreSQL refusing a NUL byte in text. */
function refusedNul(error: unknown): boolean {
  return [...causeMessages(error)].some((m) => /invalid byte sequence for encoding "UTF8": 0x00/.test(m));
}

/** What the write guard stopped the write for, when the error (or one of its causes) is the guard's. */
function guardTripped(error: unknown): string | undefined {
  for (const message of causeMessages(error)) {
    const at = message.indexOf(`${WRITE_GUARD_MARK}: `);
    if (at >= 0) return message.slice(at + WRITE_GUARD_MARK.length + 2).split("\n")[0];
  }
  return undefined;
}

/** Checks, dedupe or masks: the file goes through the judge stage. */
function needsJudging(pipeline: PipelineConfig): boolean {
  return pipeline.checks.length > 0 || pipeline.dedupe !== undefined;
}

/** Column value SQL for the target: masked where the pipeline masks the column. */
function maskedValue(pipeline: PipelineConfig, staged: StagedFile): (column: string) => string {
  const types = new Map(staged.columns.map((c) => [c.name, c.type]));
  return (column) => {
    const mask = pipeline.columns[column]?.mask;
    const ref = quoteIdent(column);
    if (!mask) return ref;
    return maskExpression(mask, ref, maskSaltSql, types.get(column) ?? "VARCHAR") ?? ref;
  };
}

/** One line per check for the run: failures summed over the run's files. */
function aggregateChecks(results: readonly CheckResult[]): CheckReport[] {
  const byName = new Map<string, CheckReport>();
  for (const r of results) {
    const seen = byName.get(r.name);
    byName.set(r.name, { name: r.name, severity: r.severity, failed: (seen?.failed ?? 0) + r.failed });
  }
  return [...byName.values()];
}

function quarantineSelect(
  runId: string,
  pipeline: string,
  work: FileWork,
  withholdRaw: boolean,
  replayedValues: boolean,
): string {
  const staged = work.staged!;
  const raw = withholdRaw ? "'[withheld: the pipeline masks columns]'" : "raw";
  // A replayed value row that no longer parses keeps its values, so a later replay can take it up again.
  const values = replayedValues ? replayedValuesSql : "NULL::JSON";
  return `SELECT ${quoteLiteral(runId)} AS run_id, ${quoteLiteral(pipeline)} AS pipeline, ${quoteLiteral(work.report.path)} AS file,
    line, ['malformed'] AS rules, [error_type || ': ' || message] AS reasons, ${values} AS "values", ${raw} AS raw
    FROM ${quoteIdent(staged.malformedTable)}`;
}

function readError(path: string, error: unknown): SluiceError {
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code === "ENOENT")
    return new SluiceError("FILE_VANISHED", `${path}: disappeared before it could be read`, {
      transient: true,
    });
  if (code === "EACCES" || code === "EPERM") {
    return new SluiceError(
      "FILE_UNREADABLE",
      `${path}: permission denied; fix its permissions and run again`,
      { cause: error },
    );
  }
  if (code === "EISDIR") return new SluiceError("FILE_UNREADABLE", `${path}: is a directory`);
  return asSluiceError(error, "FILE_UNREADABLE", path);
}

async function replayEntries(ctx: ProjectContext, replay: ReplaySpec): Promise<StorageEntry[]> {
  const found: StorageEntry[] = [];
  for (const file of replay.files) {
    const entry = await ctx.landing.stat(file.path);
    if (entry) found.push(entry);
  }
  return found;
}

async function selectEntries(
  ctx: ProjectContext,
  glob: string,
  files: readonly string[] | undefined,
): Promise<StorageEntry[]> {
  const all = await discoverFiles(ctx.landing, glob);
  if (!files) return all;
  return all.filter((e) => files.includes(e.path));
}

/** Rows currently in a warehouse table (for reports and tests). */
export async function countRows(warehouse: Warehouse, table: string): Promise<number> {
  return queryNumber(warehouse.engine, `SELECT count(*) FROM ${table}`);
}
