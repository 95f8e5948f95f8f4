import { randomUUID } from "node:crypto";
import type { PipelineConfig } from "../config/schema.js";
import { formatDuration, parseDuration } from "../durations.js";
import { asSluiceError } from "../errors.js";
import { isTransientError, type RetryOptions, retriedBelow, withRetry } from "../resilience/retry.js";
import type { ProjectContext } from "../run/project-context.js";
import { type PipelineRunOptions, runFilePipeline } from "../run/run-pipeline.js";
import type { RunReport } from "../run/run-report.js";
import type { Warehouse } from "../warehouse/warehouse.js";
import { lineageEmitter } from "./lineage-emitter.js";
import { runEvent } from "./openlineage-events.js";
import { recordTableSize } from "./record-table-size.js";

/** Retries when a pipeline sets no `retries:` (short: an interactive run should not hang for minutes). */
const DEFAULT_RETRIES = { max: 2, base: "500ms", max_delay: "5s" } as const;

/**
 * The retry policy of a pipeline: its `retries:` block, or 2 quick retries when it has none.
 *
 * @example
 * retryPolicy(config.pipelines.orders) // { max: 5, baseMs: 1000, maxDelayMs: 60000 }
 */
export function retryPolicy(
  pipeline: PipelineConfig,
  name = "?",
): Pick<RetryOptions, "max" | "baseMs" | "maxDelayMs"> {
  const r = pipeline.retries ?? DEFAULT_RETRIES;
  return {
    max: r.max,
    baseMs: parseDuration(r.base, `pipelines.${name}.retries.base`),
    maxDelayMs: parseDuration(r.max_delay, `pipelines.${name}.retries.max_delay`),
  };
}

/**
 * Runs one pipeline (file, SQL or table source), retrying the whole run when it fails with a transient
 * error that no backend (PostgreSQL warehouse, S3 storage) retried itself, with exponential backoff and
 * jitter. Every attempt is atomic: a failed attempt published nothing and left its files in
 * place, so a run that exhausts its retries is reported failed and is simply re-runnable. Never throws for a
 * pipeline failure: the failure is in the returned report.
 *
 * @example
 * const report = await runWithRetries(ctx, warehouse, "orders", config.pipelines.orders, {});
 */
export async function runWithRetries(
  ctx: ProjectContext,
  warehouse: Warehouse,
  name: string,
  pipeline: PipelineConfig,
  options: PipelineRunOptions & { readonly signal?: AbortSignal },
): Promise<RunReport> {
  const lineage = lineageEmitter(ctx);
  if (!lineage) {
    const report = await runAttempts(ctx, warehouse, name, pipeline, options);
    await recordTableSize(ctx, warehouse, report);
    return report;
  }
  // START goes out when the run starts work (its first progress); a check that found nothing new emits nothing.
  const runId = randomUUID();
  let started = false;
  const start = (at: Date) => {
    if (started) return;
    started = true;
    lineage.emit(
      runEvent("START", { runId, pipeline: name, config: pipeline, namespaces: lineage.namespaces, at }),
    );
  };
  const report = await runAttempts(ctx, warehouse, name, pipeline, {
    ...options,
    onProgress: (progress) => {
      start(new Date());
      options.onProgress?.(progress);
    },
  });
  await recordTableSize(ctx, warehouse, report);
  if (started || report.status !== "skipped") {
    start(new Date(report.started_at));
    const type = report.status === "failed" ? "FAIL" : "COMPLETE";
    lineage.emit(
      runEvent(type, {
        runId,
        pipeline: name,
        config: pipeline,
        report,
        namespaces: lineage.namespaces,
        at: new Date(),
      }),
    );
  }
  await lineage.flush();
  return report;
}

async function runAttempts(
  ctx: ProjectContext,
  warehouse: Warehouse,
  name: string,
  pipeline: PipelineConfig,
  options: PipelineRunOptions & { readonly signal?: AbortSignal },
): Promise<RunReport> {
  const policy = retryPolicy(pipeline, name);
  try {
    return await withRetry(() => runFilePipeline(ctx, warehouse, name, pipeline, options), {
      ...policy,
      // One level retries each failure: not one a backend already retried with its own budget (PostgreSQL,
      // S3), nor one an open breaker refused (it already decided the backend is down).
      isTransient: (error) =>
        isTransientError(error) && asSluiceError(error).code !== "CIRCUIT_OPEN" && !retriedBelow(error),
      signal: options.signal,
      onRetry: ({ attempt, error, delayMs }) =>
        ctx.notice(
          `${name}: attempt ${attempt} failed (${asSluiceError(error).message}); retrying in ${formatDuration(delayMs)}`,
        ),
    });
  } catch (error) {
    const report = reportOf(error);
    if (!report) throw error;
    report.error = asSluiceError(error).message;
    return report;
  }
}

/** The run report a failed run attached to its error (withRetry may wrap it as the cause). */
function reportOf(error: unknown): RunReport | undefined {
  for (let e = error as { report?: RunReport; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.report) return e.report;
  }
  return undefined;
}
