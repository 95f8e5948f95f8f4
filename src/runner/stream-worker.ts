import { mkdirSync } from "node:fs";
import type { PipelineConfig, StreamSourceConfig } from "../config/schema.js";
import { asSluiceError, SluiceError } from "../errors.js";
import { redactUrls } from "../redact.js";
import { abortableSleep, backoffDelay, withRetry } from "../resilience/retry.js";
import type { ProjectContext } from "../run/project-context.js";
import type { RunReport } from "../run/run-report.js";
import { batchLimits } from "../streams/batch-limits.js";
import { openStreamSource } from "../streams/open-stream-source.js";
import type { BatchLimits, StreamMessage, StreamSource } from "../streams/stream-source.js";
import { anyPublishedSql } from "../warehouse/stream-positions-sql.js";
import type { Warehouse } from "../warehouse/warehouse.js";
import { assertKnownPipelines } from "./known-pipelines.js";
import { retryPolicy } from "./pipeline-retries.js";
import { PUBLISHED_NOT_ACKNOWLEDGED, publishStreamBatch, type StreamBatchOutcome } from "./stream-batch.js";
import { ledgerPruner } from "./stream-prune.js";

/** Options of {@link runStreamWorkers}. */
export interface StreamWorkerOptions {
  /** Only these pipelines (default: every stream pipeline of the project). */
  readonly pipelines?: readonly string[] | undefined;
  /** A pipeline stops after this long without a message; the worker returns when all have. */
  readonly exitWhenIdleMs?: number | undefined;
  /** Stops pulling; the batch being published is finished, one pulled but not yet publishing is abandoned. */
  readonly signal?: AbortSignal | undefined;
  readonly onReport?: ((report: RunReport, outcome: StreamBatchOutcome) => void) | undefined;
  /** Notices for a human: connecting, retrying, redeliveries recognised. */
  readonly onEvent?: ((message: string) => void) | undefined;
  /**
   * True when another writer of this process waits for the warehouse (`sluice watch`, see warehouseTurns):
   * the worker then lets go of it after the batch instead of keeping it while batches flow.
   */
  readonly warehouseWanted?: (() => boolean) | undefined;
  /** The `sluice worker` consuming: each batch's run record names it (as the queued file runs it runs). */
  readonly worker?: string | undefined;
}

/** What a worker did, per pipeline. */
export interface StreamWorkerSummary {
  readonly pipelines: readonly {
    readonly pipeline: string;
    readonly batches: number;
    readonly failed: number;
    readonly messages: number;
    readonly redelivered: number;
    readonly poison: number;
  }[];
}

/** The stream pipelines of a project (`source: { stream: ... }`). */
export function streamPipelines(ctx: ProjectContext): string[] {
  return Object.entries(ctx.project.config.pipelines)
    .filter(([, p]) => "stream" in p.source)
    .map(([name]) => name);
}

/**
 * Consumes the project's stream pipelines until `signal` aborts (or all are idle for `exitWhenIdleMs`):
 * each pulls micro-batches and publishes them exactly once (see publishStreamBatch). The warehouse is
 * open while batches flow and let go when every pipeline is idle. Throws when a stream cannot be reached
 * at start (after the pipeline's retries), once the other pipelines have stopped too.
 *
 * @example
 * await runStreamWorkers(ctx, { exitWhenIdleMs: 5000, onReport: (r) => console.log(r.run_id) });
 */
export async function runStreamWorkers(
  ctx: ProjectContext,
  options: StreamWorkerOptions = {},
): Promise<StreamWorkerSummary> {
  const all = streamPipelines(ctx);
  const names = options.pipelines && options.pipelines.length > 0 ? [...options.pipelines] : all;
  assertKnownPipelines(ctx.project.config.pipelines, names);
  // A new project's local landing zone may not exist yet: batches are written there.
  const landingRoot = ctx.landing.localPath("");
  if (landingRoot) mkdirSync(landingRoot, { recursive: true });
  const holder = warehouseHolder(ctx, options.warehouseWanted, smallBatchesOnly(ctx, names));
  // A pipeline that fails stops the others (each finishes its batch), so none uses the warehouse after it
  // is let go below.
  const stop = new AbortController();
  const onAbort = () => stop.abort(options.signal?.reason);
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const consumerOptions = { ...options, signal: stop.signal };
  const idle = new Set<string>();
  const onIdle = async (name: string, isIdle: boolean) => {
    if (!isIdle) return void idle.delete(name);
    idle.add(name);
    if (idle.size === names.length) await holder.release();
  };
  try {
    const settled = await Promise.allSettled(
      names.map((name) => {
        const pipeline = ctx.project.config.pipelines[name]!;
        return consumePipeline(ctx, holder, name, pipeline, consumerOptions, onIdle).catch((error) => {
          stop.abort(error);
          throw error;
        });
      }),
    );
    const failed = settled.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    return { pipelines: settled.map((r) => (r as PromiseFulfilledResult<PipelineSummary>).value) };
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    await holder.release();
  }
}

