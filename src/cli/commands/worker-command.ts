import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Command } from "commander";
import { parseDuration } from "../../durations.js";
import { SluiceError } from "../../errors.js";
import type { ProjectContext } from "../../run/project-context.js";
import type { RunReport } from "../../run/run-report.js";
import { runStreamWorkers, streamPipelines } from "../../runner/stream-worker.js";
import { type GlobalOptions, openProject } from "../command-context.js";
import { createOutput, type Output } from "../output.js";

interface WorkerCommandOptions {
  pipeline: string[];
  concurrency: string;
  exitWhenIdle?: string;
  lease?: string;
  discoverEvery?: string;
  group: string;
  json: boolean;
}

/**
 * `sluice worker`: consumes the stream pipelines, and on a postgres:// warehouse also claims queued file
 * work shared by every worker. Both run side by side until a signal (or both are idle).
 */
export function registerWorkerCommand(program: Command): void {
  program
    .command("worker")
    .description(
      "long-running: consume the stream pipelines in micro-batches, exactly once; on a postgres:// warehouse also claim queued file work shared by all workers (scale-out)",
    )
    .option(
      "--pipeline <name>",
      "only this pipeline's stream or queued file work (repeatable; default: all)",
      (value: string, all: string[]) => [...all, value],
      [],
    )
    .option("--concurrency <n>", "units of queued file work run at once by this process", "1")
    .option(
      "--exit-when-idle <duration>",
      "stop once nothing came for this long (no message, nothing claimed and the queue empty)",
    )
    .option(
      "--lease <duration>",
      "a unit whose worker stops heartbeating this long goes to another (default 30s)",
    )
    .option("--discover-every <duration>", "how often the cluster lists the landing zone (default 10s)")
    .option("--group <n>", "at most this many small files (under 4 MB together) per unit of work", "10")
    .option("--json", "print one JSON line per finished run (NDJSON) instead of text", false)
    .action(async (opts: WorkerCommandOptions, cmd: Command) => {
      const output = createOutput(opts.json);
      const concurrency = wholeNumber(opts.concurrency, "--concurrency");
      const group = wholeNumber(opts.group, "--group");
      const exitWhenIdleMs =
        opts.exitWhenIdle === undefined ? undefined : parseDuration(opts.exitWhenIdle, "--exit-when-idle");
      // Handlers first: a stop during start-up (connecting, opening the warehouse) is a clean one too.
      const stop = new AbortController();
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals) => {
        if (++signals > 1) {
          // Nothing is acknowledged or completed before it is published: what was in flight comes again.
          output.notice(`${signal} again: exiting now; unacknowledged messages and claimed units come again`);
          process.exit(130);
        }
        output.notice(`${stamp()} ${signal}: stopping after the batches and units under way`);
        stop.abort(new SluiceError("USAGE", `stopped by ${signal}`));
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      const ctx = await openProject(cmd.optsWithGlobals<GlobalOptions>(), output);
      const streams = streamPipelines(ctx);
      const queued =
        ctx.warehouseFile === undefined && /^postgres(ql)?:\/\//i.test(ctx.project.config.warehouse);
      for (const name of opts.pipeline) {
        if (!queued && ctx.project.config.pipelines[name] && !streams.includes(name)) {
          throw new SluiceError(
            "USAGE",
            `--pipeline ${name}: not a stream pipeline (run it with sluice run)`,
          );
        }
      }
      const print = (report: RunReport) => {
        if (opts.json) process.stdout.write(`${JSON.stringify(report)}\n`);
        else output.line(`${stamp()} ${describe(report)}`);
      };
      // One name for the process: its stream batches' runs and its queued units' runs say which worker ran them.
      const workerId = `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
      const work: Promise<number>[] = [];
      if (streams.length > 0)
        work.push(consumeStreams(ctx, output, { ...opts, workerId }, exitWhenIdleMs, stop.signal, print));
      // File work is queued only on PostgreSQL; without stream pipelines, the queue worker explains why
      // the embedded warehouse cannot scale out (a configuration error).
      if (queued || streams.length === 0) {
        work.push(
          claimFileWork(
            ctx,
            output,
            { ...opts, concurrency, group, exitWhenIdleMs, workerId },
            stop.signal,
            print,
          ),
        );
      }
      const failed = await Promise.all(work);
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      process.exitCode = failed.some((n) => n > 0) ? 1 : 0;
    });
}

async function consumeStreams(
  ctx: ProjectContext,
  output: Output,
  opts: WorkerCommandOptions & { workerId: string },
  exitWhenIdleMs: number | undefined,
  signal: AbortSignal,
  print: (report: RunReport) => void,
): Promise<number> {
  const summary = await runStreamWorkers(ctx, {
    pipelines: opts.pipeline,
    exitWhenIdleMs,
    signal,
    onEvent: (message) => output.notice(`${stamp()} ${message}`),
    onReport: print,
    worker: opts.workerId,
  });
  for (const p of summary.pipelines) {
    output.notice(
      `${p.pipeline}: ${p.batches} batch(es), ${p.messages} message(s) acknowledged, ${p.poison} poison, ${p.redelivered} redelivery(ies) recognised`,
    );
  }
  // Stopped by a signal or idle: a clean exit (failed batches were retried; none was acknowledged).
  return 0;
}

async function claimFileWork(
  ctx: ProjectContext,
  output: Output,
  opts: Omit<WorkerCommandOptions, "concurrency" | "group"> & {
    concurrency: number;
    group: number;
    exitWhenIdleMs: number | undefined;
    workerId: string;
  },
  signal: AbortSignal,
  print: (report: RunReport) => void,
): Promise<number> {
  const { runQueueWorker } = await import("../../scale/run-queue-worker.js");
  const summary = await runQueueWorker(ctx, {
    workerId: opts.workerId,
    concurrency: opts.concurrency,
    grouping: { groupBytes: 4 << 20, groupFiles: opts.group },
    signal,
    ...(opts.pipeline.length > 0 ? { pipelines: opts.pipeline } : {}),
    ...(opts.exitWhenIdleMs !== undefined ? { exitWhenIdleMs: opts.exitWhenIdleMs } : {}),
    ...(opts.lease ? { leaseSeconds: parseDuration(opts.lease, "--lease") / 1000 } : {}),
    ...(opts.discoverEvery ? { discoverEveryMs: parseDuration(opts.discoverEvery, "--discover-every") } : {}),
    onUnit: (_unit, reports) => {
      for (const report of reports) print(report);
    },
  });
  output.notice(
    `worker ${summary.workerId} stopped: ${summary.units} unit(s), ${summary.files} file(s)${summary.failedUnits ? `, ${summary.failedUnits} failed` : ""}`,
  );
  return summary.failedUnits;
}

function wholeNumber(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new SluiceError("USAGE", `${flag} ${value}: expected a whole number from 1`);
  return n;
}

function stamp(): string {
  return new Date().toISOString();
}

function describe(report: RunReport): string {
  const r = report.rows;
  const stream = (report as { stream?: { messages: number; first_position: string; last_position: string } })
    .stream;
  const where = stream
    ? ` ${stream.messages} message(s) ${stream.first_position}..${stream.last_position}`
    : "";
  const files = report.files.length > 0 && !stream ? ` ${report.files.length} file(s)` : "";
  if (report.status === "failed")
    return `${report.pipeline}: run failed${where}${files}: ${report.error ?? ""}`;
  return `${report.pipeline}: run ${report.run_id}${where}${files}: ${r.loaded} loaded, ${r.quarantined} quarantined, ${r.duplicates} duplicate(s)`;
}
