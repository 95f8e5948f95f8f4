import type { Command } from "commander";
import type { SchemaChange } from "../../plan/schema-plan.js";
import type { RunProgress } from "../../run/run-progress.js";
import type { RunReport } from "../../run/run-report.js";
import { createAlerter } from "../../runner/alerts.js";
import { runProject } from "../../runner/run-project.js";
import { cliName } from "../cli-name.js";
import { type GlobalOptions, openProject } from "../command-context.js";
import { createOutput } from "../output.js";
import { createProgress } from "../progress.js";

/** `sluice run [pipeline...] [--file F] [--force] [--json]` */
export function registerRunCommand(program: Command): void {
  program
    .command("run")
    .description("process pending landing files of all (or the named) pipelines")
    .argument("[pipelines...]", "pipelines to run (default: all)")
    .option("--file <path...>", "only these files (landing-relative or a local path)")
    .option("--force", "reload content already loaded, replacing its earlier rows", false)
    .option("--downstream", "also run every pipeline that depends on the named ones, in order", false)
    .option("--json", "print the run report as JSON", false)
    .action(
      async (
        pipelines: string[],
        opts: { file?: string[]; force: boolean; downstream: boolean; json: boolean },
        cmd: Command,
      ) => {
        const output = createOutput(opts.json);
        const ctx = await openProject(cmd.optsWithGlobals<GlobalOptions>(), output);
        const progress = createProgress(!opts.json);
        const alerter = createAlerter(ctx.project.config.alerts, { notice: output.notice });
        let reports: RunReport[];
        try {
          reports = await runProject(ctx, {
            pipelines,
            ...(opts.file ? { files: opts.file } : {}),
            force: opts.force,
            downstream: opts.downstream,
            // Tracking the engine's progress costs a little: only when it is shown.
            ...(progress.shown ? { onProgress: (p: RunProgress) => progress.update(p) } : {}),
            onReport: (report) => alerter.notify(report),
          });
        } finally {
          progress.stop();
          // Alerts never hold a run up: a bounded wait at exit, then whatever is pending is dropped.
          await alerter.flush(5000);
        }
        if (opts.json) output.document({ runs: reports });
        else printReports(output, reports);
        process.exitCode = reports.some((r) => r.status === "failed") ? 1 : 0;
      },
    );
}

function printReports(output: ReturnType<typeof createOutput>, reports: readonly RunReport[]): void {
  if (reports.length === 0) output.line("nothing to do: no pipeline matched");
  for (const r of reports) {
    if (r.status === "skipped") {
      output.line(`${r.pipeline}: ${r.error ?? r.note ?? "nothing new to load"}`);
      continue;
    }
    const { rows } = r;
    output.line(
      `${r.pipeline}: ${r.status} (run ${r.run_id}) — read ${rows.read}, loaded ${rows.loaded}, quarantined ${rows.quarantined}, malformed ${rows.malformed}, duplicates ${rows.duplicates}`,
    );
    for (const f of r.files) {
      const to = f.archived_to ? ` → ${f.archived_to}` : "";
      output.line(`  ${f.status.padEnd(17)} ${f.path}${to}`);
      if (f.error) output.line(`    error: ${f.error}`);
      for (const w of f.warnings) output.line(`    warning: ${w}`);
    }
    for (const c of r.schema_changes ?? []) output.line(`  schema: ${describeSchemaChange(c)}`);
    for (const c of r.checks) output.line(`  check ${c.name} [${c.severity}]: ${c.failed} failed`);
    for (const a of r.anomalies ?? []) output.line(`  anomaly: ${a}`);
    if (r.quarantine)
      output.line(`  quarantine: ${r.quarantine}/ (${cliName()} quarantine ${r.pipeline} --run ${r.run_id})`);
    // The run's own error, unless it is just its files' (a refused destination is the run's, not a file's).
    const fileErrors = r.files.flatMap((f) => (f.error ? [f.error] : []));
    if (r.error && r.error !== fileErrors.join("; ") && !fileErrors.includes(r.error))
      output.line(`  error: ${r.error}`);
    for (const w of r.warnings ?? []) output.line(`  warning: ${w}`);
  }
}

/** `column note added (VARCHAR)`, `column amount widened from INTEGER to BIGINT`. */
export function describeSchemaChange(c: SchemaChange): string {
  return c.change === "added"
    ? `column ${c.column} added (${c.to})`
    : `column ${c.column} ${c.change} from ${c.from} to ${c.to}`;
}
