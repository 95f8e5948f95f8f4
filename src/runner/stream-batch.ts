import { createHash } from "node:crypto";
import type { PipelineConfig } from "../config/schema.js";
import { SluiceError } from "../errors.js";
import type { ProjectContext } from "../run/project-context.js";
import { runFilePipeline } from "../run/run-pipeline.js";
import type { RunReport } from "../run/run-report.js";
import { batchChunk } from "../streams/batch-chunk.js";
import type { PoisonMessage, StreamLag, StreamMessage, StreamSource } from "../streams/stream-source.js";
import { publishedPositionsSql } from "../warehouse/stream-positions-sql.js";
import type { Warehouse } from "../warehouse/warehouse.js";

/** Where a stream batch waits in the landing zone while it is published; archived from there. */
export function streamStagingFolder(pipeline: string): string {
  return `streams/${pipeline}`;
}

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
 * Publishes one pulled batch through the file pipeline, exactly once:
 * 1. redelivered messages whose positions a published batch holds are acknowledged and left out;
 * 2. the rest becomes one JSONL chunk in `streams/<pipeline>/`, its positions recorded under that path;
 * 3. the chunk is run like a file: stage, check, quarantine (poison lines included), shape, publish (the
 *    ledger row of its path commits with its rows), archive to `archive/<pipeline>/YYYY/MM/`;
 * 4. only then are the messages acknowledged (and poison ones republished to the dead letter).
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
  messages: readonly StreamMessage[],
  lag: StreamLag | undefined,
): Promise<StreamBatchOutcome> {
  const again = messages.filter((m) => m.redelivered).map((m) => m.position);
  const published = new Set<string>();
  if (again.length > 0) {
    for (const row of await warehouse.query(publishedPositionsSql(name, again))) {
      published.add(String(row.position));
    }
    if (published.size > 0) await source.ack([...published]);
  }
  const fresh = messages.filter((m) => !published.has(m.position));
  if (fresh.length === 0)
    return { report: null, acked: published.size, redelivered: published.size, poison: [] };

  const chunk = batchChunk(fresh);
  const path = `${streamStagingFolder(name)}/${batchName(fresh)}.jsonl`;
  await ctx.landing.writeFile(path, await distinctContent(warehouse, name, chunk.text));
  await warehouse.recordStreamPositions(
    name,
    path,
    fresh.map((m) => m.position),
  );
  const entry = await ctx.landing.stat(path);
  if (!entry) throw new SluiceError("STORAGE_ERROR", `${path}: the batch just written is missing`);
  const report = await runFilePipeline(
    ctx,
    warehouse,
    name,
    asFilePipeline(pipeline, path, chunk.longestLine),
    {
      entries: [entry],
    },
  );
  const loaded = report.status === "succeeded" && report.files[0]?.status === "loaded";
  if (!loaded) {
    // Not published: the broker delivers these messages again; their chunk is not kept.
    await ctx.landing.delete(path).catch(() => undefined);
    return { report, acked: published.size, redelivered: published.size, poison: chunk.poison };
  }
  await source.deadLetter(chunk.poison);
  await source.ack(fresh.map((m) => m.position));
  const first = fresh[0]!;
  const last = fresh[fresh.length - 1]!;
  const stream = {
    source: source.describe,
    messages: fresh.length,
    poison: chunk.poison.length,
    redelivered_published: published.size,
    first_position: first.position,
    last_position: last.position,
    pending: lag?.pending ?? null,
    oldest_age_ms: lag?.oldestAgeMs ?? null,
  };
  Object.assign(report, { stream });
  // Facts about the broker, learned after the commit: best effort (the batch is published either way).
  await warehouse
    .updateRunReport(report.run_id, report as unknown as Record<string, unknown>)
    .catch(() => undefined);
  return { report, acked: published.size + fresh.length, redelivered: published.size, poison: chunk.poison };
}

/**
 * The pipeline as the file run takes it: its source is the batch's chunk (JSONL, poison lines quarantined),
 * and `max_failure_rate` cannot hold a batch back (that would stop the stream behind it).
 */
function asFilePipeline(pipeline: PipelineConfig, path: string, longestLine: number): PipelineConfig {
  return {
    ...pipeline,
    // A message as large as the broker takes is one line: the read's line limit (2 MB) grows to hold it.
    source: {
      path,
      format: "jsonl",
      on_malformed: "quarantine",
      options: { max_line_size: Math.max(2_000_000, longestLine + 1) },
    },
    max_failure_rate: 1,
  };
}

/** `<first position>-<time>`: unique per attempt, so its ledger path names one batch only. */
function batchName(messages: readonly StreamMessage[]): string {
  const first = messages[0]?.position ?? "0";
  return `${first.replace(/[^0-9A-Za-z]+/g, "-")}-${Date.now().toString(36)}${process.pid.toString(36)}`;
}

/**
 * The chunk's text, made to differ from content the ledger already has (the ledger knows files by content:
 * a batch of the same messages' bodies as an earlier one would be skipped as a duplicate). Trailing spaces
 * on the last line change the bytes, not the records.
 */
async function distinctContent(warehouse: Warehouse, pipeline: string, text: string): Promise<string> {
  let body = text;
  for (let pad = 1; ; pad++) {
    const sha = createHash("sha256").update(body).digest("hex");
    if ((await warehouse.loadsOf(pipeline, sha)).length === 0) return body;
    body = `${text.slice(0, -1)}${" ".repeat(pad)}\n`;
  }
}
