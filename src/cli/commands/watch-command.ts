import type { Command } from "commander";
import { streamLagOf, streamLagText } from "../../catalog/stream-lag.js";
import { parseDuration } from "../../durations.js";
import type { RunProgress } from "../../run/run-pipeline.js";
import type { RunReport } from "../../run/run-report.js";
import { createAlerter } from "../../runner/alerts.js";
import { startWatchDaemon } from "../../runner/watch-daemon.js";
import { type GlobalOptions, openProject } from "../command-context.js";
import { createOutput } from "../output.js";
import { listenOptions } from "./serve-command.js";

interface WatchCommandOptions {
  poll?: string;
  json: boolean;
  serve: boolean;
  port: string;
  host: string;
}

/** `sluice watch [pipeline...] [--poll <duration>] [--json] [--serve [--port N] [--host H]]` */
export function registerWatchCommand(program: Command): void {
  program
    .command("watch")
    .description(
      "long-running: load files as they arrive, run pipelines on their schedules, consume stream pipelines",
    )
    .argument("[pipelines...]", "pipelines to serve (default: all)")
    .option(
      "--poll <duration>",
      "rescan interval (local: safety net under file events, default 10s; S3: default 2s)",
    )
    .option("--json", "print one JSON line per finished run (NDJSON) instead of text", false)
    .option("--serve", "also serve the dashboard, live while files load (see `sluice serve`)", false)
    .option("--port <port>", "dashboard port with --serve", "8321")
    .option("--host <host>", "dashboard interface with --serve", "127.0.0.1")
    .action(async (pipelines: string[], opts: WatchCommandOptions, cmd: Command) => {
      const output = createOutput(opts.json);
      const listen = opts.serve ? listenOptions(opts) : undefined;
      const project = await openProject(cmd.optsWithGlobals<GlobalOptions>(), output);
      // With --serve, runs open the warehouse through the dashboard's gate: its reads never overlap them.
      const dashboard = listen
        ? await (await import("../../server/start-dashboard.js")).startDashboard(project, {
            ...listen,
            token: process.env.SLUICE_TOKEN,
          })
        : undefined;
      if (dashboard) output.notice(`dashboard at ${dashboard.url}/`);
      const ctx = dashboard?.gate.ctx ?? project;
      const alerter = createAlerter(ctx.project.config.alerts, { notice: output.notice });
      const stamp = () => new Date().toISOString();
      const daemon = await startWatchDaemon(ctx, {
        pipelines,
        ...(opts.poll ? { pollMs: parseDuration(opts.poll, "--poll") } : {}),
        alerter,
        onEvent: (message) => output.notice(`${stamp()} ${message}`),
        ...(dashboard ? { onProgress: (p: RunProgress) => dashboard.live.progress(p) } : {}),
        onReport: (report) => {
          dashboard?.live.finished(report.pipeline);
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
        output.notice(
          `${stamp()} ${signal}: stopping after the current run and stream batches (send again to exit at once)`,
        );
        void daemon.stop();
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      try {
        // Rejects when a stream pipeline could not be consumed: the command fails with its error.
        await daemon.done;
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        await dashboard?.close();
        await alerter.flush(5000);
      }
      output.notice(`${stamp()} stopped`);
      process.exitCode = 0;
    });
}

function describe(report: RunReport): string {
  const { rows } = report;
  const head = `${report.pipeline}: ${report.status}${report.run_id ? ` (run ${report.run_id})` : ""}`;
  if (report.status === "skipped" && !report.error) return `${head}: nothing new`;
  const stream = (report as { stream?: { messages: number } }).stream;
  const lag = streamLagOf(report as unknown as Record<string, unknown>);
  const what =
    stream && lag ? `messages ${stream.messages}; lag ${streamLagText(lag)}` : `files ${report.files.length}`;
  const counts = `read ${rows.read}, loaded ${rows.loaded}, quarantined ${rows.quarantined}, ${what}`;
  return `${head} — ${counts}${report.error ? `; error: ${report.error}` : ""}`;
}
