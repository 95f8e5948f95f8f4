import type { FileSourceConfig } from "../config/schema.js";
import { SluiceError } from "../errors.js";
import { formatFromName } from "../plan/landing-paths.js";
import type { StorageEntry } from "../storage/storage.js";
import { type AcquiredFile, acquireFile } from "./acquire-file.js";
import { freeDestination, moveFile } from "./move-file.js";
import type { RunContext } from "./run-context.js";
import { stageLocalFile } from "./stage-local-file.js";
import type { Attempt, RunUnit, UnitWork } from "./unit.js";
import { applyDigest, awaitDigest, markFailed, readError, vanishedError } from "./unit-digest.js";

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
    read: async (run, attempt, work, index) => {
      // The file's intake, its read and the check after it share the folders on its way: each is
      // looked at for links once (the file itself at each step).
      const done = run.project.landing.batch?.();
      try {
        return await readLandingFile(run, attempt, work, index, entry, source);
      } finally {
        done?.();
      }
    },
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
    if (!before) throw vanishedError(entry.path);
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
  const earlier = await earlierContents(run, attempt);
  try {
    applyDigest(run, work, await acquired.digest);
  } catch (error) {
    markFailed(run, work, readError(entry.path, error), false);
    return undefined;
  }
  if (file.status === "failed") return undefined;
  // Even under --force: it reloads content loaded by earlier runs, never the same content twice in one.
  if (earlier.has(file.sha256)) {
    file.status = "skipped_duplicate";
    file.warnings.push("same content as another file of this run");
    return undefined;
  }
  // No loaded content has this size: nothing to look up (replays are known by a hash of their own).
  work.priorLoads = [
    ...(sizeLoaded || run.options.replay ? await run.warehouse.loadsOf(run.name, file.sha256) : []),
    ...(run.options.force ? (run.options.earlierLoads?.get(entry.path) ?? []) : []),
  ];
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

/** Per attempt: the content hashes of its earlier files, and how many of its works are indexed. */
const contentIndexes = new WeakMap<Attempt, { indexed: number; hashes: Set<string>; hashing: UnitWork[] }>();

/**
 * The content hashes of the attempt's files so far. Earlier files may still be hashing: their content
 * must be known to compare, so those are awaited. Each file is indexed once: a pass over every earlier
 * file per file made 10,000 files quadratic.
 */
async function earlierContents(run: RunContext, attempt: Attempt): Promise<ReadonlySet<string>> {
  let index = contentIndexes.get(attempt);
  if (!index) {
    index = { indexed: 0, hashes: new Set(), hashing: [] };
    contentIndexes.set(attempt, index);
  }
  for (; index.indexed < attempt.works.length; index.indexed++) {
    const work = attempt.works[index.indexed]!;
    if (work.digest) index.hashing.push(work);
    else if (work.report.sha256 !== "") index.hashes.add(work.report.sha256);
  }
  for (const work of index.hashing) {
    await awaitDigest(run, work);
    if (work.report.sha256 !== "") index.hashes.add(work.report.sha256);
  }
  index.hashing.length = 0;
  return index.hashes;
}
