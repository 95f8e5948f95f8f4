import type { Command } from "commander";
import { parseDuration } from "../../durations.js";
import { SluiceError } from "../../errors.js";
import type { RunReport } from "../../run/run-report.js";
import { runStreamWorkers, streamPipelines } from "../../runner/stream-worker.js";
import { type GlobalOptions, openProject } from "../command-context.js";
import { createOutput } from "../output.js";

interface WorkerCommandOptions {
  pipeline: string[];
  exitWhenIdle?: string;
  json: boolean;
}

/** `sluice worker [--pipeline P...] [--exit-when-idle <duration>] [--json]` */
export function registerWorkerCommand(program: Command): void {
  program
    .command("worker")
    .description("long-running: consume the stream pipelines in micro-batches, exactly once")
    .option(
      "--pipeline <name>",
      "a stream pipeline to consume (repeatable; default: all)",
      (value: string, all: string[]) => [...all, value],
      [],
    )
    .option("--exit-when-idle <duration>", "stop once no message has come for this long (scripts, tests)")
    .option("--json", "print one JSON line per batch run (NDJSON) instead of text", false)
    .action(async (opts: WorkerCommandOptions, cmd: Command) => {
      const output = createOutput(opts.json);
      const exitWhenIdleMs =
        opts.exitWhenIdle === undefined ? undefined : parseDuration(opts.exitWhenIdle, "--exit-when-idle");
      // Handlers first: a stop during start-up (connecting, opening the warehouse) is a clean one too.
      const stop = new AbortController();
      const stamp = () => new Date().toISOString();
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals) => {
        if (++signals > 1) {
          // Nothing is acknowledged before it is published: what was in flight comes again.
          output.notice(`${signal} again: exiting now; unacknowledged messages will be delivered again`);
          process.exit(130);
        }
        output.notice(`${stamp()} ${signal}: stopping after the batch being published`);
        stop.abort(new SluiceError("USAGE", `stopped by ${signal}`));
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      const ctx = await openProject(cmd.optsWithGlobals<GlobalOptions>(), output);
      const streams = streamPipelines(ctx);
      for (const name of opts.pipeline) {
        if (ctx.project.config.pipelines[name] && !streams.includes(name)) {
          throw new SluiceError(
            "USAGE",
            `--pipeline ${name}: not a stream pipeline (run it with sluice run)`,
          );
        }
      }
      if (streams.length === 0) {
        output.notice("no stream pipeline in this project: nothing to consume");
        return;
      }
      const summary = await runStreamWorkers(ctx, {
        pipelines: opts.pipeline,
        exitWhenIdleMs,
        signal: stop.signal,
        onEvent: (message) => output.notice(`${stamp()} ${message}`),
        onReport: (report) => {
          if (opts.json) process.stdout.write(`${JSON.stringify(report)}\n`);
          else output.line(`${stamp()} ${describe(report)}`);
        },
      });
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      for (const p of summary.pipelines) {
        output.notice(
          `${p.pipeline}: ${p.batches} batch(es), ${p.messages} message(s) acknowledged, ${p.poison} poison, ${p.redelivered} redelivery(ies) recognised`,
        );
      }
      // Stopped by a signal or idle: a clean exit (failed batches were retried; none was acknowledged).
      process.exitCode = 0;
    });
}

function describe(report: RunReport): string {
  const r = report.rows;
  const stream = (report as { stream?: { messages: number; first_position: string; last_position: string } })
    .stream;
  const where = stream
    ? ` ${stream.messages} message(s) ${stream.first_position}..${stream.last_position}`
    : "";
  if (report.status === "failed") return `${report.pipeline}: batch failed${where}: ${report.error ?? ""}`;
  return `${report.pipeline}: run ${report.run_id}${where}: ${r.loaded} loaded, ${r.quarantined} quarantined, ${r.duplicates} duplicate(s)`;
}
