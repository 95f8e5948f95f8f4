import type { Command } from "commander";
import { replayRun } from "../../runner/replay-run.js";
import { type GlobalOptions, openProject } from "../command-context.js";
import { createOutput } from "../output.js";

/** `sluice replay <run_id> [--json]` */
export function registerReplayCommand(program: Command): void {
  program
    .command("replay")
    .description("re-process a run's failed files and re-check its quarantined rows under the current config")
    .argument("<run_id>", "the run to replay")
    .option("--json", "print the replay run as JSON", false)
    .action(async (runId: string, opts: { json: boolean }, cmd: Command) => {
      const output = createOutput(opts.json);
      const ctx = await openProject(cmd.optsWithGlobals<GlobalOptions>(), output);
      const report = await replayRun(ctx, runId);
      if (opts.json) output.document({ runs: [report] });
      else {
        output.line(
          `replay of ${report.replay_of}: ${report.status} (run ${report.run_id}) — read ${report.rows.read}, loaded ${report.rows.loaded}, still quarantined ${report.rows.quarantined}`,
        );
        for (const f of report.files) {
          output.line(`  ${f.status.padEnd(17)} ${f.path}${f.error ? ` — ${f.error}` : ""}`);
          for (const w of f.warnings) output.line(`    warning: ${w}`);
        }
      }
      process.exitCode = report.status === "failed" ? 1 : 0;
    });
}
