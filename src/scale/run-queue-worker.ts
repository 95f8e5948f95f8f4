import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { formatDuration } from "../durations.js";
import { asSluiceError, SluiceError } from "../errors.js";
import { quoteLiteral } from "../plan/sql-text.js";
import { redactUrls } from "../redact.js";
import { abortableSleep, backoffDelay, isTransientError } from "../resilience/retry.js";
import type { ProjectContext } from "../run/project-context.js";
import type { RunReport } from "../run/run-report.js";
import { vanishedBeforeRead } from "../run/unit-digest.js";
import { assertKnownPipelines } from "../runner/known-pipelines.js";
import { runProject } from "../runner/run-project.js";
import { isTransientPgError } from "../warehouse/postgres-errors.js";
import type { Warehouse } from "../warehouse/warehouse.js";
import { discoverWork, type GroupingOptions } from "./discover-work.js";
import {
  claimUnitOf,
  DISCOVER_QUEUE,
  extendLeases,
  FILES_QUEUE,
  type FileUnit,
  openJobCount,
  openWorkQueue,
  type WorkQueue,
} from "./work-queue.js";
import { type WorkerClaim, workerRegistry } from "./worker-registry.js";

/** Options of {@link runQueueWorker} (`sluice worker`). */
export interface QueueWorkerOptions {
  /** Units this process runs at once (default 1). */
  readonly concurrency?: number;
  /** Stop when no unit was claimed for this long and the queue holds no open job (ms); default: never. */
  readonly exitWhenIdleMs?: number;
  /** A unit whose worker stops beating for this long goes to another worker (s; default 30). */
  readonly leaseSeconds?: number;
  /** Discovery runs once per this interval, cluster-wide (ms; default 10 s). */
  readonly discoverEveryMs?: number;
  readonly grouping?: GroupingOptions;
  /** Claim only units of these pipelines (default: all); discovery still queues every pipeline's files. */
  readonly pipelines?: readonly string[];
  /** Default: `<host>-<pid>-<random>`. */
  readonly workerId?: string;
  /** Aborting stops claiming; units under way finish first. */
  readonly signal?: AbortSignal;
  /** Told of each unit done, with the runs it made. */
  readonly onUnit?: (unit: FileUnit, reports: readonly RunReport[]) => void;
}

/** What a worker did before it stopped. */
export interface QueueWorkerSummary {
  readonly workerId: string;
  readonly units: number;
  readonly files: number;
  readonly failedUnits: number;
}

/**
 * Claims queued units of file work on the project's PostgreSQL warehouse and runs each like
 * `sluice run --file ...` for its files, with `concurrency` units at once. Discovery of new files is a job of
 * the same queue, requested by every worker but created once per interval (a pg-boss singleton slot). Each
 * claim is a lease the worker's heartbeat extends; a worker killed with SIGKILL stops beating and its
 * unit returns to the queue when the lease expires. Running a unit twice publishes nothing twice: the
 * content ledger skips content already loaded.
 *
 * @example
 * const summary = await runQueueWorker(await openProject(), { concurrency: 2, exitWhenIdleMs: 30_000 });
 */
