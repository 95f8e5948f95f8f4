import { isFileSource } from "../config/schema.js";
import { parseDuration } from "../durations.js";
import { asSluiceError } from "../errors.js";
import { directDownstreams } from "../plan/pipeline-graph.js";
import { createCircuitBreaker } from "../resilience/circuit-breaker.js";
import type { ProjectContext } from "../run/project-context.js";
import type { RunProgress } from "../run/run-pipeline.js";
import type { RunReport } from "../run/run-report.js";
import type { Alerter } from "./alerts.js";
import { assertKnownPipelines } from "./known-pipelines.js";
import { readLastFires, recordFire } from "./schedule-state.js";
import { type Scheduler, startScheduler } from "./scheduler.js";
import { createStableFiles } from "./stable-files.js";
import { runStreamWorkers, streamPipelines } from "./stream-worker.js";
import { warehouseTurns } from "./warehouse-turns.js";
import { createWatchQueue, type WatchQueue } from "./watch-queue.js";
import { createLandingScanner } from "./watch-scanner.js";

/** Options of {@link startWatchDaemon}. */
export interface WatchOptions {
  /** Pipelines to serve (default: all). */
  readonly pipelines?: readonly string[];
  /** Full rescan interval, the safety net under file-system events; the poll interval for S3 (ms). */
  readonly pollMs?: number;
  /** Each finished run (for output and alerts). */
  readonly onReport?: (report: RunReport) => void;
  /** Progress of the run in flight (files and bytes done), for a live dashboard. */
  readonly onProgress?: (progress: RunProgress) => void;
  /** Daemon events for a person: started, runs, waits. */
  readonly onEvent?: (message: string) => void;
  readonly alerter?: Alerter;
}

/** A running daemon. */
export interface WatchDaemon {
  /** Stops triggers and stream pulls, lets the current run and batches finish (atomic), releases everything. */
  stop(): Promise<void>;
  /** Resolves when the daemon has stopped; rejects when a stream could not be consumed (after its retries). */
  readonly done: Promise<void>;
}

const DEFAULT_STABLE_FOR = "5s";

/**
 * `sluice watch`: reacts to file arrival (file-system events plus a periodic rescan for local landing
 * zones, listing polls for S3) and to cron schedules. A file is processed once its size and mtime/ETag
 * have been stable for the pipeline's `source.stable_for`; a burst becomes one run per pipeline.
 * Runs are serialized, each opening the warehouse and closing it after (so queries work while idle);
 * a pipeline never overlaps itself; successful runs and published stream batches trigger their
 * `depends_on` downstreams. Stream pipelines are consumed alongside, as by `sluice worker` (see
 * runStreamWorkers); the two take turns with the warehouse (warehouseTurns): one writer at a time.
 *
 * @example
 * const daemon = await startWatchDaemon(ctx, { onEvent: console.log });
 * process.once("SIGTERM", () => daemon.stop());
 */
