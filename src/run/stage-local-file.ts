import { join } from "node:path";
import type { FileFormat, FileSourceConfig } from "../config/schema.js";
import type { AvroReaderSchema } from "../engine/avro-container.js";
import { bindExpressions } from "../engine/bind-expressions.js";
import { csvLineMapper } from "../engine/check-file.js";
import { checkInWrite, countCheckFailures } from "../engine/single-pass-checks.js";
import { type StagedFile, stageFile } from "../engine/stage-file.js";
import type { OwnRecordsRead } from "../engine/stage-own-records.js";
import { asSluiceError, SluiceError } from "../errors.js";
import { unmaskableColumnError } from "../plan/column-references.js";
import { longColumnNameError } from "../plan/long-column-name-error.js";
import { quoteIdent } from "../plan/sql-text.js";
import { readAvroReaderSchema } from "../project/avro-reader-schemas.js";
import { foreignKeysOf, needsChecking, pipelineOf, type RunContext } from "./run-context.js";
import { readRows, withStageFindings } from "./run-report.js";
import { SinglePassUndone } from "./single-pass.js";
import type { Attempt, UnitWork } from "./unit.js";
import { markFailed } from "./unit-digest.js";
import { checkAndDecide, type LineOf, malformedFailure, warnChecks } from "./verdict.js";

/** A file on this machine to stage: a landing file (downloaded if remote) or a batch written for the run. */
export interface LocalRead {
  readonly localPath: string;
  readonly format: FileFormat;
  readonly source: FileSourceConfig;
  /** Tells a hash running beside the read that DuckDB's bulk read starts (see `AcquiredFile`). */
  readonly yieldToReader?: (() => void) | undefined;
  /** JSON lines Sluice wrote itself (see `StageRequest.ownChunk`). */
  readonly ownChunk?: boolean | undefined;
  /** Their records as Sluice parsed them (see `StageRequest.ownRecords`). */
  readonly ownRecords?: OwnRecordsRead | undefined;
}

/** The reader schema of an Avro read: the one loaded with the project, else read now. */
async function avroReaderOf(run: RunContext, read: LocalRead): Promise<AvroReaderSchema | undefined> {
  const path = read.source.avro_schema;
  if (read.format !== "avro" || path === undefined) return undefined;
  const project = run.project.project;
  return project.avroSchemas?.get(path) ?? (await readAvroReaderSchema(project.rootDir, path));
}

/** A staged file that must be read again the staged way (its counted or written checks found it not clean). */
const AGAIN = Symbol("again");

/**
 * Stages one local file, or plans it for the single-pass publish, and checks it. A CSV file is read once
 * where it can be: by the publish (single pass) or by the check pass; when that read cannot take it, it
 * is staged again.
 */
export async function stageLocalFile(
  run: RunContext,
  attempt: Attempt,
  work: UnitWork,
  index: number,
  read: LocalRead,
): Promise<UnitWork> {
  const { pipeline, singlePass } = attempt.mode;
  const deferRead = read.format === "csv" && (singlePass || pipeline.checks.length > 0);
  const warningsBefore = work.report.warnings.length;
  for (let pass = 0; ; pass++) {
    // A hash still running yields to DuckDB's bulk read of the file: here (staging reads it whole), or
    // once the sniff is done when the publish or the check pass reads it.
    const deferred = deferRead && pass === 0;
    if (!deferred) read.yieldToReader?.();
    const staged = await stageOnce(run, attempt, work, index, read, deferred);
    if (!("table" in staged)) return staged;
    read.yieldToReader?.();
    work.report.warnings.splice(warningsBefore);
    work.report.warnings.push(...staged.warnings);
    withStageFindings(work.report, staged);
    const refused = await refuseStaged(run, attempt, work, staged);
    if (refused) return refused;
    const decided = await decideStaged(run, attempt, work, staged, read);
    if (decided !== AGAIN) return decided;
  }
}

/** Stages the file into the engine (a view over it when `deferred`); a file that cannot be is failed. */
async function stageOnce(
  run: RunContext,
  attempt: Attempt,
  work: UnitWork,
  index: number,
  read: LocalRead,
  deferred: boolean,
): Promise<StagedFile | UnitWork> {
  const { pipeline } = attempt.mode;
  const path = work.unit.path;
  try {
    // A small file read with the files after it (one statement for all) takes its rows from the group.
    const together = deferred ? undefined : await attempt.together.staged(run, attempt.mode, index, read);
    if (together) {
      work.staged = together;
      return together;
    }
    work.staged = await stageFile(run.con, {
      localPath: read.localPath,
      displayPath: path,
      format: read.format,
      source: read.source,
      columns: pipelineOf(run, attempt.mode, path).columns,
      naming: pipeline.naming,
      tablePrefix: `sluice_f${index}`,
      deferred,
      // Positions matter to checks and dedupe (lines, ties) and to cdc (batch order breaks ties).
      keepOrder: needsChecking(pipeline) || pipeline.target.mode === "cdc",
      workDir: join(run.workDir, `f${index}`),
      ownChunk: read.ownChunk,
      ownRecords: read.ownRecords,
      avroReader: await avroReaderOf(run, read),
    });
    return work.staged;
  } catch (error) {
    if (work.unit.landing && !(await run.project.landing.stat(path))) {
      return markFailed(run, work, vanished(path), false);
    }
    const e = asSluiceError(error, "FILE_UNPARSEABLE", path);
    return markFailed(run, work, e, !e.transient);
  }
}

/**
 * The counts of a staged file, or why it is failed before it is checked: it changed or vanished while
 * read, a mask or an expression does not fit its columns, a column name is too long for the warehouse.
 */
