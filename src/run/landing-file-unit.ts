import type { FileSourceConfig } from "../config/schema.js";
import { SluiceError } from "../errors.js";
import { formatFromName } from "../plan/landing-paths.js";
import type { StorageEntry } from "../storage/storage.js";
import { type AcquiredFile, acquireFile } from "./acquire-file.js";
import { freeDestination, moveFile } from "./move-file.js";
import type { RunContext } from "./run-context.js";
import { stageLocalFile } from "./stage-local-file.js";
import type { Attempt, RunUnit, UnitWork } from "./unit.js";
import { applyDigest, awaitDigest, markFailed, readError } from "./unit-digest.js";

/**
 * A file of the landing zone as a unit: known to the ledger by its content's hash, moved to archive/
 * (or unprocessed/, when its data failed it) once the run is published.
 *
 * @example
 * landingFileUnit({ path: "in/orders/a.csv", size: 120, mtimeMs }, pipeline.source)
 */
export function landingFileUnit(entry: StorageEntry, source: FileSourceConfig): RunUnit {
  return {
    path: entry.path,
    size: entry.size,
    landing: entry,
    read: (run, attempt, work, index) => readLandingFile(run, attempt, work, index, entry, source),
    raw: {
      destination: (run, area, reserved) =>
        freeDestination(run.project.landing, area, run.name, entry.path, run.startedAt, reserved),
      keep: (run, to) => moveFile(run.project.landing, entry.path, to, entry.size),
    },
  };
}

async function readLandingFile(
  run: RunContext,
  attempt: Attempt,
  work: UnitWork,
  index: number,
  entry: StorageEntry,
  source: FileSourceConfig,
): Promise<UnitWork> {
  if (entry.refused) {
    return markFailed(
      run,
      work,
      new SluiceError("FILE_UNREADABLE", `${entry.path}: ${entry.refused.reason}`),
      false,
    );
  }
  const format = run.replayed.get(entry.path)?.format ?? source.format ?? formatFromName(entry.path);
  const intake = await intakeFile(run, attempt, work, index, entry, format);
  if (!intake) return work;
  if (!format) {
    return markFailed(
      run,
      work,
      new SluiceError(
        "FILE_UNPARSEABLE",
        `${entry.path}: unknown format; set source.format to csv, jsonl, json, parquet or avro`,
      ),
      true,
    );
  }
  if (entry.size === 0) {
    work.report.warnings.push("empty file: nothing to load");
    work.staged = undefined;
    return work;
  }
  return stageLocalFile(run, attempt, work, index, {
    localPath: intake.acquired.localPath,
    format,
    source,
    yieldToReader: intake.hashWhileReading ? intake.acquired.yieldToReader : undefined,
  });
}

/**
 * Fetches a file and identifies it: the ledger knows files by content. Content can only repeat a loaded
 * file (or one of this run) of the same size, so a file of a new size is read while it is hashed; others
 * are hashed first, and a duplicate is not read at all. Undefined when the work is decided already
 * (failed, or a duplicate).
 */
async function intakeFile(
  run: RunContext,
  attempt: Attempt,
  work: UnitWork,
  index: number,
  entry: StorageEntry,
  format: string | undefined,
): Promise<{ acquired: AcquiredFile; hashWhileReading: boolean } | undefined> {
  const { landing } = run.project;
  const file = work.report;
  const sizeLoaded = (await attempt.loadedSizes(run)).has(entry.size);
  const hashWhileReading =
    landing.localPath(entry.path) !== undefined &&
    !run.options.force &&
    !run.options.replay &&
    !attempt.sizesSeen.has(entry.size) &&
    !sizeLoaded;
  let acquired: AcquiredFile;
  try {
    const before = await landing.stat(entry.path);
    if (!before)
      throw new SluiceError("FILE_VANISHED", `${entry.path}: disappeared before it could be read`, {
        transient: true,
      });
    acquired =
      run.acquired.get(entry.path) ?? (await acquireFile(landing, entry, run.workDir, index, format));
    run.acquired.set(entry.path, acquired);
  } catch (error) {
    markFailed(run, work, readError(entry.path, error), false);
    return undefined;
  }
  attempt.sizesSeen.add(entry.size);
  if (hashWhileReading) {
    work.digest = acquired.digest;
    return { acquired, hashWhileReading };
  }
  // Earlier files of this run may still be hashing: their content must be known to compare.
  // Only those still hashing are awaited: one await per earlier file made 10,000 files quadratic.
  for (const earlier of attempt.works) if (earlier.digest) await awaitDigest(run, earlier);
  try {
    applyDigest(run, work, await acquired.digest);
  } catch (error) {
    markFailed(run, work, readError(entry.path, error), false);
    return undefined;
  }
  if (file.status === "failed") return undefined;
  // Even under --force: it reloads content loaded by earlier runs, never the same content twice in one.
  if (attempt.works.some((w) => w.report.sha256 === file.sha256)) {
    file.status = "skipped_duplicate";
    file.warnings.push("same content as another file of this run");
    return undefined;
  }
  // No loaded content has this size: nothing to look up (replays are known by a hash of their own).
  work.priorLoads =
    sizeLoaded || run.options.replay ? await run.warehouse.loadsOf(run.name, file.sha256) : [];
  if (work.priorLoads.length > 0 && !run.options.force) {
    file.status = "skipped_duplicate";
    run.logger.info(
      { file: file.path, sha256: file.sha256, first_run: work.priorLoads[0]?.runId },
      "content already loaded",
    );
    return undefined;
  }
  return { acquired, hashWhileReading };
}
