import type { DatabaseSourceConfig } from "../config/schema.js";
import type { QueryStageRequest } from "../engine/stage-query.js";

/** What to extract from an external database and stage in the engine (as a warehouse source is staged). */
export interface DatabaseStageRequest extends Omit<QueryStageRequest, "source"> {
  readonly source: DatabaseSourceConfig;
  /** A folder for the extract's scratch CSV (removed with the run). */
  readonly workDir: string;
  /**
   * The scratch CSV outlives the stage (it is the run's, removed with it): a plain extract may then be
   * staged as a view over it that the publish reads once (see {@link stagesInPlace}).
   */
  readonly filesOutliveStage?: boolean | undefined;
}

/**
 * Whether an extract is staged as a view over its scratch CSV instead of a table: a table the engine
 * keeps in memory up to its memory limit (about 1 GB at 10M rows), a view it streams from disk. Only
 * when nothing changes the staged rows after the read: no nested mode, no declared column type, no
 * unconstrained numeric column typed from its values.
 */
export function stagesInPlace(
  request: DatabaseStageRequest,
  columns: readonly { name: string; engineType: string | undefined }[],
): boolean {
  return (
    request.filesOutliveStage === true &&
    request.nested === undefined &&
    columns.every((c) => c.engineType !== undefined && request.columns[c.name]?.type === undefined)
  );
}

/**
 * The request as the warehouse-source helpers take it: they read only its columns, cursor and prefix.
 *
 * @example
 * completeStagedQuery(engine, asQueryRequest(request), read)
 */
export function asQueryRequest(request: DatabaseStageRequest): QueryStageRequest {
  const { source, workDir: _workDir, filesOutliveStage: _outlive, ...rest } = request;
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