export async function runQueueWorker(
  ctx: ProjectContext,
  options: QueueWorkerOptions = {},
): Promise<QueueWorkerSummary> {
  const url = ctx.project.config.warehouse;
  if (ctx.warehouseFile || !/^postgres(ql)?:\/\//i.test(url)) {
    throw new SluiceError(
      "CONFIG_INVALID",
      "sluice.yaml: warehouse: scale-out (`sluice worker`) needs a PostgreSQL warehouse (postgres://...): workers on several machines share its job queue and catalog; the embedded DuckDB warehouse has one writer on one machine (use `sluice run` or `sluice watch`)",
    );
  }
  if (options.pipelines) assertKnownPipelines(ctx.project.config.pipelines, options.pipelines);
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const leaseSeconds = Math.max(3, options.leaseSeconds ?? 30);
  const discoverEverySeconds = Math.max(1, Math.round((options.discoverEveryMs ?? 10_000) / 1000));
  const grouping = options.grouping ?? { groupBytes: 4 << 20, groupFiles: 10 };
  const workerId = options.workerId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
  const summary = { workerId, units: 0, files: 0, failedUnits: 0 };
  const requestDiscovery = (queue: WorkQueue) =>
    queue.boss.send(DISCOVER_QUEUE, {}, { singletonKey: "discover", singletonSeconds: discoverEverySeconds });
  const queue = await startWorker(ctx, workerId, options.signal, async () => {
    const opened = await openWorkQueue(url, { leaseSeconds, supervise: true, concurrency });
    try {
      await workerRegistry(opened.pool).register({
        workerId,
        host: hostname(),
        pid: process.pid,
        concurrency,
      });
      await requestDiscovery(opened);
    } catch (error) {
      await opened.close();
      throw error;
    }
    return opened;
  });
  if (!queue) return summary; // stopped while starting
  const registry = workerRegistry(queue.pool);
  const claims = new Map<string, WorkerClaim>();
  let lastWork = Date.now();

  const beat = async () => {
    await extendLeases(queue.pool, [...claims.keys()]);
    await registry.heartbeat(workerId, [...claims.values()]);
    await requestDiscovery(queue);
  };
  // A failed beat (the server restarting) is retried on the next tick; the lease has room for a few.
  // Often enough for both the lease and the discovery slot (asking twice in one slot is free).
  const every = Math.max(500, Math.min((leaseSeconds * 1000) / 4, discoverEverySeconds * 500));
  const timer = setInterval(() => void beat().catch(() => undefined), every);
  try {
    const slot = async (): Promise<void> => {
      // One warehouse per slot, opened once: opening sets up the catalog under an advisory lock, a cost
      // per unit otherwise. Per slot, not per process: a warehouse's DuckDB staging engine runs one run.
      const held: { warehouse?: Warehouse } = {};
      try {
        await slotLoop(held);
      } finally {
        await held.warehouse?.close().catch(() => undefined);
      }
    };
    const slotLoop = async (held: { warehouse?: Warehouse }): Promise<void> => {
      while (!options.signal?.aborted) {
        try {
          if (await discoverOnce(ctx, queue, grouping)) continue;
          const unitDone = await runOneUnit(ctx, queue, workerId, claims, options, held);
          if (unitDone) {
            lastWork = Date.now();
            summary.units++;
            summary.files += unitDone.files;
            if (!unitDone.ok) summary.failedUnits++;
            continue;
          }
          if (
            options.exitWhenIdleMs !== undefined &&
            Date.now() - lastWork >= options.exitWhenIdleMs &&
            claims.size === 0 &&
            (await openJobCount(queue.pool, options.pipelines)) === 0
          ) {
            return;
          }
        } catch (error) {
          // The queue's database unreachable (a restart): wait and try again; leases cover the gap.
          ctx.notice(`worker ${workerId}: ${queue.messageOf(error)}; retrying`);
        }
        await sleep(500, undefined, { signal: options.signal }).catch(() => undefined);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, slot));
  } finally {
    clearInterval(timer);
    await registry.stop(workerId).catch(() => undefined);
    await queue.close();
  }
  return summary;
}

/**
 * Runs `start` (open the queue, register) until it succeeds. A transient failure — the server starting
 * or restarting, at its connection limit — is waited out with backoff, as the same failure a second later
 * would be by the running worker, instead of ending the process; any other failure (a wrong password, a
 * missing database) is thrown at once. Undefined when `signal` aborts meanwhile.
 */
async function startWorker(
  ctx: ProjectContext,
  workerId: string,
  signal: AbortSignal | undefined,
  start: () => Promise<WorkQueue>,
): Promise<WorkQueue | undefined> {
  for (let attempt = 1; !signal?.aborted; attempt++) {
    try {
      return await start();
    } catch (error) {
      if (!isTransientError(error) && !isTransientPgError(error)) throw error;
      const delayMs = backoffDelay(attempt, 500, 10_000, () => 0.5 + Math.random() / 2);
      ctx.notice(
        `worker ${workerId}: cannot start yet (${redactUrls(asSluiceError(error).message)}); retrying in ${formatDuration(delayMs)}`,
      );
      await abortableSleep(delayMs, signal).catch(() => undefined);
    }
  }
  return undefined;
}

/** Runs a discovery job when one is due; true when it did. */
async function discoverOnce(
  ctx: ProjectContext,
  queue: WorkQueue,
  grouping: GroupingOptions,
): Promise<boolean> {
  const [job] = await queue.boss.fetch(DISCOVER_QUEUE, { batchSize: 1 });
  if (!job) return false;
  try {
    await discoverWork(ctx, queue, grouping);
    await queue.boss.complete(DISCOVER_QUEUE, job.id);
  } catch (error) {
    await queue.boss.fail(DISCOVER_QUEUE, job.id, { message: queue.messageOf(error) }).catch(() => undefined);
    throw error;
  }
  return true;
}

