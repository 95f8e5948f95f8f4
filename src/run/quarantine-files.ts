import { join } from "node:path";
import type { Logger } from "pino";
import { quarantineFileOf, quarantineFolder } from "../plan/landing-paths.js";
import { quoteLiteral } from "../plan/sql-text.js";
import type { Storage } from "../storage/storage.js";
import type { Warehouse } from "../warehouse/warehouse.js";
import { storageWriteProblem } from "./storage-problem.js";

/** How many of a pipeline's latest runs with quarantined rows a run looks back over for missing files. */
const LOOK_BACK = 50;

/**
 * After a run's commit: writes the quarantine files earlier runs of the pipeline committed but could not
 * write (a full disk, a crash between the commit and the file), oldest first, then this run's own
 * (`writeOwn`, from the engine). Files are written in run order and the look-back stops at the newest
 * run whose file exists, so a missing file is always newer than every existing one and the next run
 * finds it. Never throws: what could not be written is returned as warnings (one line each).
 *
 * @example
 * const warnings = await writeQuarantineFiles(landing, warehouse, "orders", runId, () => writeOwn(), logger);
 */
export async function writeQuarantineFiles(
  landing: Storage,
  warehouse: Warehouse,
  pipeline: string,
  runId: string,
  writeOwn: (() => Promise<void>) | undefined,
  logger: Logger,
): Promise<string[]> {
  let missing: string[];
  try {
    missing = await missingQuarantineFiles(landing, warehouse, pipeline, runId);
  } catch (error) {
    logger.warn({ err: String(error) }, "could not look for missing quarantine files");
    missing = [];
  }
  const todo = [
    ...missing.map((id) => ({
      runId: id,
      write: () => rewriteFromCatalog(landing, warehouse, pipeline, id),
    })),
    ...(writeOwn ? [{ runId, write: writeOwn }] : []),
  ];
  for (const [i, item] of todo.entries()) {
    const path = quarantineFileOf(quarantineFolder(pipeline, item.runId));
    try {
      await item.write();
      if (item.runId !== runId)
        logger.info({ file: path, of_run: item.runId }, "quarantine file written (repair)");
    } catch (error) {
      const left = todo.slice(i).map((t) => quarantineFileOf(quarantineFolder(pipeline, t.runId)));
      const problem = storageWriteProblem(error, path);
      logger.warn({ files: left }, problem);
      return [
        `${problem}; ${left.length === 1 ? "it is" : `${left.length} quarantine files are`} written by a later run`,
      ];
    }
  }
  return [];
}

/** Runs (oldest first) whose quarantine rows are in the catalog but whose quarantine file is missing. */
async function missingQuarantineFiles(
  landing: Storage,
  warehouse: Warehouse,
  pipeline: string,
  runId: string,
): Promise<string[]> {
  const rows = await warehouse.query(
    `SELECT run_id FROM sluice.runs WHERE pipeline = ${quoteLiteral(pipeline)} AND run_id <> ${quoteLiteral(runId)}
       AND rows_quarantined > 0
       AND EXISTS (SELECT 1 FROM sluice.quarantine q WHERE q.pipeline = ${quoteLiteral(pipeline)} AND q.run_id = sluice.runs.run_id)
     ORDER BY started_at DESC, run_id DESC LIMIT ${LOOK_BACK}`,
  );
  const missing: string[] = [];
  for (const row of rows) {
    const id = String(row.run_id);
    if (await landing.stat(quarantineFileOf(quarantineFolder(pipeline, id)))) break;
    missing.push(id);
  }
  return missing.reverse();
}

/** Writes a run's quarantine file from its rows in the catalog (the same columns the run writes). */
async function rewriteFromCatalog(
  landing: Storage,
  warehouse: Warehouse,
  pipeline: string,
  runId: string,
): Promise<void> {
  const rows = await warehouse.query(
    `SELECT run_id, pipeline, file, line, rules, reasons, "values"::VARCHAR AS "values", raw FROM sluice.quarantine
      WHERE run_id = ${quoteLiteral(runId)} ORDER BY file, line`,
  );
  const lines = rows.map((r) =>
    JSON.stringify({
      run_id: r.run_id,
      pipeline: r.pipeline,
      file: r.file,
      line: r.line === null ? null : Number(r.line),
      rules: r.rules,
      reasons: r.reasons,
      values: r.values === null ? null : JSON.parse(String(r.values)),
      raw: r.raw,
    }),
  );
  await landing.writeFile(quarantineFileOf(quarantineFolder(pipeline, runId)), `${lines.join("\n")}\n`);
}

/**
 * Writes a run's quarantine rows (SQL over the engine) as JSON lines into its quarantine folder.
 *
 * @example
 * await writeQuarantineFile(landing, con, workDir, quarantineSql, "quarantine/orders/<run>");
 */
export async function writeQuarantineFile(
  landing: Storage,
  con: Warehouse["engine"],
  workDir: string,
  quarantineSql: string,
  folder: string,
): Promise<void> {
  const local = join(workDir, "rows.jsonl");
  await con.run(`COPY (${quarantineSql} ORDER BY file, line) TO ${quoteLiteral(local)} (FORMAT json)`);
  await landing.putLocalFile(local, quarantineFileOf(folder));
}
