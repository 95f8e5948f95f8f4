import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { FileSourceConfig, NestedConfig } from "../config/schema.js";
import type { OwnRecords } from "../engine/own-records.js";
import type { OwnRecordsRead } from "../engine/stage-own-records.js";
import { flattensNested } from "../plan/nested-json.js";
import type { PositionRange } from "../warehouse/position-ranges.js";
import { freeDestination } from "./move-file.js";
import type { RunContext } from "./run-context.js";
import { stageLocalFile } from "./stage-local-file.js";
import type { Attempt, RunUnit, UnitWork } from "./unit.js";

/** A stream micro-batch as the run core takes it: one JSONL chunk, known by its positions. */
export interface StreamBatch {
  /** Names the batch in the ledger (`stream:<pipeline>/<name>`) and in the archive (`<name>_<stamp>.jsonl`). */
  readonly name: string;
  /** The chunk: one JSON object per line (see streams/batch-chunk.ts). */
  readonly text: string;
  /** The batch's stream positions as ranges, claimed in its publish transaction (see RunUnit.positions). */
  readonly positions: readonly PositionRange[];
  /** Digest of the batch's stream positions: the ledger's identity of the batch. */
  readonly positionsDigest: string;
  /** The longest line's bytes: the read's line limit grows to take it. */
  readonly longestLine: number;
  /** What Sluice knows of the chunk's records (see streams/batch-chunk.ts): read in one pass where it can. */
  readonly records?: OwnRecords | undefined;
  /**
   * Facts about the batch as pulled (its `stream` object: positions, counts, lag), part of its run record
   * from the publish on: recorded in the publish transaction, not by an update of the record after it.
   */
  readonly facts?: Readonly<Record<string, unknown>> | undefined;
}

/** The ledger path of a stream batch. */
export function streamBatchPath(pipeline: string, batch: string): string {
  return `stream:${pipeline}/${batch}`;
}

/**
 * A stream micro-batch as a unit of work: staged in bulk from its JSONL chunk (written to the run's scratch
 * folder), known to the ledger by its positions' digest, archived as received once the run is published.
 *
 * @example
 * streamBatchUnit("events", { name: "1-kx2", text: '{"id":1}\n', positions: [{ first: "1", last: "1", count: 1 }], positionsDigest, longestLine: 8 })
 */
export function streamBatchUnit(pipeline: string, batch: StreamBatch): RunUnit {
  const archiveName = `${batch.name}.jsonl`;
  return {
    path: streamBatchPath(pipeline, batch.name),
    size: Buffer.byteLength(batch.text),
    positions: batch.positions,
    read: (run, attempt, work, index) => readBatch(run, attempt, work, index, batch),
    raw: {
      destination: (run, area, reserved) =>
        freeDestination(run.project.landing, area, run.name, archiveName, run.startedAt, reserved),
      keep: async (run, to) => {
        await run.project.landing.writeFile(to, batch.text);
      },
    },
  };
}

async function readBatch(
  run: RunContext,
  attempt: Attempt,
  work: UnitWork,
  index: number,
  batch: StreamBatch,
): Promise<UnitWork> {
  Object.assign(work.report, { sha256: batch.positionsDigest });
  if (batch.facts) Object.assign(attempt.report, { stream: batch.facts });
  const localPath = join(run.workDir, `stream-batch-${index}.jsonl`);
  await writeFile(localPath, batch.text);
  // Messages are JSON objects: `nested:` applies to them as to a JSON-lines file's records.
  const { nested } = attempt.mode.pipeline;
  const source: FileSourceConfig & { readonly nested?: NestedConfig } = {
    ...(flattensNested(nested) ? { nested } : {}),
    path: work.unit.path,
    format: "jsonl",
    on_malformed: "quarantine",
    // A message as large as the broker takes is one line: the read's line limit (2 MB) grows to hold it.
    options: { max_line_size: Math.max(2_000_000, batch.longestLine + 1) },
  };
  const records = batch.records;
  let ownRecords: OwnRecordsRead | undefined;
  if (records) {
    // The one-pass read takes the good lines alone: with poison in the chunk, they get a file of their own.
    const path =
      records.goodText !== undefined ? join(run.workDir, `stream-batch-${index}.records.jsonl`) : localPath;
    if (records.goodText !== undefined) await writeFile(path, records.goodText);
    ownRecords = { ...records, path, longestLine: batch.longestLine };
  }
  return stageLocalFile(run, attempt, work, index, {
    localPath,
    format: "jsonl",
    source,
    ownChunk: true,
    ownRecords,
  });
}
