import { createHash } from "node:crypto";
import type { PipelineConfig } from "../config/schema.js";
import { asSluiceError, SluiceError } from "../errors.js";
import type { ProjectContext } from "../run/project-context.js";
import { runRequest, runUnits } from "../run/run-pipeline.js";
import type { RunReport } from "../run/run-report.js";
import { streamBatchUnit } from "../run/stream-batch-unit.js";
import { batchChunk } from "../streams/batch-chunk.js";
import {
  oncePerPosition,
  type PoisonMessage,
  type StreamLag,
  type StreamMessage,
  type StreamSource,
} from "../streams/stream-source.js";
import { positionRanges } from "../warehouse/position-ranges.js";
import { publishedPositionsSql } from "../warehouse/stream-positions-sql.js";
import type { Warehouse } from "../warehouse/warehouse.js";

/** How the error of a batch whose acknowledgement failed after its publish committed begins. */
export const PUBLISHED_NOT_ACKNOWLEDGED = "published, not acknowledged";

/** What became of one pulled batch. */
export interface StreamBatchOutcome {
  /** The batch's run; null when every message had been published before (a redelivery). */
  readonly report: RunReport | null;
  /** Messages acknowledged: published now or recognised as published before. */
  readonly acked: number;
  /** Of those, recognised as published by an earlier batch. */
  readonly redelivered: number;
  readonly poison: readonly PoisonMessage[];
}

/**
 * Publishes one pulled batch through the file pipeline, exactly once (each position once, see
 * oncePerPosition):
 * 1. redelivered messages whose positions a published batch holds are acknowledged and left out;
 * 2. the rest becomes one JSONL chunk, a unit of work (ledger path `stream:<pipeline>/<batch>`) holding
 *    its positions;
 * 3. the unit goes through the run core's stages: stage, check, quarantine (poison lines included), shape,
 *    publish (its positions are claimed, each once per pipeline, in the transaction that commits its rows
 *    and ledger row), archive to `archive/<pipeline>/YYYY/MM/`. When another worker sharing the consumer
 *    claimed some positions first (STREAM_CONFLICT, nothing published), step 1 runs again over every
 *    message and the rest is published;
 * 4. only then are the messages acknowledged (poison ones were republished to the dead letter before).
 * A failed batch is not acknowledged: the broker delivers its messages again.
 *
 * @example
 * const outcome = await publishStreamBatch(ctx, warehouse, "events", pipeline, source, messages, lag);
 */
export async function publishStreamBatch(
  ctx: ProjectContext,
  warehouse: Warehouse,
  name: string,
  pipeline: PipelineConfig,
  source: StreamSource,
  pulled: readonly StreamMessage[],
  lag: StreamLag | undefined,
  worker?: string,
): Promise<StreamBatchOutcome> {
  const messages = oncePerPosition(pulled);
  const again = messages.filter((m) => m.redelivered).map((m) => m.position);
  const published = new Set<string>();
  if (again.length > 0) {
    for (const row of await warehouse.query(publishedPositionsSql(name, again))) {
      published.add(String(row.position));
    }
    if (published.size > 0) await ackPublished(source, [...published]);
  }
  const fresh = messages.filter((m) => !published.has(m.position));
  if (fresh.length === 0)
    return { report: null, acked: published.size, redelivered: published.size, poison: [] };

  const chunk = batchChunk(fresh);
  const positions = fresh.map((m) => m.position);
  const stream = {
    source: source.describe,
    messages: fresh.length,
    poison: chunk.poison.length,
    redelivered_published: published.size,
    first_position: positions[0],
    last_position: positions[positions.length - 1],
    pending: lag?.pending ?? null,
    oldest_age_ms: lag?.oldestAgeMs ?? null,
  };
  const batch = {
    name: batchName(fresh),
    text: chunk.text,
    positions: positionRanges(fresh),
    positionsDigest: createHash("sha256")
      .update(`stream:${positions.join("\n")}`)
      .digest("hex"),
    longestLine: chunk.longestLine,
    records: chunk.records,
    facts: stream,
  };
  // Before the publish: a crash after it would leave them recognised as published, never republished.
  // So the dead letter is at least once (a batch published again after a failure repeats its poison).
  await source.deadLetter(chunk.poison);
  const request = runRequest(ctx, warehouse, name, asFilePipeline(pipeline, batch.name), { worker });
  let report: RunReport;
  try {
    report = await runUnits(request, [streamBatchUnit(name, batch)]);
  } catch (error) {
    if (!(error instanceof SluiceError && error.code === "STREAM_CONFLICT")) throw error;
    // Another worker sharing the consumer published some of these messages first (delivered to it when
    // their ack wait ran out): the ledger is asked about every one, and only the rest is published.
    const again = await publishStreamBatch(
      ctx,
      warehouse,
      name,
      pipeline,
      source,
      fresh.map((m) => ({ ...m, redelivered: true })),
      lag,
      worker,
    );
    return { ...again, acked: again.acked + published.size, redelivered: again.redelivered + published.size };
  }
  const loaded = report.status === "succeeded" && report.files[0]?.status === "loaded";
  // Not published: the broker delivers these messages again.
  if (!loaded) return { report, acked: published.size, redelivered: published.size, poison: chunk.poison };
  await ackPublished(
    source,
    fresh.map((m) => m.position),
  );
  // The run record holds them already (written with the batch's publish).
  Object.assign(report, { stream });
  return { report, acked: published.size + fresh.length, redelivered: published.size, poison: chunk.poison };
}

/** Acknowledges published positions; a failure says they are published (they come again, recognised). */
async function ackPublished(source: StreamSource, positions: readonly string[]): Promise<void> {
  await source.ack(positions).catch((error: unknown) => {
    throw new SluiceError(
      "STREAM_ERROR",
      `${PUBLISHED_NOT_ACKNOWLEDGED} (${asSluiceError(error).message}): its messages are recognised as published when they come again`,
      { transient: true, cause: error },
    );
  });
}

/**
 * The pipeline as the run core takes it: a file-shaped source (the unit reads the chunk), and
 * `max_failure_rate` cannot hold a batch back (that would stop the stream behind it).
 */
function asFilePipeline(pipeline: PipelineConfig, batch: string): PipelineConfig {
  return {
    ...pipeline,
    source: { path: batch, format: "jsonl", on_malformed: "quarantine" },
    max_failure_rate: 1,
  };
}

/** `<first position>-<time>`: unique per attempt, so its ledger path names one batch only. */
function batchName(messages: readonly StreamMessage[]): string {
  const first = messages[0]?.position ?? "0";
  return `${first.replace(/[^0-9A-Za-z]+/g, "-")}-${Date.now().toString(36)}${process.pid.toString(36)}`;
}
