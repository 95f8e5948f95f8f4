import { mkdirSync } from "node:fs";
import { type FSWatcher, watch } from "chokidar";
import { isFileSource, type PipelineConfig } from "../config/schema.js";
import { parseDuration } from "../durations.js";
import { asSluiceError } from "../errors.js";
import { directDownstreams, topologicalOrder } from "../plan/pipeline-graph.js";
import { createCircuitBreaker } from "../resilience/circuit-breaker.js";
import { discoverFiles, globBase } from "../run/discover-files.js";
import type { ProjectContext } from "../run/project-context.js";
import type { RunProgress } from "../run/run-pipeline.js";
import { type RunReport, reportWithoutRun } from "../run/run-report.js";
import type { Warehouse } from "../warehouse/warehouse.js";
import type { Alerter } from "./alerts.js";
import { assertKnownPipelines } from "./known-pipelines.js";
import { runWithRetries } from "./pipeline-retries.js";
import { readLastFires, recordFire } from "./schedule-state.js";
import { type ScheduleFire, type Scheduler, startScheduler } from "./scheduler.js";
import { createStableFiles } from "./stable-files.js";

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
  /** Stops triggers, lets the current run finish (it is atomic), releases everything. */
  stop(): Promise<void>;
  /** Resolves when the daemon has stopped. */
  readonly done: Promise<void>;
}

interface Task {
  files?: Set<string>;
  fires: ScheduleFire[];
  reason: string;
}

const DEFAULT_STABLE_FOR = "5s";

/**
 * `sluice watch`: reacts to file arrival (file-system events plus a periodic rescan for local landing
 * zones, listing polls for S3) and to cron schedules. A file is processed once its size and mtime/ETag
 * have been stable for the pipeline's `source.stable_for`; a burst becomes one run per pipeline.
 * Runs are serialized, each opening the warehouse and closing it after (so queries work while idle);
 * a pipeline never overlaps itself; successful runs trigger their `depends_on` downstreams.
 *
 * @example
 * const daemon = await startWatchDaemon(ctx, { onEvent: console.log });
 * process.once("SIGTERM", () => daemon.stop());
 */