/** Claims and runs one unit of files; undefined when the queue had none. */
async function runOneUnit(
  ctx: ProjectContext,
  queue: WorkQueue,
  workerId: string,
  claims: Map<string, WorkerClaim>,
  { onUnit, pipelines }: QueueWorkerOptions,
  held: { warehouse?: Warehouse },
): Promise<{ files: number; ok: boolean } | undefined> {
  const job = pipelines
    ? await claimUnitOf(queue.pool, pipelines)
    : (await queue.boss.fetch<FileUnit>(FILES_QUEUE, { batchSize: 1 }))[0];
  if (!job) return undefined;
  const unit = job.data;
  const claimedAt = Date.now();
  claims.set(job.id, {
    job: job.id,
    pipeline: unit.pipeline,
    files: unit.files,
    since: new Date().toISOString(),
  });
  const started = performance.now();
  const reports: RunReport[] = [];
  try {
    // Units of one lake pipeline run at once on several workers: their lake commits come one at a time,
    // each in its warehouse transaction under the pipeline's lock (see publishRun).
    held.warehouse ??= await ctx.openWarehouse();
    await runProject(ctx, {
      warehouse: held.warehouse,
      pipelines: [unit.pipeline],
      files: unit.files,
      onReport: (report) => reports.push(report),
      // Named in the report from the start, so the run record commits with it (a kill after the commit
      // cannot leave a run without its worker).
      worker: workerId,
    });
    const failed = reports.filter((r) => r.status === "failed");
    const taken = failed.length > 0 ? await takenMeanwhile(held.warehouse, failed, claimedAt) : [];
    const ok = taken !== undefined;
    if (taken && taken.length > 0) {
      ctx.notice(
        `worker ${workerId}: ${taken.join(", ")}: loaded meanwhile by another run (this worker's claim on the unit lapsed); not a failure`,
      );
    }
    if (!ok) {
      // A failed unit may have left the held warehouse broken (a lost server): the next unit opens afresh.
      await held.warehouse?.close().catch(() => undefined);
      delete held.warehouse;
    }
    if (ok) await queue.boss.complete(FILES_QUEUE, job.id);
    else
      await queue.boss.fail(FILES_QUEUE, job.id, {
        message: reports.find((r) => r.error)?.error ?? "failed",
      });
    const rows = reports.reduce((s, r) => s + Number(r.rows.loaded ?? 0), 0);
    await workerRegistry(queue.pool).recordUnit(workerId, {
      files: unit.files.length,
      bytes: unit.bytes,
      rows,
      ms: performance.now() - started,
    });
    onUnit?.(unit, reports);
    return { files: unit.files.length, ok };
  } catch (error) {
    await queue.boss.fail(FILES_QUEUE, job.id, { message: queue.messageOf(error) }).catch(() => undefined);
    throw error;
  } finally {
    claims.delete(job.id);
  }
}

/** Leeway for the clocks of other hosts, whose runs' finish times are compared with this worker's claim. */
const CLOCK_LEEWAY_MS = 60_000;

/**
 * The files of `failed` runs that another run loaded while this worker held their unit, when that is
 * all that failed (else undefined): each failed file vanished before it could be read, and the catalog
 * has it loaded, in the same pipeline, by a run that finished after the claim. This happens when the
 * claim lapsed (the worker starved of CPU, or its heartbeats cut off by a PostgreSQL restart, for longer
 * than the lease): the queue gave the unit to another worker, which loaded and archived the files first.
 * The unit's work is done, so it is no failed unit; a file deleted by hand still is one.
 */
async function takenMeanwhile(
  warehouse: Warehouse,
  failed: readonly RunReport[],
  claimedAt: number,
): Promise<string[] | undefined> {
  const taken: string[] = [];
  for (const report of failed) {
    const files = report.files.filter((f) => f.status === "failed");
    // A run that failed for another reason too (its publish, a check) names more than its files' errors.
    if (files.length === 0 || report.error !== files.map((f) => f.error).join("; ")) return undefined;
    if (!files.every(vanishedBeforeRead)) return undefined;
    const since = new Date(claimedAt - CLOCK_LEEWAY_MS).toISOString();
    const rows = await warehouse.query(
      `SELECT DISTINCT f.path FROM sluice.files f JOIN sluice.runs r ON r.run_id = f.run_id
        WHERE f.pipeline = ${quoteLiteral(report.pipeline)} AND f.status = 'loaded'
          AND f.path IN (${files.map((f) => quoteLiteral(f.path)).join(", ")})
          AND r.finished_at >= ${quoteLiteral(since)}::timestamptz`,
    );
    if (rows.length !== new Set(files.map((f) => f.path)).size) return undefined;
    taken.push(...files.map((f) => f.path));
  }
  return taken;
}