interface WarehouseHolder {
  /** Runs `fn` with the warehouse, opened on first use; one at a time (the embedded warehouse has one writer). */
  use<T>(fn: (warehouse: Warehouse) => Promise<T>): Promise<T>;
  release(): Promise<void>;
}

type PipelineSummary = StreamWorkerSummary["pipelines"][number];

function warehouseHolder(ctx: ProjectContext, wanted?: () => boolean, oneThread = false): WarehouseHolder {
  let open: Warehouse | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = chain.then(fn, fn);
    chain = next.catch(() => undefined);
    return next;
  };
  return {
    use: (fn) =>
      serial(async () => {
        open ??= await openWarehouse(ctx, oneThread);
        try {
          return await fn(open);
        } finally {
          // Another writer of the process waits: it gets the warehouse between two batches.
          if (wanted?.()) {
            const w = open;
            open = undefined;
            await w.close();
          }
        }
      }),
    release: () =>
      serial(async () => {
        const w = open;
        open = undefined;
        await w?.close();
      }),
  };
}

/** The worker's own warehouse; its engine on one thread when asked (see smallBatchesOnly). */
async function openWarehouse(ctx: ProjectContext, oneThread: boolean): Promise<Warehouse> {
  const warehouse = await ctx.openWarehouse();
  if (oneThread) await warehouse.engine.run("SET threads = 1").catch(() => undefined);
  return warehouse;
}

async function consumePipeline(
  ctx: ProjectContext,
  holder: WarehouseHolder,
  name: string,
  pipeline: PipelineConfig,
  options: StreamWorkerOptions,
  onIdle: (name: string, idle: boolean) => Promise<void>,
): Promise<PipelineSummary> {
  const config = pipeline.source as StreamSourceConfig;
  const event = (message: string) => options.onEvent?.(`${name}: ${message}`);
  const signal = options.signal;
  const policy = retryPolicy(pipeline, name);
  const source = await openStreamSource(config);
  const summary = { pipeline: name, batches: 0, failed: 0, messages: 0, redelivered: 0, poison: 0 };
  try {
    await withRetry(() => source.connect(event), {
      ...policy,
      signal,
      onRetry: ({ error, delayMs }) => event(`${asSluiceError(error).message}; retrying in ${delayMs} ms`),
    });
  } catch (error) {
    await source.close();
    // Stopped while connecting: nothing was pulled, a clean stop.
    if (signal?.aborted) return summary;
    throw error;
  }
  await trustFirstDeliveries(holder, name, source);
  const pruner = ledgerPruner(name, source, holder.use, event);
  let next: Promise<Pulled> | undefined;
  try {
    event(`consuming ${source.describe}`);
    const limits = batchLimits(config);
    let idleSince = Date.now();
    let pullFailures = 0;
    while (!signal?.aborted) {
      const pulled = await (next ?? pullBatch(source, limits, signal));
      next = undefined;
      if ("error" in pulled) {
        if (signal?.aborted) break;
        // A stream that no longer exists is no outage: waiting would not bring it back.
        if (isTerminal(pulled.error)) throw pulled.error;
        // An unreachable broker is not an idle stream: --exit-when-idle counts from when it answers again.
        idleSince = Date.now();
        const delay = backoffDelay(++pullFailures, policy.baseMs, policy.maxDelayMs, Math.random);
        event(`${redactUrls(asSluiceError(pulled.error).message)}; pulling again in ${delay} ms`);
        await abortableSleep(delay, signal).catch(() => undefined);
        continue;
      }
      pullFailures = 0;
      const { messages } = pulled;
      if (messages.length === 0) {
        // Before the warehouse is let go below: pruning needs it.
        await pruner.idle();
        await onIdle(name, true);
        if (options.exitWhenIdleMs !== undefined && Date.now() - idleSince >= options.exitWhenIdleMs) break;
        continue;
      }
      // Pulled but not publishing yet: abandoned on a stop (the broker delivers them again).
      if (signal?.aborted) {
        await release(source, pulled);
        break;
      }
      await onIdle(name, false);
      const lag = await source.lag().catch(() => undefined);
      // The next batch is pulled while this one publishes (two in memory at most: max_bytes × 2); it is
      // published after this one, so a redelivery in it of this batch's messages meets the ledger.
      next = pullBatch(source, limits, signal);
      const outcome = await publishWithRetries(ctx, holder, name, pipeline, source, messages, lag, {
        policy,
        signal,
        event,
        worker: options.worker,
        onFailed: (failed) => {
          summary.failed++;
          if (failed.report) options.onReport?.(failed.report, failed);
        },
      });
      idleSince = Date.now();
      if (outcome) await pruner.published();
      summary.messages += outcome?.acked ?? 0;
      summary.redelivered += outcome?.redelivered ?? 0;
      if (outcome?.report) {
        summary.batches++;
        summary.poison += outcome.poison.length;
        options.onReport?.(outcome.report, outcome);
      } else if (outcome && outcome.redelivered > 0) {
        event(`${outcome.redelivered} redelivered message(s) were published before: acknowledged`);
      }
    }
  } finally {
    // A pull still running is let finish (the signal stops it); what it took is given back.
    if (next) await release(source, await next);
    await source.close();
  }
  return summary;
}