export async function startWatchDaemon(
  ctx: ProjectContext,
  options: WatchOptions = {},
): Promise<WatchDaemon> {
  const { pipelines } = ctx.project.config;
  const served = new Set(
    options.pipelines && options.pipelines.length > 0 ? options.pipelines : Object.keys(pipelines),
  );
  assertKnownPipelines(pipelines, [...served]);
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
  const stable = createStableFiles({
    stableForMs: (p) => stableFor.get(p) ?? 5000,
    trustMtime: ctx.landing.kind === "local",
  });
  const pollMs = options.pollMs ?? (ctx.landing.kind === "local" ? 10_000 : 2000);
  const warehouseBreaker = createCircuitBreaker({
    name: "warehouse",
    failureThreshold: 3,
    openMs: 30_000,
    isFailure: (e) =>
      asSluiceError(e).code === "WAREHOUSE_ERROR" || asSluiceError(e).code === "WAREHOUSE_LOCKED",
  });

  const queue = new Map<string, Task>();
  const waitingFiles = new Map<string, Set<string>>(); // scheduled file pipelines: stable files awaiting the schedule
  let stopping = false;
  const abort = new AbortController();
  let working: Promise<void> | undefined;
  let scanTimer: NodeJS.Timeout | undefined;
  let checkTimer: NodeJS.Timeout | undefined;
  let pollTimer: NodeJS.Timeout | undefined;
  let scanning: Promise<void> | undefined;
  let rescanWanted = false;
  let watcher: FSWatcher | undefined;
  let scheduler: Scheduler | undefined;
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });

  const enqueue = (
    pipeline: string,
    reason: string,
    files?: readonly string[],
    fire?: ScheduleFire,
  ): void => {
    if (stopping) return;
    const task = queue.get(pipeline) ?? { fires: [], reason };
    if (files) {
      task.files ??= new Set();
      for (const f of files) task.files.add(f);
    }
    if (fire) task.fires.push(fire);
    queue.set(pipeline, task);
    kick();
  };

  const kick = (): void => {
    if (working || stopping) return;
    // A short pause lets a burst of triggers land in the same batch.
    working = new Promise((r) => setTimeout(r, 20)).then(drain).finally(() => {
      working = undefined;
      if (queue.size > 0 && !stopping) kick();
    });
  };

  const drain = async (): Promise<void> => {
    while (queue.size > 0 && !stopping) {
      const order = topologicalOrder(pipelines, [...queue.keys()]);
      const batch = order.map((n) => [n, queue.get(n)!] as const);
      queue.clear();
      let warehouse: Warehouse;
      try {
        warehouse = await warehouseBreaker.run(() => ctx.openWarehouse());
      } catch (error) {
        event(`warehouse unavailable: ${asSluiceError(error).message}; will retry`);
        // Put the work back and try again later (files stay queued in the landing zone meanwhile).
        for (const [n, task] of batch) if (!queue.has(n)) queue.set(n, task);
        await new Promise((r) => setTimeout(r, Math.min(pollMs, 5000)));
        continue;
      }
      const triggered: string[] = [];
      try {
        for (const [name, task] of batch) {
          const pipeline = pipelines[name]!;
          const fire = task.fires.at(-1);
          if (fire) await recordFire(warehouse, name, fire.at);
          const files = filesFor(name, task);
          if (files !== undefined && files.length === 0 && !fire) continue;
          event(`${name}: running (${task.reason}${files ? `, ${files.length} file(s)` : ""})`);
          let report: RunReport;
          try {
            report = await runWithRetries(ctx, warehouse, name, pipeline, {
              ...(files !== undefined ? { files } : {}),
              ...(options.onProgress ? { onProgress: options.onProgress } : {}),
              signal: abort.signal,
            });
          } catch (error) {
            report = reportWithoutRun(name, "failed", asSluiceError(error).message);
          }
          options.onReport?.(report);
          options.alerter?.notify(report);
          if (files && files.length > 0) await afterRun(name, pipeline);
          if (report.status === "succeeded") {
            for (const d of directDownstreams(pipelines, name)) if (served.has(d)) triggered.push(d);
          }
          if (stopping) break;
        }
      } finally {
        await warehouse.close();
      }
      for (const d of triggered) enqueue(d, "upstream succeeded");
    }
  };

  const filesFor = (name: string, task: Task): string[] | undefined => {
    if (!isFileSource(pipelines[name]!.source)) return undefined;
    if (scheduledFilePipelines.has(name)) {
      const waiting = waitingFiles.get(name) ?? new Set();
      waitingFiles.delete(name);
      return [...waiting];
    }
    return task.files ? [...task.files] : [];
  };

  const afterRun = async (name: string, pipeline: PipelineConfig): Promise<void> => {
    if (!isFileSource(pipeline.source)) return;
    try {
      const left = await discoverFiles(ctx.landing, pipeline.source.path);
      stable.settled(name, left, Date.now());
    } catch (error) {
      event(`${name}: listing after the run failed: ${asSluiceError(error).message}`);
    }
    scheduleScan(0);
  };

  const scan = async (): Promise<void> => {
    for (const name of watchedForFiles) {
      const source = pipelines[name]!.source as { path: string };
      try {
        stable.observe(name, await discoverFiles(ctx.landing, source.path), Date.now());
      } catch (error) {
        event(`${name}: cannot list ${ctx.landing.root}: ${asSluiceError(error).message}`);
      }
    }
    const { ready, nextCheckAt } = stable.take(Date.now());
    for (const [name, files] of ready) {
      if (scheduledFilePipelines.has(name)) {
        const waiting = waitingFiles.get(name) ?? new Set();
        for (const f of files) waiting.add(f);
        waitingFiles.set(name, waiting);
      } else enqueue(name, "files arrived", files);
    }
    clearTimeout(checkTimer);
    if (nextCheckAt !== undefined && !stopping) {
      checkTimer = setTimeout(() => scheduleScan(0), Math.max(0, nextCheckAt - Date.now()) + 5);
    }
  };

  const scheduleScan = (delayMs: number): void => {
    if (stopping) return;
    if (scanning) {
      rescanWanted = true;
      return;
    }
    clearTimeout(scanTimer);
    scanTimer = setTimeout(() => {
      scanning = scan().finally(() => {
        scanning = undefined;
        if (rescanWanted) {
          rescanWanted = false;
          scheduleScan(0);
        }
      });
    }, delayMs);
  };

  // Schedules: catch-up needs the stored last fire times (the warehouse is opened briefly).
  const scheduled = [...served].filter((n) => pipelines[n]!.schedule);
  if (scheduled.length > 0) {
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
    scheduler = startScheduler(config, lastFires, (fire) =>
      enqueue(
        fire.pipeline,
        fire.catchUp ? `catching up the run of ${fire.at.toISOString()}` : "schedule",
        undefined,
        fire,
      ),
    );
  }

  if (watchedForFiles.length > 0) {
    if (ctx.landing.kind === "local") {
      const folders = [
        ...new Set(
          watchedForFiles.map((n) =>
            globBase((pipelines[n]!.source as { path: string }).path.replace(/^\.?\//, "")),
          ),
        ),
      ];
      const paths = folders.flatMap((f) => {
        // A folder reached through a symbolic link is not watched (nor created); rescans report it.
        try {
          const local = ctx.landing.localPath(f)!;
          mkdirSync(local, { recursive: true });
          return [local];
        } catch (error) {
          event(`${f}: not watched: ${asSluiceError(error).message}`);
          return [];
        }
      });
      watcher = watch(paths, { ignoreInitial: true, persistent: true });
      watcher.on("all", () => scheduleScan(15));
      watcher.on("error", (error) => event(`file watcher: ${String(error)}; relying on rescans`));
      await new Promise<void>((r) => watcher!.once("ready", () => r()));
    }
    pollTimer = setInterval(() => scheduleScan(0), pollMs);
    scheduleScan(0);
  }
  event(
    `watching ${ctx.landing.root}: ${watchedForFiles.length} file pipeline(s)${scheduled.length ? `, ${scheduled.length} scheduled` : ""}`,
  );

  return {
    done,
    async stop() {
      if (stopping) return done;
      stopping = true;
      abort.abort(new Error("stopping"));
      scheduler?.stop();
      clearTimeout(scanTimer);
      clearTimeout(checkTimer);
      clearInterval(pollTimer);
      await watcher?.close();
      await scanning?.catch(() => undefined);
      await working?.catch(() => undefined);
      resolveDone();
      return done;
    },
  };
}
