import type { Command } from "commander";
import { SluiceError } from "../../errors.js";
import { createAlerter } from "../../runner/alerts.js";
import { backfill } from "../../runner/backfill.js";
import { type GlobalOptions, openProject } from "../command-context.js";
import { createOutput } from "../output.js";

/** `sluice backfill <pipeline> --from D --to D [--parallel N] [--json]` */
export function registerBackfillCommand(program: Command): void {
  program
    .command("backfill")
    .description("re-process the archived files a pipeline received in a date range, idempotently")
    .argument("<pipeline>", "the pipeline")
    .requiredOption("--from <day>", "first day of receipt, YYYY-MM-DD (UTC)")
    .requiredOption("--to <day>", "last day of receipt, inclusive")
    .option("--parallel <n>", "months at once where the warehouse allows concurrent writers", "1")
    .option("--json", "print the run reports as JSON", false)
    .action(
      async (
        name: string,
        opts: { from: string; to: string; parallel: string; json: boolean },
        cmd: Command,
      ) => {
        const output = createOutput(opts.json);
        const parallel = Number.parseInt(opts.parallel, 10);
        if (!Number.isInteger(parallel) || parallel < 1) {
          throw new SluiceError("USAGE", `--parallel ${opts.parallel}: expected a positive number`);
        }
        const ctx = await openProject(cmd.optsWithGlobals<GlobalOptions>(), output);
        const alerter = createAlerter(ctx.project.config.alerts, { notice: output.notice });
        try {
          const reports = await backfill(ctx, name, {
            from: opts.from,
            to: opts.to,
            parallel,
            onReport: (r) => alerter.notify(r),
          });
          if (opts.json) output.document({ runs: reports });
          else if (reports.length === 0)
            output.line(`${name}: no archived files received from ${opts.from} to ${opts.to}`);
          for (const r of opts.json ? [] : reports) {
            output.line(
              `${r.pipeline}: ${r.status} (run ${r.run_id}) — files ${r.files.length}, read ${r.rows.read}, loaded ${r.rows.loaded}, quarantined ${r.rows.quarantined}${r.error ? `; error: ${r.error}` : ""}`,
            );
          }
          process.exitCode = reports.some((r) => r.status === "failed") ? 1 : 0;
        } finally {
          await alerter.flush(5000);
        }
      },
    );
}