/**
 * A consumer created by this connect marks every message redelivered, so each batch asks the ledger about
 * all of its positions (~50 ms of DuckDB CPU per 10,000). When the ledger holds none of the pipeline's
 * positions, no first delivery can have been published before: only the broker's redeliveries are asked
 * about. Best effort: when the ledger cannot be read now, every message is still asked about.
 */
async function trustFirstDeliveries(
  holder: WarehouseHolder,
  name: string,
  source: StreamSource,
): Promise<void> {
  if (!source.createdConsumer?.()) return;
  const published = await holder
    .use(async (w) => (await w.query(anyPublishedSql(name)))[0]?.published)
    .catch(() => true);
  if (published === false) source.nothingPublishedBefore?.();
}

/** A pull error the source says will not pass (a deleted NATS stream): the worker stops with it. */
function isTerminal(error: unknown): boolean {
  return error instanceof SluiceError && error.code === "STREAM_ERROR" && !error.transient;
}

type Pulled = { readonly messages: StreamMessage[] } | { readonly error: unknown };

/** One pull, its failure as a value: a pull started ahead of its turn must not reject unawaited. */
async function pullBatch(source: StreamSource, limits: BatchLimits, signal?: AbortSignal): Promise<Pulled> {
  try {
    return { messages: await source.pull(limits, signal) };
  } catch (error) {
    return { error };
  }
}

/** Gives back an abandoned batch (best effort: unacknowledged, it is delivered again either way). */
async function release(source: StreamSource, pulled: Pulled): Promise<void> {
  if ("messages" in pulled && pulled.messages.length > 0) {
    await source.release(pulled.messages.map((m) => m.position)).catch(() => undefined);
  }
}

/**
 * Publishes a batch, again after a failure (backoff per the pipeline's `retries:`) until it is published
 * or the worker stops (the batch is then left to the broker's redelivery). Undefined when stopped first.
 */
async function publishWithRetries(
  ctx: ProjectContext,
  holder: WarehouseHolder,
  name: string,
  pipeline: PipelineConfig,
  source: StreamSource,
  pulled: Awaited<ReturnType<StreamSource["pull"]>>,
  lag: Awaited<ReturnType<StreamSource["lag"]>> | undefined,
  context: {
    readonly policy: ReturnType<typeof retryPolicy>;
    readonly signal?: AbortSignal | undefined;
    readonly event: (message: string) => void;
    readonly worker?: string | undefined;
    /** A failed attempt's run (recorded as failed; its messages stay unacknowledged). */
    readonly onFailed: (outcome: StreamBatchOutcome) => void;
  },
): Promise<StreamBatchOutcome | undefined> {
  let messages = pulled;
  for (let attempt = 1; ; attempt++) {
    let outcome: StreamBatchOutcome | undefined;
    let problem: string | undefined;
    try {
      outcome = await holder.use((w) =>
        publishStreamBatch(ctx, w, name, pipeline, source, messages, lag, context.worker),
      );
      if (outcome.report === null || outcome.report.status === "succeeded") return outcome;
      problem = outcome.report.error ?? "the batch failed";
    } catch (error) {
      problem = redactUrls(asSluiceError(error).message);
    }
    if (outcome?.report) context.onFailed(outcome);
    if (context.signal?.aborted) return undefined;
    const delay = backoffDelay(attempt, context.policy.baseMs, context.policy.maxDelayMs, Math.random);
    const what = problem.startsWith(PUBLISHED_NOT_ACKNOWLEDGED)
      ? `batch ${problem}`
      : `batch not published (${problem})`;
    context.event(`${what}; trying again in ${delay} ms`);
    await abortableSleep(delay, context.signal).catch(() => undefined);
    if (context.signal?.aborted) return undefined;
    // A failed attempt may have published before it failed: the next one asks the ledger about every message.
    messages = messages.map((m) => ({ ...m, redelivered: true }));
  }
}

/**
 * Below one DuckDB row group (122,880 rows) a batch's statements have nothing to split between threads:
 * a second thread only waits for work, and on a busy machine its waiting cost about as much CPU as the
 * work itself (twice the CPU, and twice the wall time, for one 10,000-message batch's staging). When no
 * pipeline of the worker takes larger batches, its warehouse's engine runs on one thread.
 */
function smallBatchesOnly(ctx: ProjectContext, names: readonly string[]): boolean {
  return names.every((name) => {
    const source = ctx.project.config.pipelines[name]?.source as StreamSourceConfig;
    return batchLimits(source).maxRows <= ONE_THREAD_ROWS;
  });
}

/** DuckDB's row group: the unit its scans are split into between threads. */
const ONE_THREAD_ROWS = 122_880;
