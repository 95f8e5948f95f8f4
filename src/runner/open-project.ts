import { rmSync } from "node:fs";
import { basename, join } from "node:path";
import type { PipelineConfig } from "../config/schema.js";
import { SluiceError } from "../errors.js";
import { configError } from "../project/config-problem.js";
import { loadProject } from "../project/load-config.js";
import { type SampleFile, validateProject } from "../project/validate-project.js";
import { discoverFiles } from "../run/discover-files.js";
import { duckdbReadPath, readsAsGlob } from "../run/duckdb-read-path.js";
import { createProjectContext, type ProjectContext } from "../run/project-context.js";
import { scratchDir } from "../storage/scratch-dir.js";
import type { Warehouse } from "../warehouse/warehouse.js";

/** How to open a project: the CLI's commands and the library both go through {@link openProject}. */
export interface OpenProjectOptions {
  /** The project file (default: ./sluice.yaml). */
  readonly config?: string;
  /** Where notices go (waiting for a lock, ...). */
  readonly notice?: (message: string) => void;
  /** `"reads"` for what loads no new rows: the mask salt and landing samples are not asked for. */
  readonly use?: "loads" | "reads";
  /** Told of each pipeline whose named columns could not be checked against a landing file, and why. */
  readonly onUnchecked?: (pipeline: string, reason: string) => void;
}

/**
 * Loads and fully validates the project, then resolves its storages and warehouse.
 * Configuration problems surface as one CONFIG_INVALID error (exit 2) before any data is touched.
 * `use: "reads"` is for commands that load no new rows (`query`, `runs`, `lake ...`, `rollback`, ...): what
 * only a load needs — the mask salt, a sample of the landing files — is not asked for.
 *
 * @example
 * const ctx = await openProject({ config: "sluice.yaml", use: "reads" });
 */
export async function openProject(options: OpenProjectOptions = {}): Promise<ProjectContext> {
  const { use = "loads", onUnchecked } = options;
  const project = await loadProject({ configPath: options.config });
  const ctx = createProjectContext(project, options.notice ? { notice: options.notice } : {});
  // DuckDB would read a sample whose path holds glob characters as a pattern: it reads a link instead.
  let links: string | undefined;
  let linked = 0;
  try {
    const problems = await validateProject(
      project.config,
      use === "loads"
        ? {
            sampleFile: async (name) => {
              const sample = await sampleFile(ctx, name);
              if (!sample || !("path" in sample) || !readsAsGlob(sample.path)) return sample;
              links ??= scratchDir("sample-");
              return { ...sample, path: await duckdbReadPath(sample.path, join(links, String(linked++))) };
            },
            onUnchecked,
            directories: ctx.engineBoundary().directories,
          }
        : { loads: false, directories: ctx.engineBoundary().directories },
    );
    if (problems.length > 0) throw configError(basename(project.configFile), problems);
  } finally {
    if (links) rmSync(links, { recursive: true, force: true });
  }
  return ctx;
}

/**
 * The newest pending (or else archived) local file of a pipeline, to learn its columns at validate time;
 * or why there is none. Undefined when the pipeline names no column.
 */
async function sampleFile(ctx: ProjectContext, pipeline: string): Promise<SampleFile | undefined> {
  const config = ctx.project.config.pipelines[pipeline];
  // Reading a header is cheap, but not free: only pipelines that name columns need it.
  if (!config || !namesColumns(config)) return undefined;
  const source = config.source;
  if ("stream" in source) {
    return { unchecked: "the source is a message stream: its columns are known when a batch is read" };
  }
  if (!("path" in source)) {
    return {
      unchecked: "the source is a warehouse query or table: its columns are known when a run reads it",
    };
  }
  // Only a local landing zone's files can be read in place: listing a remote one would find nothing usable.
  if (ctx.landing.localPath("") === undefined) {
    return {
      unchecked:
        "the landing zone is not a local folder, so no file is read to check them; a run checks masks, rules and dedupe keys against each file it reads",
    };
  }
  try {
    const pending = await discoverFiles(ctx.landing, source.path);
    const candidates =
      pending.length > 0 ? pending : await discoverFiles(ctx.landing, `archive/${pipeline}/**/*`);
    const newest = candidates.filter((e) => e.size > 0).at(-1);
    const path = newest ? ctx.landing.localPath(newest.path) : undefined;
    if (newest && path) return { path, shown: newest.path };
  } catch {
    // An unlistable landing zone is reported by the run that needs it.
  }
  return {
    unchecked: `no file matches ${source.path} (nor any in archive/${pipeline}/) to read them from; \`sluice run\` checks them against the newest file when one arrives`,
  };
}

/** Whether a pipeline names any column: in `columns:`, rules, dedupe, derive, target keys or the cursor. */
function namesColumns(pipeline: PipelineConfig): boolean {
  const { target } = pipeline;
  return (
    Object.keys(pipeline.columns).length > 0 ||
    pipeline.checks.length > 0 ||
    pipeline.dedupe !== undefined ||
    Object.keys(pipeline.derive).length > 0 ||
    pipeline.incremental !== undefined ||
    [target.keys, target.partition_by, target.track, target.lake?.keys, target.lake?.partition_by].some(
      (list) => list !== undefined && list.length > 0,
    )
  );
}

/**
 * Reads the catalog with a read-only warehouse, closed afterwards. A warehouse Sluice has not written to
 * yet (no DuckDB file, or a PostgreSQL database without the `sluice` catalog) reads as no rows.
 *
 * @example
 * const rows = await readCatalog(ctx, (w) => w.query("SELECT * FROM sluice.runs"));
 */
export async function readCatalog<T>(
  ctx: ProjectContext,
  read: (warehouse: Warehouse) => Promise<readonly T[]>,
): Promise<readonly T[]> {
  const notYet = (error: unknown): boolean =>
    error instanceof SluiceError && /no warehouse yet/.test(error.message);
  let warehouse: Warehouse;
  try {
    warehouse = await ctx.openWarehouse({ readOnly: true });
  } catch (error) {
    if (notYet(error)) return [];
    throw error;
  }
  try {
    return await read(warehouse);
  } catch (error) {
    if (notYet(error)) return [];
    throw error;
  } finally {
    await warehouse.close();
  }
}
