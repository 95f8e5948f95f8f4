import type { Command } from "commander";
import { listQuarantine } from "../../catalog/quarantine.js";
import { assertKnownPipelines } from "../../runner/known-pipelines.js";
import { type GlobalOptions, openProject, readCatalog } from "../command-context.js";
import { createOutput, table } from "../output.js";

/** `sluice quarantine <pipeline> [--run ID] [--json]` */
export function registerQuarantineCommand(program: Command): void {
  program
    .command("quarantine")
    .description("quarantined rows of a pipeline with file, line, rules and reasons")
    .argument("<pipeline>", "pipeline name")
    .option("--run <run_id>", "only this run")
    .option("--limit <n>", "at most this many rows (text output)", "100")
    .option("--json", "print JSON", false)
    .action(async (pipeline: string, opts: { run?: string; limit: string; json: boolean }, cmd: Command) => {
      const output = createOutput(opts.json);
      const ctx = await openProject(cmd.optsWithGlobals<GlobalOptions>(), output, "reads");
      assertKnownPipelines(ctx.project.config.pipelines, [pipeline]);
      const records = await readCatalog(ctx, (warehouse) =>
        listQuarantine(warehouse, { pipeline, runId: opts.run }),
      );
      if (opts.json) {
        output.document(records);
        return;
      }
      if (records.length === 0) {
        output.line(`no quarantined rows for ${pipeline}${opts.run ? ` in run ${opts.run}` : ""}`);
        return;
      }
      const limit = Number.parseInt(opts.limit, 10) || 100;
      output.line(
        table(
          records.slice(0, limit).map((r) => ({
            run_id: r.run_id,
            file: r.file,
            line: r.line,
            rules: (r.rules as string[]).join(","),
            reasons: (r.reasons as string[]).join("; "),
            values: r.values ?? r.raw,
          })),
        ),
      );
      if (records.length > limit) output.line(`… ${records.length - limit} more (use --json for all)`);
    });
}
