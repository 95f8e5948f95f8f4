import { quoteLiteral } from "../plan/sql-text.js";
import { readCatalog } from "./open-project.js";
import type { ProjectContext } from "./project-context.js";
import type { RunReport } from "./run-report.js";

/** Which runs {@link readRuns} returns. */
export interface RunsQuery {
  /** One run only. */
  readonly runId?: string;
  /** Only this pipeline's runs. */
  readonly pipeline?: string;
  /** At most this many (default 20). */
  readonly limit?: number;
}

/**
 * Recorded run reports (the objects of `sluice run --json`), newest first. No warehouse yet reads as none.
 *
 * @example
 * const [last] = await readRuns(ctx, { pipeline: "orders", limit: 1 });
 */
export async function readRuns(ctx: ProjectContext, query: RunsQuery = {}): Promise<RunReport[]> {
  const where = [
    query.runId ? `run_id = ${quoteLiteral(query.runId)}` : "true",
    query.pipeline ? `pipeline = ${quoteLiteral(query.pipeline)}` : "true",
  ].join(" AND ");
  const limit = Math.max(1, Math.floor(query.limit ?? 20));
  const rows = await readCatalog(ctx, (warehouse) =>
    warehouse.query(
      `SELECT report::VARCHAR AS report FROM sluice.runs WHERE ${where} ORDER BY started_at DESC, run_id DESC LIMIT ${limit}`,
    ),
  );
  return rows.map((r) => JSON.parse(String(r.report)) as RunReport);
}
