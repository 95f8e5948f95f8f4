import { isFileSource } from "../config/schema.js";
import { discoverFiles } from "../run/discover-files.js";
import type { ProjectContext } from "../run/project-context.js";
import type { StorageEntry } from "../storage/storage.js";
import { FILES_QUEUE, type FileUnit, openFileKeys, type WorkQueue } from "./work-queue.js";

/** How {@link discoverWork} groups small files into one unit. */
export interface GroupingOptions {
  /** A file at least this large is a unit of its own; smaller ones are grouped up to it (bytes). */
  readonly groupBytes: number;
  /** At most this many files in one unit. */
  readonly groupFiles: number;
}

/**
 * Lists every file pipeline's landing glob once and queues the files not already queued, as units: a
 * large file alone, small files grouped (oldest first). Runs inside the discovery job, so once per
 * interval for the whole cluster; an advisory lock keeps two overlapping discoveries from both queuing.
 * Returns how many units were queued.
 *
 * @example
 * const queued = await discoverWork(ctx, queue, { groupBytes: 8 << 20, groupFiles: 20 });
 */
export async function discoverWork(
  ctx: ProjectContext,
  queue: WorkQueue,
  grouping: GroupingOptions,
): Promise<number> {
  const client = await queue.pool.connect();
  try {
    await client.query("BEGIN");
    const { rows } = await client.query(
      "SELECT pg_try_advisory_xact_lock(hashtext('sluice:queue:discover')) AS locked",
    );
    if (!rows[0]?.locked) return 0;
    const queued = await openFileKeys(queue.pool);
    let units = 0;
    for (const [name, pipeline] of Object.entries(ctx.project.config.pipelines)) {
      if (!isFileSource(pipeline.source)) continue;
      const entries = (await discoverFiles(ctx.landing, pipeline.source.path)).filter(
        (e) => !e.refused && !queued.has(fileKey(name, e)),
      );
      for (const unit of groupFiles(name, entries, grouping)) {
        await queue.boss.send(FILES_QUEUE, unit as unknown as object);
        units++;
      }
    }
    return units;
  } finally {
    await client.query("COMMIT").catch(() => undefined);
    client.release();
  }
}

/** A file's identity in the queue: a file rewritten in place (other size or time) is new work. */
export function fileKey(pipeline: string, entry: StorageEntry): string {
  return `${pipeline}|${entry.path}|${entry.size}|${entry.etag ?? Math.round(entry.mtimeMs)}`;
}

function groupFiles(
  pipeline: string,
  entries: readonly StorageEntry[],
  grouping: GroupingOptions,
): FileUnit[] {
  const units: FileUnit[] = [];
  let files: StorageEntry[] = [];
  const flush = () => {
    if (files.length === 0) return;
    units.push({
      pipeline,
      files: files.map((f) => f.path),
      bytes: files.reduce((s, f) => s + f.size, 0),
      keys: files.map((f) => fileKey(pipeline, f)),
    });
    files = [];
  };
  let bytes = 0;
  for (const entry of entries) {
    if (entry.size >= grouping.groupBytes) {
      units.push({ pipeline, files: [entry.path], bytes: entry.size, keys: [fileKey(pipeline, entry)] });
      continue;
    }
    if (bytes + entry.size > grouping.groupBytes || files.length >= grouping.groupFiles) {
      flush();
      bytes = 0;
    }
    files.push(entry);
    bytes += entry.size;
  }
  flush();
  return units;
}
