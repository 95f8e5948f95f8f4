import type { PipelineConfig } from "../config/schema.js";
import { asSluiceError } from "../errors.js";
import { directDownstreams, topologicalOrder } from "../plan/pipeline-graph.js";
import type { CircuitBreaker } from "../resilience/circuit-breaker.js";
import type { ProjectContext } from "../run/project-context.js";
import type { RunProgress } from "../run/run-pipeline.js";
import { type RunReport, reportWithoutRun } from "../run/run-report.js";
import type { Warehouse } from "../warehouse/warehouse.js";
import type { Alerter } from "./alerts.js";
import { runWithRetries } from "./pipeline-retries.js";
import { recordFire } from "./schedule-state.js";
import type { ScheduleFire } from "./scheduler.js";

/** What a pipeline is to run for: files that arrived, schedule fires, and why (for the event). */
export interface WatchTask {
  files?: Set<string>;
  fires: ScheduleFire[];
  reason: string;
}

/** The daemon's run queue: triggers in, one serialized run per pipeline out. */
export interface WatchQueue {
  enqueue(pipeline: string, reason: string, files?: readonly string[], fire?: ScheduleFire): void;
  /** Stops taking triggers; the run in flight finishes (it is atomic). */
  stop(): void;
  /** The batch of runs in flight, if any. */
  working(): Promise<void> | undefined;
}

/** What the queue needs from the rest of the daemon. */
export interface WatchQueueDeps {
  readonly ctx: ProjectContext;
  /** The daemon's hooks: each finished run, progress of the run in flight, alerts. */
  readonly options: {
    readonly onReport?: (report: RunReport) => void;
    readonly onProgress?: (progress: RunProgress) => void;
    readonly alerter?: Alerter;
  };
  readonly served: ReadonlySet<string>;
  readonly warehouseBreaker: CircuitBreaker;
  readonly pollMs: number;
  readonly signal: AbortSignal;
  readonly event: (message: string) => void;
  /** The files of a run: a scheduled file pipeline takes the stable files waiting for its schedule. */
  readonly filesFor: (name: string, task: WatchTask) => string[] | undefined;
  /** After a run that was given files: the landing zone is listed again. */
  readonly afterRun: (name: string, pipeline: PipelineConfig) => Promise<void>;
}

/**
 * Queues triggers per pipeline and drains them in dependency order, each batch with the warehouse open
 * for its duration (closed when idle, so queries work); a pipeline never overlaps itself, and a successful
 * run enqueues its served `depends_on` downstreams.
 *
 * @example
 * const queue = createWatchQueue(deps);
 * queue.enqueue("orders", "files arrived", ["in/a.csv"]);
 */
export function createWatchQueue(deps: WatchQueueDeps): WatchQueue {
  const { pipelines } = deps.ctx.project.config;
  const queue = new Map<string, WatchTask>();
  let stopping = false;
  let working: Promise<void> | undefined;

  const enqueue: WatchQueue["enqueue"] = (pipeline, reason, files, fire) => {
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
        warehouse = await deps.warehouseBreaker.run(() => deps.ctx.openWarehouse());
      } catch (error) {
        deps.event(`warehouse unavailable: ${asSluiceError(error).message}; will retry`);
        // Put the work back and try again later (files stay queued in the landing zone meanwhile).
        for (const [n, task] of batch) if (!queue.has(n)) queue.set(n, task);
        await new Promise((r) => setTimeout(r, Math.min(deps.pollMs, 5000)));
        continue;
      }
      let triggered: string[] = [];
      try {
        triggered = await runBatch(warehouse, batch);
      } finally {
        await warehouse.close();
      }
      for (const d of triggered) enqueue(d, "upstream succeeded");
    }
  };

  /** Runs a batch in order; returns the downstreams its successful runs trigger. */
  const runBatch = async (
    warehouse: Warehouse,
    batch: readonly (readonly [string, WatchTask])[],
  ): Promise<string[]> => {
    const { options } = deps;
    const triggered: string[] = [];
    for (const [name, task] of batch) {
      // Stopped while waiting for the warehouse: a run not begun is left for the next start, not failed.
      if (stopping) break;
      const pipeline = pipelines[name]!;
      const fire = task.fires.at(-1);
      if (fire) await recordFire(warehouse, name, fire.at);
      const files = deps.filesFor(name, task);
      if (files !== undefined && files.length === 0 && !fire) continue;
      deps.event(`${name}: running (${task.reason}${files ? `, ${files.length} file(s)` : ""})`);
      let report: RunReport;
      try {
        report = await runWithRetries(deps.ctx, warehouse, name, pipeline, {
          ...(files !== undefined ? { files } : {}),
          ...(options.onProgress ? { onProgress: options.onProgress } : {}),
          signal: deps.signal,
        });
      } catch (error) {
        report = reportWithoutRun(name, "failed", asSluiceError(error).message);
      }
      options.onReport?.(report);
      options.alerter?.notify(report);
      if (files && files.length > 0) await deps.afterRun(name, pipeline);
      if (report.status === "succeeded") {
        for (const d of directDownstreams(pipelines, name)) if (deps.served.has(d)) triggered.push(d);
      }
    }
    return triggered;
  };

  return {
    enqueue,
    stop() {
      stopping = true;
    },
    working: () => working,
  };
}
