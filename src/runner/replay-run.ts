import type { PipelineConfig } from "../config/schema.js";
import { SluiceError } from "../errors.js";
import { quoteLiteral } from "../plan/sql-text.js";
import type { ProjectContext } from "../run/project-context.js";
import { type ReplaySpec, runFilePipeline } from "../run/run-pipeline.js";
import type { RunReport } from "../run/run-report.js";
import type { Warehouse } from "../warehouse/warehouse.js";

/** Landing folder of the row files a replay writes: `replay/<pipeline>/<run_id>/<original path>.jsonl`. */
export function replayFilePath(pipeline: string, runId: string, originalFile: string): string {
  return `replay/${pipeline}/${runId}/${originalFile}.jsonl`;
}

/** The source file a (possibly replayed) quarantine file stands for. */
export function originalFileOf(file: string): string {
  const match = /^replay\/[^/]+\/[^/]+\/(.+)\.jsonl$/.exec(file);
  return match ? originalFileOf(match[1]!) : file;
}

/**
 * `sluice replay <run_id>`: re-processes a run's failed files (from `unprocessed/`) and re-checks its
 * quarantined rows under the current config, publishing what now passes. Replays form a chain: replaying
 * a run again replays what its latest replay left in quarantine, so every row is published at most once
 * however often a run is replayed.
 *
 * @example
 * const report = await replayRun(ctx, "20261121T223344Z-9f2c1a");
 */
export async function replayRun(ctx: ProjectContext, runId: string): Promise<RunReport> {
  const warehouse = await ctx.openWarehouse();
  try {
    const original = await loadReport(warehouse, runId);
    if (!original) throw new SluiceError("RUN_NOT_FOUND", `run ${runId}: not found`);
    const pipelineName = original.pipeline;
    const config = ctx.project.config.pipelines[pipelineName];
    if (!config)
      throw new SluiceError(
        "PIPELINE_UNKNOWN",
        `run ${runId}: pipeline ${pipelineName} is no longer defined`,
      );
    // Follow the chain to the newest successful replay: its quarantine is what is still waiting.
    let latest = original;
    for (;;) {
      const next = await warehouse.query(
        `SELECT run_id FROM sluice.runs WHERE status = 'succeeded' AND run_id <> ${quoteLiteral(latest.run_id)}
           AND report::VARCHAR LIKE ${quoteLiteral(`%"replay_of":"${latest.run_id}"%`)} ORDER BY started_at DESC LIMIT 1`,
      );
      const nextId = next[0]?.run_id;
      if (nextId === undefined) break;
      latest = (await loadReport(warehouse, String(nextId)))!;
    }
    const files: ReplaySpec["files"][number][] = [];
    // Failed files of the run, still waiting in unprocessed/.
    for (const file of original.files) {
      if (
        file.status === "failed" &&
        file.archived_to?.startsWith("unprocessed/") &&
        (await ctx.landing.stat(file.archived_to))
      ) {
        files.push({ path: file.archived_to, sourceFile: file.path });
      }
    }
    // Quarantined rows with their values (check failures), one JSON-lines file per source file. Rows of
    // a failed file replayed whole are in that file: replaying them too would process them twice.
    const wholeFiles = new Set(files.map((f) => f.sourceFile));
    const rows = await warehouse.query(
      `SELECT file, "values"::VARCHAR AS v FROM sluice.quarantine WHERE run_id = ${quoteLiteral(latest.run_id)} AND "values" IS NOT NULL ORDER BY file, line`,
    );
    const byFile = new Map<string, string[]>();
    for (const row of rows) {
      const original = originalFileOf(String(row.file));
      if (wholeFiles.has(original)) continue;
      const value = typeof row.v === "string" ? row.v : JSON.stringify(row.v);
      byFile.set(original, [...(byFile.get(original) ?? []), value]);
    }
    for (const [sourceFile, lines] of byFile) {
      const path = replayFilePath(pipelineName, latest.run_id, sourceFile);
      if (!(await ctx.landing.stat(path))) await ctx.landing.writeFile(path, `${lines.join("\n")}\n`);
      files.push({ path, sourceFile, format: "jsonl", values: true });
    }
    if (files.length === 0) {
      throw new SluiceError(
        "USAGE",
        `run ${runId}: nothing to replay (no failed files in unprocessed/, no quarantined rows with values)`,
      );
    }
    const report = await runFilePipeline(ctx, warehouse, pipelineName, replayConfig(config), {
      replay: { ofRun: latest.run_id, files },
    });
    if (warnUnloaded(report, files)) {
      await warehouse.updateRunReport(report.run_id, { ...report });
    }
    return report;
  } finally {
    await warehouse.close();
  }
}

/**
 * Replays re-check rows already known to have failed, so the failure-rate threshold does not apply
 * (rows that still fail simply stay quarantined). How quarantined values are read (no `format:`, no
 * second `hash`) is per file: see quarantinedValuesConfig.
 */
function replayConfig(pipeline: PipelineConfig): PipelineConfig {
  // A stream batch's quarantined rows are replayed as a JSON-lines file's (its failed files are none: a
  // batch that fails is not acknowledged, the broker delivers it again).
  if ("stream" in pipeline.source) {
    return {
      ...pipeline,
      source: { path: "replay/**", format: "jsonl", on_malformed: "quarantine" },
      max_failure_rate: 1,
    };
  }
  return { ...pipeline, max_failure_rate: 1 };
}

/**
 * A replay that loads none of the quarantined rows it re-read, or finds some that no longer parse, says so
 * on the file (the rows stay quarantined with their values, replayable again). True when it warned.
 */
function warnUnloaded(report: RunReport, files: ReplaySpec["files"]): boolean {
  let warned = false;
  for (const file of report.files) {
    if (!files.some((f) => f.values && f.path === file.path) || file.status !== "loaded") continue;
    const { read, loaded, malformed } = file.rows;
    if (malformed > 0) {
      file.warnings.push(
        `${malformed} of ${read} replayed rows do not parse under the current config (see sluice quarantine ${report.pipeline} --run ${report.run_id}); they stay quarantined with their values`,
      );
      warned = true;
    } else if (read > 0 && loaded === 0) {
      file.warnings.push(`none of the ${read} replayed rows passed: they stay quarantined`);
      warned = true;
    }
  }
  return warned;
}

async function loadReport(warehouse: Warehouse, runId: string): Promise<RunReport | undefined> {
  const rows = await warehouse.query(`SELECT report FROM sluice.runs WHERE run_id = ${quoteLiteral(runId)}`);
  const report = rows[0]?.report;
  if (report === undefined) return undefined;
  return (typeof report === "string" ? JSON.parse(report) : report) as RunReport;
}
