import type { Logger } from "pino";
import type { Warehouse } from "../warehouse/warehouse.js";
import type { RunReport } from "./run-report.js";

/**
 * Adds problems met after a run's commit (a quarantine file or the log not written, a file not moved) to
 * its report as warnings, and stores the report again so `sluice runs` says what the run printed. The
 * run stays succeeded; a store that fails too (the same full disk) is logged, never thrown.
 *
 * @example
 * await recordAfterCommitWarnings(warehouse, report, ["quarantine/...: could not be written: ..."], true, logger);
 */
export async function recordAfterCommitWarnings(
  warehouse: Warehouse,
  report: RunReport,
  warnings: readonly string[],
  filesChanged: boolean,
  logger: Logger,
): Promise<void> {
  if (warnings.length === 0 && !filesChanged) return;
  if (warnings.length > 0) report.warnings = [...(report.warnings ?? []), ...warnings];
  for (const warning of warnings) logger.warn(warning);
  try {
    await warehouse.updateRunReport(report.run_id, { ...report });
  } catch (error) {
    logger.warn({ err: String(error) }, "the run's warnings could not be stored with it");
  }
}
