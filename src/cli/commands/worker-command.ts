import type { Command } from "commander";
import { parseDuration } from "../../durations.js";
import { SluiceError } from "../../errors.js";
import { type GlobalOptions, openProject } from "../command-context.js";
import { createOutput } from "../output.js";

interface WorkerCommandOptions {
  concurrency: string;
  exitWhenIdle?: string;
  lease?: string;
  discoverEvery?: string;
  group: string;
  pipeline?: string[];
  json: boolean;
}

/** `sluice worker [--concurrency N] [--exit-when-idle D] [--lease D] [--discover-every D] [--json]` */
export function registerWorkerCommand(program: Command): void {
  program
    .command("worker")
    .description("claims queued file work shared by all workers of a postgres:// warehouse (scale-out)")
    .option("--concurrency <n>", "units of work run at once by this process", "1")
    .option(
      "--exit-when-idle <duration>",
      "stop when nothing was claimed for this long and the queue is empty",
    )
    .option(
      "--lease <duration>",
      "a unit whose worker stops heartbeating this long goes to another (default 30s)",
    )
    .option("--discover-every <duration>", "how often the cluster lists the landing zone (default 10s)")
    .option("--group <n>", "at most this many small files (under 4 MB together) per unit of work", "10")
    .option("--pipeline <name...>", "claim only units of these pipelines (default: all)")
    .option("--json", "print one JSON line per finished run (NDJSON) instead of text", false)
    .action(async (opts: WorkerCommandOptions, cmd: Command) => {
      const output = createOutput(opts.json);
      const concurrency = Number(opts.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1) {
        throw new SluiceError("USAGE", `--concurrency ${opts.concurrency}: expected a whole number from 1`);
      }
      const group = Number(opts.group);
      if (!Number.isInteger(group) || group < 1) {
        throw new SluiceError("USAGE", `--group ${opts.group}: expected a whole number from 1`);
      }
      const ctx = await openProject(cmd.optsWithGlobals<GlobalOptions>(), output);
      const { runQueueWorker } = await import("../../scale/run-queue-worker.js");
      const controller = new AbortController();
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals) => {
        if (++signals > 1) {
          output.notice(
            `${signal} again: exiting now; claimed units return to the queue when their lease expires`,
          );
          process.exit(130);
        }
        output.notice(`${signal}: stopping after the units under way (send again to exit at once)`);
        controller.abort();
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      const summary = await runQueueWorker(ctx, {
        concurrency,
        grouping: { groupBytes: 4 << 20, groupFiles: group },
        signal: controller.signal,
        ...(opts.pipeline ? { pipelines: opts.pipeline } : {}),
        ...(opts.exitWhenIdle
          ? { exitWhenIdleMs: parseDuration(opts.exitWhenIdle, "--exit-when-idle") }
          : {}),
        ...(opts.lease ? { leaseSeconds: parseDuration(opts.lease, "--lease") / 1000 } : {}),
        ...(opts.discoverEvery
          ? { discoverEveryMs: parseDuration(opts.discoverEvery, "--discover-every") }
          : {}),
        onUnit: (unit, reports) => {
          for (const report of reports) {
            if (opts.json) process.stdout.write(`${JSON.stringify(report)}\n`);
            else
              output.line(
                `${unit.pipeline}: ${report.status}${report.run_id ? ` (run ${report.run_id})` : ""} — files ${unit.files.length}, loaded ${report.rows.loaded}${report.error ? `; error: ${report.error}` : ""}`,
              );
          }
        },
      });
      output.notice(
        `worker ${summary.workerId} stopped: ${summary.units} unit(s), ${summary.files} file(s)${summary.failedUnits ? `, ${summary.failedUnits} failed` : ""}`,
      );
      process.exitCode = summary.failedUnits > 0 ? 1 : 0;
    });
}
