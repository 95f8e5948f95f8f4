import { rmSync } from "node:fs";
import { join } from "node:path";
import { configError, loadProject } from "../config/load-config.js";
import { validateProject } from "../config/validate-project.js";
import { SluiceError } from "../errors.js";
import { discoverFiles } from "../runner/discover-files.js";
import { duckdbReadPath, readsAsGlob } from "../runner/duckdb-read-path.js";
import { createProjectContext, type ProjectContext } from "../runner/project-context.js";
import { scratchDir } from "../storage/scratch-dir.js";
import type { Warehouse } from "../warehouse/warehouse.js";
import type { Output } from "./output.js";

/** Options every command accepts. */
export interface GlobalOptions {
  readonly config?: string;
}

/**
 * Loads and fully validates the project, then resolves its storages and warehouse.
 * Configuration problems surface as one CONFIG_INVALID error (exit 2) before any data is touched.
 * `use: "reads"` is for commands that only read what was loaded (`query`, `runs`, ...): what only a
 * load needs — the mask salt, a sample of the landing files — is not asked for.
 *
 * @example
 * const ctx = await openProject(cmd.optsWithGlobals<GlobalOptions>(), output, "reads");
 */
export async function openProject(
  options: GlobalOptions,
  output: Output,
  use: "loads" | "reads" = "loads",
): Promise<ProjectContext> {
  const project = await loadProject({ configPath: options.config });
  const ctx = createProjectContext(project, { notice: output.notice });
  // DuckDB would read a sample whose path holds glob characters as a pattern: it reads a link instead.
  let links: string | undefined;
  let linked = 0;
  try {
    const problems = await validateProject(
      project.config,
      use === "loads"
        ? {
            sampleFile: async (name) => {
              const path = await sampleFile(ctx, name);
              if (!path || !readsAsGlob(path)) return path;
              links ??= scratchDir("sample-");
              return duckdbReadPath(path, join(links, String(linked++)));
            },
            directories: ctx.engineBoundary().directories,
          }
        : { loads: false, directories: ctx.engineBoundary().directories },
    );
    if (problems.length > 0) throw configError("sluice.yaml", problems);
  } finally {
    if (links) rmSync(links, { recursive: true, force: true });
  }
  return ctx;
}

/** The newest pending (or else archived) local file of a pipeline, to learn its columns at validate time. */
async function sampleFile(ctx: ProjectContext, pipeline: string): Promise<string | undefined> {
  const config = ctx.project.config.pipelines[pipeline];
  const source = config?.source;
  if (!source || !("path" in source)) return undefined;
  // Only rules, dedupe keys and derived columns name columns that need the sample; reading a header is cheap, but not free.
  if (config.checks.length === 0 && !config.dedupe && Object.keys(config.derive).length === 0)
    return undefined;
  // Only a local landing zone's files can be read in place: listing a remote one would find nothing usable.
  if (ctx.landing.localPath("") === undefined) return undefined;
  try {
    const pending = await discoverFiles(ctx.landing, source.path);
    const candidates =
      pending.length > 0 ? pending : await discoverFiles(ctx.landing, `archive/${pipeline}/**/*`);
    const newest = candidates.filter((e) => e.size > 0).at(-1);
    return newest ? ctx.landing.localPath(newest.path) : undefined;
  } catch {
    return undefined;
  }
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
