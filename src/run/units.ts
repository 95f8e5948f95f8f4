import { isFileSource, type SourceConfig } from "../config/schema.js";
import { SluiceError } from "../errors.js";
import type { StorageEntry } from "../storage/storage.js";
import { discoverFiles, discoverNamedFiles } from "./discover-files.js";
import { landingFileUnit } from "./landing-file-unit.js";
import type { ProjectContext } from "./project-context.js";
import { querySourceOf } from "./query-source.js";
import { queryResultUnit } from "./query-unit.js";
import type { PipelineRunOptions, ReplaySpec } from "./run-context.js";
import type { RunUnit } from "./unit.js";

/** What a run reads, and why it has nothing to read (`no file matches <glob>`) when that is worth saying. */
export interface SelectedUnits {
  readonly units: readonly RunUnit[];
  readonly note?: string;
}

/**
 * The units of a run: the query result, the replayed files, the files handed over (backfills), or the
 * landing files matching the pipeline's glob (only those asked for with `--file`).
 */
export async function selectUnits(
  project: ProjectContext,
  name: string,
  source: SourceConfig,
  options: PipelineRunOptions,
): Promise<SelectedUnits> {
  const query = querySourceOf(source);
  if (query) return { units: [queryResultUnit(name, query)] };
  if (!isFileSource(source)) {
    throw new SluiceError("USAGE", `pipeline ${name}: stream sources are run by \`sluice worker\``);
  }
  const entries = options.replay
    ? await replayEntries(project, options.replay)
    : options.entries
      ? [...options.entries]
      : await selectEntries(project, source.path, options.files);
  const units = entries.map((entry) => landingFileUnit(entry, source));
  if (units.length > 0 || options.replay || options.entries) return { units };
  return { units, note: `no file matches ${source.path}` };
}

async function replayEntries(project: ProjectContext, replay: ReplaySpec): Promise<StorageEntry[]> {
  const found: StorageEntry[] = [];
  for (const file of replay.files) {
    const entry = await project.landing.stat(file.path);
    if (entry) found.push(entry);
  }
  return found;
}

async function selectEntries(
  project: ProjectContext,
  glob: string,
  files: readonly string[] | undefined,
): Promise<StorageEntry[]> {
  return files ? discoverNamedFiles(project.landing, glob, files) : discoverFiles(project.landing, glob);
}
