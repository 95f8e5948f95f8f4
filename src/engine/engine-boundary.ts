import { realpathSync } from "node:fs";
import { resolve } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { quoteLiteral } from "../plan/sql-text.js";

/**
 * Settings every Sluice DuckDB opens with: the extensions it uses (parquet, json, icu) are built in,
 * so nothing is ever installed or loaded from the network (an `http://` path would fetch httpfs).
 */
export const ENGINE_OPEN_SETTINGS: Readonly<Record<string, string>> = {
  autoinstall_known_extensions: "false",
  autoload_known_extensions: "false",
  allow_community_extensions: "false",
};

/** What SQL running in an engine may reach on the file system. */
export interface EngineBoundary {
  /** Folders readable and writable below (landing zone, lake, Sluice's scratch folder). */
  readonly directories: readonly string[];
  /** Single files besides (none usually). */
  readonly files?: readonly string[];
  /**
   * Refuse every later `SET`: for engines that only run SQL a user wrote (`sluice query`, `validate`).
   * The run engine stays unlocked: Sluice itself tunes `threads` and `preserve_insertion_order` there.
   */
  readonly lockConfiguration?: boolean;
}

/**
 * Closes an engine to everything but `boundary`: DuckDB's `allowed_directories` / `allowed_paths`, then
 * `enable_external_access = false` (no other file, no network, no extension load; DuckDB refuses to turn
 * it back on or to widen the lists afterwards). The engine's own database file and temp folder stay
 * usable. Call it after Sluice's own ATTACHes and before any SQL from a config or a user.
 *
 * @example
 * await confineEngine(con, { directories: ["/srv/project/landing", scratchRoot()] });
 */
export async function confineEngine(con: DuckDBConnection, boundary: EngineBoundary): Promise<void> {
  const directories = withRealPaths(boundary.directories);
  const files = withRealPaths(boundary.files ?? []);
  if (directories.length > 0) await con.run(`SET allowed_directories = ${listLiteral(directories)}`);
  if (files.length > 0) await con.run(`SET allowed_paths = ${listLiteral(files)}`);
  await con.run("SET enable_external_access = false");
  if (boundary.lockConfiguration) await con.run("SET lock_configuration = true");
}

/** Absolute paths, each also as its real path when it is (or sits below) a symbolic link. */
function withRealPaths(paths: readonly string[]): string[] {
  const out = new Set<string>();
  for (const path of paths) {
    const absolute = resolve(path);
    out.add(absolute);
    try {
      out.add(realpathSync.native(absolute));
    } catch {
      // Not created yet: DuckDB compares the path as written.
    }
  }
  return [...out];
}

function listLiteral(values: readonly string[]): string {
  return `[${values.map(quoteLiteral).join(", ")}]`;
}
