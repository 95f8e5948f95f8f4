import { listRuns } from "../catalog/runs.js";
import type { ProjectContext } from "../run/project-context.js";
import type { RunReport } from "../run/run-report.js";
import { readCatalog } from "./open-project.js";

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
 * The same catalog read as `sluice runs` and the dashboard.
 *
 * @example
 * const [last] = await readRuns(ctx, { pipeline: "orders", limit: 1 });
 */
export async function readRuns(ctx: ProjectContext, query: RunsQuery = {}): Promise<RunReport[]> {
  const reports = await readCatalog(ctx, (warehouse) => listRuns(warehouse, query));
  return reports as unknown as RunReport[];
}