export async function startWatchDaemon(
  base: ProjectContext,
  options: WatchOptions = {},
): Promise<WatchDaemon> {
  const { pipelines } = base.project.config;
  const served = new Set(
    options.pipelines && options.pipelines.length > 0 ? options.pipelines : Object.keys(pipelines),
  );
  assertKnownPipelines(pipelines, [...served]);
  const streams = streamPipelines(base).filter((n) => served.has(n));
  // Stream batches and file runs write from one process: they take turns with the warehouse.
  const turns = streams.length > 0 ? warehouseTurns(base) : undefined;
  const ctx = turns?.ctx ?? base;
  const event = options.onEvent ?? (() => undefined);
  const filePipelines = [...served].filter((n) => {
    const p = pipelines[n]!;
    return isFileSource(p.source) && !p.schedule;
  });
  const scheduledFilePipelines = new Set(
    [...served].filter((n) => pipelines[n]!.schedule && isFileSource(pipelines[n]!.source)),
  );
  const watchedForFiles = [...filePipelines, ...scheduledFilePipelines];
  const stableFor = new Map(
    watchedForFiles.map((n) => {
      const source = pipelines[n]!.source as { stable_for?: string };
      return [n, parseDuration(source.stable_for ?? DEFAULT_STABLE_FOR, `pipelines.${n}.source.stable_for`)];
    }),
  );
  const pollMs = options.pollMs ?? (ctx.landing.kind === "local" ? 10_000 : 2000);
  const abort = new AbortController();
  const scanner = createLandingScanner({
    ctx,
    watchedForFiles,
    scheduledFilePipelines,
    stable: createStableFiles({
      stableForMs: (p) => stableFor.get(p) ?? 5000,
      trustMtime: ctx.landing.kind === "local",
    }),
    pollMs,
    event,
    onReady: (name, files) => queue.enqueue(name, "files arrived", files),
  });
  const queue: WatchQueue = createWatchQueue({
    ctx,
    options,
    served,
    warehouseBreaker: createCircuitBreaker({
      name: "warehouse",
      failureThreshold: 3,
      openMs: 30_000,
      isFailure: (e) =>
        asSluiceError(e).code === "WAREHOUSE_ERROR" || asSluiceError(e).code === "WAREHOUSE_LOCKED",
    }),
    pollMs,
    signal: abort.signal,
    event,
    filesFor: scanner.filesFor,
    afterRun: scanner.afterRun,
  });
  const scheduled = [...served].filter((n) => pipelines[n]!.schedule);
  const scheduler = await startSchedules(ctx, scheduled, queue);
  await scanner.start();
  const streaming = turns
    ? runStreamWorkers(ctx, {
        pipelines: streams,
        signal: abort.signal,
        warehouseWanted: () => turns.waiting() > 0,
        onEvent: event,
        onReport: (report) => {
          options.onReport?.(report);
          options.alerter?.notify(report);
          // A published batch triggers the served downstreams; the queue holds one pending run each, so a
          // flowing stream re-runs them back to back at most, never once per queued batch.
          if (report.status !== "succeeded" || report.rows.loaded === 0) return;
          for (const d of directDownstreams(pipelines, report.pipeline))
            if (served.has(d) && !streams.includes(d)) queue.enqueue(d, "upstream stream batch published");
        },
      })
    : undefined;
  event(
    `watching ${ctx.landing.root}: ${watchedForFiles.length} file pipeline(s)${scheduled.length ? `, ${scheduled.length} scheduled` : ""}${streams.length ? `, ${streams.length} stream pipeline(s)` : ""}`,
  );

  let resolveDone!: () => void;
  let rejectDone!: (error: unknown) => void;
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  // Whoever awaits `done` sees a failure; this only keeps an unobserved one from crashing the process.
  done.catch(() => undefined);
  let stopping: Promise<void> | undefined;
  let failure: unknown;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      queue.stop();
      abort.abort(new Error("stopping"));
      scheduler?.stop();
      await scanner.stop();
      await queue.working()?.catch(() => undefined);
      await streaming?.catch(() => undefined);
      if (failure === undefined) resolveDone();
      else rejectDone(failure);
    })();
    return stopping;
  };
  // A stream that cannot be consumed (unreachable after its retries) stops the daemon with its error.
  streaming?.catch((error) => {
    failure = error;
    event(`streams stopped: ${asSluiceError(error).message}`);
    void stop();
  });
  return { done, stop };
}

/** Starts the cron schedules; catch-up needs the stored last fire times (the warehouse is opened briefly). */
async function startSchedules(
  ctx: ProjectContext,
  scheduled: readonly string[],
  queue: WatchQueue,
): Promise<Scheduler | undefined> {
  if (scheduled.length === 0) return undefined;
  const { pipelines } = ctx.project.config;
  const warehouse = await ctx.openWarehouse();
  let lastFires: Map<string, Date>;
  try {
    lastFires = await readLastFires(warehouse);
    const now = new Date();
    // First start: record "now", so a later outage is detected against it.
    for (const n of scheduled) if (!lastFires.has(n)) await recordFire(warehouse, n, now);
  } finally {
    await warehouse.close();
  }
  const config = {
    ...ctx.project.config,
    pipelines: Object.fromEntries(scheduled.map((n) => [n, pipelines[n]!])),
  };
  return startScheduler(config, lastFires, (fire) =>
    queue.enqueue(
      fire.pipeline,
      fire.catchUp ? `catching up the run of ${fire.at.toISOString()}` : "schedule",
      undefined,
      fire,
    ),
  );
}