async function refuseStaged(
  run: RunContext,
  attempt: Attempt,
  work: UnitWork,
  staged: StagedFile,
): Promise<UnitWork | undefined> {
  const { pipeline } = attempt.mode;
  const file = work.report;
  const path = work.unit.path;
  const listed = work.unit.landing;
  if (listed) {
    const after = await run.project.landing.stat(path);
    if (!after) return markFailed(run, work, vanished(path), false);
    if (after.size !== file.size || after.mtimeMs !== listed.mtimeMs) {
      return markFailed(
        run,
        work,
        new SluiceError(
          "FILE_CHANGED",
          `${path}: changed while being read (still being written?); left for the next run`,
          { transient: true },
        ),
        false,
      );
    }
  }
  Object.assign(file.rows, readRows(staged, run.onMalformed));
  // A mask this file's columns cannot take fails the file: it is never loaded unmasked.
  const unmaskable = unmaskableColumnError(run.written, staged.columns, path);
  if (unmaskable) return markFailed(run, work, unmaskable, false);
  try {
    await bindExpressions(run.con, staged, pipeline, path);
  } catch (error) {
    // The configuration does not fit this file's types: the file itself stays where it is.
    return markFailed(run, work, error, false);
  }
  const longName = longColumnNameError(
    staged.columns,
    pipeline,
    path,
    run.warehouse.capabilities.maxIdentifierBytes,
  );
  if (longName) return markFailed(run, work, longName, false);
  return undefined;
}

/**
 * What becomes of a staged file: planned for the single-pass publish (checked in the write, or counted
 * clean), checked by the check pass, or checked staged. {@link AGAIN} when it must be staged again.
 */
async function decideStaged(
  run: RunContext,
  attempt: Attempt,
  work: UnitWork,
  staged: StagedFile,
  read: LocalRead,
): Promise<UnitWork | typeof AGAIN> {
  const { pipeline, singlePass } = attempt.mode;
  const file = work.report;
  if (staged.deferred && singlePass && needsChecking(pipeline)) {
    const planned = await checkInWriteOrCount(run, attempt, work, staged);
    if (planned === AGAIN) return AGAIN;
  }
  if (staged.deferred && singlePass && (work.checked || !needsChecking(pipeline))) {
    // Read by the publish itself (single pass): counted and decided there.
    run.logger.info({ file: file.path, columns: staged.columns.length }, "planned");
    return work;
  }
  const lineOf: LineOf =
    read.format === "csv" && staged.headerLines !== undefined
      ? csvLineMapper({
          localPath: read.localPath,
          headerLines: staged.headerLines,
          malformedTable: staged.malformedTable,
        })
      : undefined;
  if (staged.deferred) {
    // Read by the check pass: counted right after it (see checkAndDecide).
    try {
      return await checkAndDecide(run, attempt, work, staged, lineOf);
    } catch (error) {
      if (!(error instanceof SinglePassUndone)) throw error;
      run.logger.info({ file: file.path, reason: error.message }, "reading the file again, staged");
      await run.con.run(`DROP VIEW IF EXISTS ${quoteIdent(staged.table)}`);
      return AGAIN;
    }
  }
  run.logger.info(
    { file: file.path, sha256: file.sha256, rows: file.rows, columns: staged.columns.length },
    "staged",
  );
  if (staged.malformed > 0 && run.onMalformed === "fail") {
    return markFailed(run, work, await malformedFailure(run, work.unit.path, staged), true);
  }
  return checkAndDecide(run, attempt, work, staged, lineOf);
}

/**
 * Single pass with checks or dedupe: the write enforces the checks (checkInWrite), or counting the
 * failures first finds the file clean; either way `work.checked` is set. A file whose counts are not clean is checked the staged way
 * (dedupe alone has no check pass to read a deferred file: {@link AGAIN}, it is staged).
 */
async function checkInWriteOrCount(
  run: RunContext,
  attempt: Attempt,
  work: UnitWork,
  staged: StagedFile,
): Promise<undefined | typeof AGAIN> {
  const { pipeline } = attempt.mode;
  const foreignKeys = foreignKeysOf(run, attempt.mode, work.unit.path);
  // The count after a write with checks in it reads the written rows through the engine: only where the
  // engine holds the target. Elsewhere (PostgreSQL) the failures are counted from the file first.
  const inWrite = run.warehouse.capabilities.stagesInPlace
    ? await checkInWrite(run.con, staged, pipeline, staged.prefix, foreignKeys)
    : undefined;
  if (inWrite) {
    // The publish enforces the checks as it writes; what they found is counted after the write.
    work.checked = {
      keptTable: inWrite.keptTable,
      quarantined: 0,
      duplicates: 0,
      checks: [],
      quarantineSql: undefined,
      warnings: [],
      tables: inWrite.tables,
    };
    work.checkedInWrite = inWrite;
    return undefined;
  }
  const counted = await countCheckFailures(run.con, staged, pipeline, staged.prefix, foreignKeys);
  run.logger.info({ file: work.report.path, rows: counted.rows, clean: counted.clean }, "checks counted");
  if (counted.clean) {
    work.checked = {
      keptTable: staged.table,
      quarantined: 0,
      duplicates: 0,
      checks: counted.checks,
      quarantineSql: undefined,
      warnings: warnChecks(counted.checks),
      tables: counted.tables,
    };
    work.report.warnings.push(...work.checked.warnings);
  } else if (pipeline.checks.length === 0) {
    await run.con.run(`DROP VIEW IF EXISTS ${quoteIdent(staged.table)}`);
    return AGAIN;
  }
  return undefined;
}

function vanished(path: string): SluiceError {
  return new SluiceError("FILE_VANISHED", `${path}: disappeared during the run`, { transient: true });
}
