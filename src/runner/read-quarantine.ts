import { listQuarantine, type QuarantineRecord } from "../catalog/quarantine.js";
import type { ProjectContext } from "../run/project-context.js";
import { readCatalog } from "./open-project.js";

export type { QuarantineRecord };

/**
 * Quarantined rows of a pipeline (optionally of one run), newest run first, then by file and line. The
 * same catalog read as `sluice quarantine` and the dashboard.
 *
 * @example
 * const rows = await readQuarantine(ctx, "orders", { run: runId });
 */
export async function readQuarantine(
  ctx: ProjectContext,
  pipeline: string,
  options: { readonly run?: string } = {},
): Promise<QuarantineRecord[]> {
  const records = await readCatalog(ctx, (warehouse) =>
    listQuarantine(warehouse, { pipeline, runId: options.run }),
  );
  return [...records];
}
