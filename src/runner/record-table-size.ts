import { measureTableSize } from "../catalog/table-sizes.js";
import { asSluiceError } from "../errors.js";
import type { ProjectContext } from "../run/project-context.js";
import type { RunReport } from "../run/run-report.js";
import type { Warehouse } from "../warehouse/warehouse.js";

/**
 * After a run that loaded a warehouse table: measures the table (rows, bytes) into the report's
 * `table_size` and stores the report again, so the dashboard can draw table sizes over time. The rows
 * are committed: a size that cannot be taken is a notice, never a failure.
 *
 * @example
 * await recordTableSize(ctx, warehouse, report);
 */
export async function recordTableSize(
  ctx: ProjectContext,
  warehouse: Warehouse,
  report: RunReport,
): Promise<void> {
  if (report.status !== "succeeded" || !report.load || !report.run_id) return;
  try {
    // DuckDB writes the rows into its file at a checkpoint (due at close anyway); before it they are only
    // in the write-ahead log and have no blocks to count. Another open transaction defers it: bytes null.
    if (warehouse.dialect.sizeAfterCheckpoint)
      await warehouse.engine.run("CHECKPOINT").catch(() => undefined);
    const size = await measureTableSize(warehouse, report.load.table);
    report.table_size = { table: report.load.table, ...size };
    await warehouse.updateRunReport(report.run_id, { ...report });
  } catch (error) {
    ctx.notice(
      `${report.pipeline}: the size of ${report.load.table} was not recorded: ${asSluiceError(error).message}`,
    );
  }
}
