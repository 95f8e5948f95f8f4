import { existsSync, statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { SluiceError } from "../errors.js";
import { registerDeltaView } from "../lake/delta-reader.js";
import { registerParquetLakeView } from "../lake/parquet-lake.js";
import type { ProjectContext } from "../run/project-context.js";
import { projectLakeTables } from "../runner/lake-tables.js";
import { localStorage } from "../storage/local-storage.js";

/** Lake options of `sluice query`. */
export interface LakeViewRequest {
  /** The user's SQL: only lake tables it names are mounted (plus pinned ones). */
  readonly sql: string;
  /** `<table>=<N>` */
  readonly versions: readonly string[];
  /** `<table>=<ISO-8601>` */
  readonly timestamps: readonly string[];
  /** `<name>=<path>` */
  readonly deltas: readonly string[];
  /** Base for relative `--delta` paths. */
  readonly cwd: string;
}

/**
 * Creates the views `lake.<table>` (latest version, or the pinned one) for the project's lake tables the
 * SQL mentions, and a TEMP view per `--delta name=path`. Bad options are USAGE errors (exit 2).
 * Returns a cleanup for downloaded copies (remote lakes).
 *
 * @example
 * const cleanup = await mountLakeViews(con, ctx, { sql, versions: ["orders=3"], timestamps: [], deltas: [], cwd });
 */
export async function mountLakeViews(
  con: DuckDBConnection,
  ctx: ProjectContext,
  request: LakeViewRequest,
): Promise<() => Promise<void>> {
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const c of cleanups) await c().catch(() => undefined);
  };
  try {
    const versions = parsePins("--version", request.versions, (name, value) => {
      if (!/^\d+$/.test(value)) throw usage(`--version ${name}=${value}: the version must be a whole number`);
      return Number(value);
    });
    const timestamps = parsePins("--timestamp", request.timestamps, (name, value) => {
      const ms = Date.parse(value);
      if (Number.isNaN(ms) || !/^\d{4}-\d{2}-\d{2}/.test(value)) {
        throw usage(`--timestamp ${name}=${value}: expected an ISO-8601 time like 2026-01-31T12:00:00Z`);
      }
      return ms;
    });
    for (const name of versions.keys()) {
      if (timestamps.has(name)) throw usage(`choose one of --version and --timestamp for lake table ${name}`);
    }
    const deltas = parsePins("--delta", request.deltas, (name, value) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        throw usage(`--delta ${name}=${value}: the view name must be letters, digits and _`);
      }
      const path = isAbsolute(value) ? value : resolve(request.cwd, value);
      if (!existsSync(path) || !statSync(path).isDirectory()) {
        throw usage(`--delta ${name}=${value}: no such folder`);
      }
      if (!existsSync(resolve(path, "_delta_log"))) {
        throw usage(`--delta ${name}=${value}: not a Delta table (no _delta_log folder in it)`);
      }
      return path;
    });

    const tables = await projectLakeTables(ctx);
    const known = new Map(tables.map((t) => [t.name, t]));
    const knownList = tables.map((t) => t.name).join(", ") || "none";
    for (const [flag, pins] of [
      ["--version", versions],
      ["--timestamp", timestamps],
    ] as const) {
      for (const name of pins.keys()) {
        const t = known.get(name);
        if (!t) throw usage(`${flag} ${name}=…: no lake table ${name} in this project (known: ${knownList})`);
        if (!t.exists) throw new SluiceError("LAKE_ERROR", `lake table ${name}: nothing published yet`);
        if (t.format !== "delta") {
          throw usage(
            `${flag} ${name}=…: lake table ${name} is plain Parquet; time travel needs a Delta table`,
          );
        }
      }
    }
    const text = request.sql.toLowerCase();
    for (const t of tables) {
      const pinned = versions.has(t.name) || timestamps.has(t.name);
      if (!t.exists || (!pinned && !mentions(text, t.name))) continue;
      if (t.format === "delta") {
        const view = await registerDeltaView(con, t.table, t.name, {
          schema: "lake",
          version: versions.get(t.name),
          timestamp: timestamps.get(t.name),
        });
        cleanups.push(view.cleanup);
      } else {
        const view = await registerParquetLakeView(con, t.table, `__sluice_lake_${t.name}`);
        cleanups.push(view.cleanup);
        await con.run(
          `CREATE OR REPLACE VIEW lake.${quote(t.name)} AS SELECT * FROM ${quote(`__sluice_lake_${t.name}`)}`,
        );
      }
    }
    for (const [name, path] of deltas) {
      const view = await registerDeltaView(con, { storage: localStorage(path), path: "" }, name);
      cleanups.push(view.cleanup);
    }
    return cleanup;
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/**
 * The folders `--delta <name>=<path>` options name (resolved against `cwd`), for the query engine to
 * allow; malformed options are reported by {@link mountLakeViews}.
 *
 * @example
 * deltaFolders(["ext=../other/table"], process.cwd()) // ["/home/me/other/table"]
 */
export function deltaFolders(deltas: readonly string[], cwd: string): string[] {
  return deltas
    .map((raw) => raw.slice(raw.indexOf("=") + 1))
    .filter((value) => value !== "")
    .map((value) => (isAbsolute(value) ? value : resolve(cwd, value)));
}

function mentions(sqlLower: string, name: string): boolean {
  return sqlLower.includes(name.toLowerCase());
}

function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function usage(message: string): SluiceError {
  return new SluiceError("USAGE", message);
}

function parsePins<T>(
  flag: string,
  values: readonly string[],
  parse: (name: string, value: string) => T,
): Map<string, T> {
  const out = new Map<string, T>();
  for (const raw of values) {
    const at = raw.indexOf("=");
    if (at <= 0 || at === raw.length - 1) throw usage(`${flag} ${raw}: expected <name>=<value>`);
    const name = raw.slice(0, at);
    if (out.has(name)) throw usage(`${flag}: ${name} given twice`);
    out.set(name, parse(name, raw.slice(at + 1)));
  }
  return out;
}

/**
 * When the query failed because it names `lake.<table>` and there is no such view, the error that says
 * why: a lake table of the project that nothing was published to yet (`LAKE_ERROR`, exit 1), or a name
 * that is no lake table of the project (`USAGE`, exit 2, naming the known ones). `undefined` for any
 * other failure, which keeps DuckDB's message.
 *
 * @example
 * const why = await missingLakeTableError(ctx, sql, error.message);
 */
export async function missingLakeTableError(
  ctx: ProjectContext,
  sql: string,
  message: string,
): Promise<SluiceError | undefined> {
  const name = /Table with name (\S+) does not exist/.exec(message)?.[1];
  if (name === undefined) return undefined;
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  if (!new RegExp(`\\blake\\s*\\.\\s*"?${escaped}\\b`, "i").test(sql)) return undefined;
  const tables = await projectLakeTables(ctx);
  const table = tables.find((t) => t.name.toLowerCase() === name.toLowerCase());
  if (table) {
    return new SluiceError(
      "LAKE_ERROR",
      `lake.${table.name}: nothing published to lake table ${table.name} yet (run its pipeline first)`,
    );
  }
  const known = tables.map((t) => t.name).join(", ") || "none";
  return usage(`lake.${name}: no lake table ${name} in this project (known: ${known})`);
}
