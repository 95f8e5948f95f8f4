import type { DatabaseSourceConfig } from "../config/schema.js";
import type { QueryStageRequest } from "../engine/stage-query.js";

/** What to extract from an external database and stage in the engine (as a warehouse source is staged). */
export interface DatabaseStageRequest extends Omit<QueryStageRequest, "source"> {
  readonly source: DatabaseSourceConfig;
  /** A folder for the extract's scratch CSV (removed with the run). */
  readonly workDir: string;
}

/**
 * The request as the warehouse-source helpers take it: they read only its columns, cursor and prefix.
 *
 * @example
 * completeStagedQuery(engine, asQueryRequest(request), read)
 */
export function asQueryRequest(request: DatabaseStageRequest): QueryStageRequest {
  const { source, workDir: _workDir, ...rest } = request;
  return {
    ...rest,
    source: source.table !== undefined ? { table: source.table } : { sql: source.query ?? "" },
  };
}

/** Columns the engine cannot tell apart (names ignore case there) fail before any row moves. */
export function ambiguousNameProblem(names: readonly string[]): string | undefined {
  const seen = new Map<string, string>();
  for (const name of names) {
    const other = seen.get(name.toLowerCase());
    if (other !== undefined) {
      return `columns ${JSON.stringify(other)} and ${JSON.stringify(name)} have the same name for DuckDB (names ignore case); rename one with AS`;
    }
    seen.set(name.toLowerCase(), name);
  }
  return undefined;
}
