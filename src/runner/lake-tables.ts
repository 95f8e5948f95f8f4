import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { SluiceError } from "../errors.js";
import type { LakeTable } from "../lake/lake-table.js";
import { lakeTargetPlan } from "../run/lake-publish.js";
import type { ProjectContext } from "../run/project-context.js";
import type { Storage } from "../storage/storage.js";

/** A lake table of a project. */
export interface ProjectLakeTable {
  readonly name: string;
  /** delta, parquet (a manifest folder), or what a pipeline declares when nothing is written yet. */
  readonly format: "delta" | "parquet";
  /** Something was published (a `_delta_log/` or `_manifests/` folder exists). */
  readonly exists: boolean;
  readonly table: LakeTable;
}

/**
 * The project's lake tables: those named by pipelines' lake targets, plus every folder under the
 * lake root holding a `_delta_log/` (Delta) or `_manifests/` (Parquet lake).
 *
 * @example
 * for (const t of await projectLakeTables(ctx)) console.log(t.name, t.format, t.exists);
 */
export async function projectLakeTables(ctx: ProjectContext): Promise<ProjectLakeTable[]> {
  const found = await publishedFolders(ctx.lake);
  const out = new Map<string, ProjectLakeTable>();
  for (const pipeline of Object.values(ctx.project.config.pipelines)) {
    const plan = lakeTargetPlan(pipeline.target);
    if (!plan || out.has(plan.table)) continue;
    const format = found.get(plan.table) ?? plan.format;
    out.set(plan.table, {
      name: plan.table,
      format,
      exists: found.has(plan.table),
      table: { storage: ctx.lake, path: plan.table },
    });
  }
  for (const [name, format] of found) {
    if (!out.has(name))
      out.set(name, { name, format, exists: true, table: { storage: ctx.lake, path: name } });
  }
  return [...out.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * One lake table of the project by name; USAGE error naming the known tables otherwise.
 *
 * @example
 * const t = await findLakeTable(ctx, "orders");
 */
export async function findLakeTable(ctx: ProjectContext, name: string): Promise<ProjectLakeTable> {
  const tables = await projectLakeTables(ctx);
  const hit = tables.find((t) => t.name === name);
  if (!hit) {
    throw new SluiceError(
      "USAGE",
      `no lake table ${name} in this project (known: ${tables.map((t) => t.name).join(", ") || "none"})`,
    );
  }
  return hit;
}

/** Top-level folders of the lake root that hold a published table. */
async function publishedFolders(storage: Storage): Promise<Map<string, "delta" | "parquet">> {
  const found = new Map<string, "delta" | "parquet">();
  const root = storage.localPath("");
  if (root !== undefined) {
    if (!existsSync(root)) return found;
    for (const entry of await readdir(root, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith("_") || entry.name.startsWith(".")) continue;
      if (existsSync(join(root, entry.name, "_delta_log"))) found.set(entry.name, "delta");
      else if (existsSync(join(root, entry.name, "_manifests"))) found.set(entry.name, "parquet");
    }
    return found;
  }
  for await (const entry of storage.list("")) {
    const m = /^([^/]+)\/(_delta_log|_manifests)\/\d{20}\.json$/.exec(entry.path);
    if (m && !found.has(m[1]!)) found.set(m[1]!, m[2] === "_delta_log" ? "delta" : "parquet");
  }
  return found;
}
