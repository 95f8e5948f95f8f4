import type { Command } from "commander";
import { listRuns } from "../../catalog/runs.js";
import { streamLagOf, streamLagText } from "../../catalog/stream-lag.js";
import { SluiceError } from "../../errors.js";
import { type GlobalOptions, openProject, readCatalog } from "../command-context.js";
import { createOutput, table } from "../output.js";

/** `sluice runs [run_id] [--pipeline P] [--limit N] [--json]` */
export function registerRunsCommand(program: Command): void {
  program
    .command("runs")
    .description("run history, newest first; with a run id, that run's full report")
    .argument("[run_id]", "show one run in full")
    .option("--pipeline <name>", "only this pipeline")
    .option("--limit <n>", "how many runs", "20")
    .option("--json", "print JSON", false)
    .action(
      async (
        runId: string | undefined,
        opts: { pipeline?: string; limit: string; json: boolean },
        cmd: Command,
      ) => {
        const output = createOutput(opts.json);
        const limit = Number.parseInt(opts.limit, 10);
        if (!Number.isInteger(limit) || limit <= 0)
          throw new SluiceError("USAGE", `--limit ${opts.limit}: expected a positive number`);
        const ctx = await openProject(cmd.optsWithGlobals<GlobalOptions>(), output, "reads");
        const reports = await readCatalog(ctx, (warehouse) =>
          listRuns(warehouse, { runId, pipeline: opts.pipeline, limit }),
        );
        if (runId && reports.length === 0) throw new SluiceError("RUN_NOT_FOUND", `run ${runId}: not found`);
        // A pipeline since removed from sluice.yaml still shows its runs; a name known to neither is a typo.
        if (
          opts.pipeline &&
          reports.length === 0 &&
          !Object.hasOwn(ctx.project.config.pipelines, opts.pipeline)
        ) {
          throw new SluiceError(
            "PIPELINE_UNKNOWN",
            `unknown pipeline ${opts.pipeline}: not in sluice.yaml and no runs recorded`,
          );
        }
        if (opts.json) {
          output.document(runId ? reports[0] : { runs: reports });
          return;
        }
        if (runId) {
          printRun(output, reports[0]!);
          return;
        }
        if (reports.length === 0) {
          output.line("no runs yet");
          return;
        }
        const byWorkers = reports.some((r) => r.worker);
        // Stream batches carry the lag when they were pulled: a column once any listed run has one.
        const byStreams = reports.some((r) => streamLagOf(r));
        output.line(
          table(
            reports.map((r) => {
              const rowCounts = r.rows as Record<string, number>;
              return {
                run_id: r.run_id,
                pipeline: r.pipeline,
                status: r.status,
                started_at: r.started_at,
                files: (r.files as unknown[]).length,
                read: rowCounts.read,
                loaded: rowCounts.loaded,
                quarantined: rowCounts.quarantined,
                ...(byWorkers ? { worker: r.worker ?? "" } : {}),
                ...(byStreams ? { lag: lagCell(r) } : {}),
                error: r.error,
              };
            }),
          ),
        );
      },
    );
}

function lagCell(run: Record<string, unknown>): string {
  const lag = streamLagOf(run);
  return lag ? streamLagText(lag) : "";
}

function printRun(output: ReturnType<typeof createOutput>, r: Record<string, unknown>): void {
  const rows = r.rows as Record<string, number>;
  output.line(`run ${r.run_id} — pipeline ${r.pipeline} — ${r.status}`);
  output.line(
    `  started ${r.started_at}, finished ${r.finished_at}${r.worker ? ` by worker ${r.worker}` : ""}`,
  );
  output.line(
    `  rows: read ${rows.read}, loaded ${rows.loaded}, quarantined ${rows.quarantined}, malformed ${rows.malformed}, duplicates ${rows.duplicates}`,
  );
  const stream = r.stream as Record<string, unknown> | undefined;
  const lag = streamLagOf(r);
  if (stream && lag) {
    output.line(
      `  stream: ${stream.messages} message(s) ${stream.first_position}..${stream.last_position} from ${stream.source}; lag ${streamLagText(lag)}`,
    );
  }
  if (r.error) output.line(`  error: ${r.error}`);
  for (const w of (r.warnings as string[] | undefined) ?? []) output.line(`  warning: ${w}`);
  output.line("  files:");
  for (const f of r.files as Record<string, unknown>[]) {
    output.line(`    ${String(f.status).padEnd(17)} ${f.path}${f.archived_to ? ` → ${f.archived_to}` : ""}`);
    if (f.error) output.line(`      error: ${f.error}`);
    for (const w of (f.warnings as string[] | undefined) ?? []) output.line(`      warning: ${w}`);
  }
  const checks = r.checks as Record<string, unknown>[];
  if (checks.length > 0) {
    output.line("  checks:");
    for (const c of checks) output.line(`    ${c.name} [${c.severity}]: ${c.failed} failed`);
  }
  if (r.log) output.line(`  log: ${r.log}`);
  if (r.quarantine) output.line(`  quarantine: ${r.quarantine}/`);
}
