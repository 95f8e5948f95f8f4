import { quoteLiteral } from "../plan/sql-text.js";
import { readCatalog } from "./open-project.js";
import type { ProjectContext } from "./project-context.js";

/** One quarantined row, as `sluice quarantine --json` prints it. */
export interface QuarantineRecord {
  readonly run_id: string;
  readonly file: string;
  /** 1-based line in the source, or null. */
  readonly line: number | null;
  /** Names of the failed rules (`malformed` for parse errors). */
  readonly rules: readonly string[];
  /** One sentence per rule. */
  readonly reasons: readonly string[];
  /** The row's original values, masked where the column is masked (null for a malformed line). */
  readonly values: Record<string, unknown> | null;
  /** The raw text of a malformed line. */
  readonly raw: string | null;
}

/**
 * Quarantined rows of a pipeline (optionally of one run), newest run first, then by file and line.
 *
 * @example
 * const rows = await readQuarantine(ctx, "orders", { run: runId });
 */
export async function readQuarantine(
  ctx: ProjectContext,
  pipeline: string,
  options: { readonly run?: string } = {},
): Promise<QuarantineRecord[]> {
  const where = `pipeline = ${quoteLiteral(pipeline)}${options.run ? ` AND run_id = ${quoteLiteral(options.run)}` : ""}`;
  const rows = await readCatalog(ctx, (warehouse) =>
    warehouse.query(
      `SELECT run_id, file, line, rules, reasons, "values"::VARCHAR AS "values", raw FROM sluice.quarantine WHERE ${where} ORDER BY quarantined_at DESC, run_id DESC, file, line`,
    ),
  );
  return rows.map((r) => ({
    run_id: String(r.run_id),
    file: String(r.file),
    line: r.line === null ? null : Number(r.line),
    rules: r.rules as string[],
    reasons: r.reasons as string[],
    values: r.values === null ? null : (JSON.parse(String(r.values)) as Record<string, unknown>),
    raw: (r.raw as string | null) ?? null,
  }));
}
