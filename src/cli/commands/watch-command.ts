import type { Command } from "commander";
import { parseDuration } from "../../durations.js";
import { createAlerter } from "../../runner/alerts.js";
import type { RunReport } from "../../runner/run-report.js";
import { startWatchDaemon } from "../../runner/watch-daemon.js";
import { type GlobalOptions, openProject } from "../command-context.js";
import { createOutput } from "../output.js";

/** `sluice watch [pipeline...] [--poll <duration>] [--json]` */
export function registerWatchCommand(program: Command): void {
  program
    .command("watch")
    .description("long-running: load files as they arrive and run pipelines on their schedules")
    .argument("[pipelines...]", "pipelines to serve (default: all)")
    .option(
      "--poll <duration>",
      "rescan interval (local: safety net under file events, default 10s; S3: default 2s)",
    )
    .option("--json", "print one JSON line per finished run (NDJSON) instead of text", false)
    .action(async (pipelines: string[], opts: { poll?: string; json: boolean }, cmd: Command) => {
      const output = createOutput(opts.json);
      const ctx = await openProject(cmd.optsWithGlobals<GlobalOptions>(), output);
      const alerter = createAlerter(ctx.project.config.alerts, { notice: output.notice });
      const stamp = () => new Date().toISOString();
      const daemon = await startWatchDaemon(ctx, {
        pipelines,
        ...(opts.poll ? { pollMs: parseDuration(opts.poll, "--poll") } : {}),
        alerter,
        onEvent: (message) => output.notice(`${stamp()} ${message}`),
        onReport: (report) => {
          if (opts.json) process.stdout.write(`${JSON.stringify(report)}\n`);
          else output.line(`${stamp()} ${describe(report)}`);
        },
      });
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals) => {
        signals++;
        if (signals > 1) {
          // Runs are atomic: whatever was in flight is rolled back and re-run by the next start.
          output.notice(`${signal} again: exiting now; an interrupted run will be redone next time`);
          process.exit(130);
        }
        output.notice(`${stamp()} ${signal}: stopping after the current run (send again to exit at once)`);
        void daemon.stop();
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      await daemon.done;
      await alerter.flush(5000);
      output.notice(`${stamp()} stopped`);
      process.exitCode = 0;
    });
}

function describe(report: RunReport): string {
  const { rows } = report;
  const head = `${report.pipeline}: ${report.status}${report.run_id ? ` (run ${report.run_id})` : ""}`;
  if (report.status === "skipped" && !report.error) return `${head}: nothing new`;
  const counts = `read ${rows.read}, loaded ${rows.loaded}, quarantined ${rows.quarantined}, files ${report.files.length}`;
  return `${head} — ${counts}${report.error ? `; error: ${report.error}` : ""}`;
}
