import type { DuckDBConnection } from "@duckdb/node-api";
import { SluiceError } from "../errors.js";
import { parseSize, writeDataFiles } from "./data-files.js";
import { commitActions } from "./delta-commit.js";
import { type AddAction, canonicalFileKey, type DeltaAction, listDeltaLog, readCommit } from "./delta-log.js";
import { snapshotSelectSql } from "./delta-reader.js";
import { assertWritable, commitTimestamp, loadSnapshot } from "./delta-snapshot.js";
import { type ColumnPredicate, pruneFiles } from "./file-pruning.js";
import { describeTable, type LakeTable, tableFile } from "./lake-table.js";
import { deltaUriToPath, isAbsoluteDeltaPath } from "./partition-values.js";

/** One commit of a table's history. */
export interface DeltaHistoryEntry {
  readonly version: number;
  readonly timestamp: number;
  readonly operation: string | null;
  readonly operationParameters: Readonly<Record<string, unknown>>;
  readonly filesAdded: number;
  readonly filesRemoved: number;
  /** Rows added, from `stats.numRecords` of the added files, when every added file has stats. */
  readonly rowsAdded: number | null;
}

/**
 * Commits of a Delta table, newest first (commits older than the oldest kept JSON commit are absent).
 *
 * @example
 * for (const h of await history(table)) console.log(h.version, h.operation);
 */
export async function history(table: LakeTable): Promise<DeltaHistoryEntry[]> {
  const log = await listDeltaLog(table);
  const out: DeltaHistoryEntry[] = [];
  for (const version of [...log.commits.keys()].sort((a, b) => b - a)) {
    const actions = await readCommit(table, version);
    const info = actions.find((a) => a.commitInfo)?.commitInfo;
    const adds = actions.filter((a) => a.add).map((a) => a.add!);
    let rows: number | null = 0;
    for (const add of adds) {
      const n = add.stats ? (JSON.parse(add.stats) as { numRecords?: number }).numRecords : undefined;
      rows = typeof n === "number" && rows !== null ? rows + n : null;
    }
    out.push({
      version,
      timestamp: await commitTimestamp(table, log, version),
      operation: info?.operation ?? null,
      operationParameters: info?.operationParameters ?? {},
      filesAdded: adds.length,
      filesRemoved: actions.filter((a) => a.remove).length,
      rowsAdded: rows,
    });
  }
  return out;
}

/**
 * Restores the table's content as of `toVersion` with a new commit that re-adds
 * that version's files and removes the others. Fails when vacuum already deleted a needed file.
 *
 * @example
 * const { version } = await restore(con, table, 3);
 */
export async function restore(
  con: DuckDBConnection,
  table: LakeTable,
  toVersion: number,
): Promise<{ version: number; filesAdded: number; filesRemoved: number }> {
  const current = await loadSnapshot(con, table, { checkReadable: false });
  assertWritable(current);
  const target = await loadSnapshot(con, table, { version: toVersion, checkReadable: false });
  const now = new Map(current.files.map((f) => [canonicalFileKey(f.path), f]));
  const then = new Map(target.files.map((f) => [canonicalFileKey(f.path), f]));
  const toAdd = target.files.filter((f) => !now.has(canonicalFileKey(f.path)));
  const toRemove = current.files.filter((f) => !then.has(canonicalFileKey(f.path)));
  for (const f of toAdd) {
    const rel = deltaUriToPath(f.path);
    if (!isAbsoluteDeltaPath(rel) && !(await table.storage.stat(tableFile(table, rel)))) {
      throw new SluiceError(
        "LAKE_ERROR",
        `${describeTable(table)}: cannot restore version ${toVersion}: data file ${rel} was deleted (vacuumed)`,
      );
    }
  }
  const ts = Date.now();
  const actions: DeltaAction[] = [
    {
      commitInfo: {
        timestamp: ts,
        operation: "RESTORE",
        operationParameters: { version: toVersion },
        engineInfo: "Sluice",
      },
    },
  ];
  if (target.metadata.schemaString !== current.metadata.schemaString)
    actions.push({ metaData: target.metadata });
  for (const f of toRemove) actions.push({ remove: removeOf(f, ts, true) });
  for (const f of toAdd) actions.push({ add: { ...f, dataChange: true } });
  const outcome = await commitActions(con, table, current.version, actions, { isolation: "read-all" });
  return { version: outcome.version!, filesAdded: toAdd.length, filesRemoved: toRemove.length };
}

function removeOf(f: AddAction, ts: number, dataChange: boolean) {
  return {
    path: f.path,
    deletionTimestamp: ts,
    dataChange,
    extendedFileMetadata: true,
    partitionValues: f.partitionValues,
    size: f.size,
  };
}

/** Options of {@link optimize}. */
export interface OptimizeOptions {
  /** Only partitions matching these predicates (on partition columns). */
  readonly where?: readonly ColumnPredicate[];
  /** Bytes or "128MB" (default). Files under half of it count as small. */
  readonly targetFileSize?: number | string;
  readonly compression?: "zstd" | "snappy" | "gzip" | "none";
}

/**
 * Compacts small files toward the target size, per partition, in one
 * `dataChange: false` commit (readers see the same rows).
 *
 * @example
 * const r = await optimize(con, table, { where: [{ column: "year", op: "=", value: 2024 }] });
 */
export async function optimize(
  con: DuckDBConnection,
  table: LakeTable,
  options: OptimizeOptions = {},
): Promise<{ version: number | null; filesRemoved: number; filesAdded: number }> {
  const snapshot = await loadSnapshot(con, table);
  assertWritable(snapshot);
  const target = parseSize(options.targetFileSize ?? "128MB");
  const candidates = options.where ? pruneFiles(snapshot, options.where) : snapshot.files;
  const groups = new Map<string, AddAction[]>();
  for (const f of candidates) {
    if (f.size >= target / 2) continue;
    const key = JSON.stringify(snapshot.metadata.partitionColumns.map((c) => f.partitionValues[c] ?? null));
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  const ts = Date.now();
  const actions: DeltaAction[] = [];
  let removed = 0;
  let added = 0;
  for (const files of groups.values()) {
    if (files.length < 2) continue;
    const select = await snapshotSelectSql(con, snapshot, files);
    try {
      const written = await writeDataFiles(con, table, select.sql, snapshot.schema.fields, {
        partitionColumns: snapshot.metadata.partitionColumns,
        compression: options.compression ?? "zstd",
        targetFileSize: target,
      });
      for (const f of files) actions.push({ remove: removeOf(f, ts, false) });
      for (const w of written) actions.push({ add: { ...w.add, dataChange: false } });
      removed += files.length;
      added += written.length;
    } finally {
      await select.cleanup();
    }
  }
  if (actions.length === 0) return { version: null, filesRemoved: 0, filesAdded: 0 };
  actions.unshift({
    commitInfo: {
      timestamp: ts,
      operation: "OPTIMIZE",
      operationParameters: { predicate: JSON.stringify(options.where ?? []), targetFileSize: String(target) },
      engineInfo: "Sluice",
      operationMetrics: { numRemovedFiles: String(removed), numAddedFiles: String(added) },
    },
  });
  const outcome = await commitActions(con, table, snapshot.version, actions, { isolation: "append" });
  return { version: outcome.version, filesRemoved: removed, filesAdded: added };
}

/** Options of {@link vacuum}. */
export interface VacuumOptions {
  /** Keep files any version of the last `retainHours` needs; default 168 (7 days). */
  readonly retainHours?: number;
  readonly dryRun?: boolean;
  /** Allow retainHours under 168 (may break time travel and slow concurrent readers). */
  readonly allowShortRetention?: boolean;
  /** Clock for tests. */
  readonly now?: number;
}

/**
 * Deletes data files that no version inside the retention window references:
 * files neither live now nor removed after the cutoff, and older than the cutoff.
 * `dryRun` lists them without deleting.
 *
 * @example
 * const { files } = await vacuum(con, table, { dryRun: true });
 */
export async function vacuum(
  con: DuckDBConnection,
  table: LakeTable,
  options: VacuumOptions = {},
): Promise<{ files: string[]; deleted: boolean }> {
  const retainHours = options.retainHours ?? 168;
  if (retainHours < 168 && !options.allowShortRetention) {
    throw new SluiceError(
      "USAGE",
      `${describeTable(table)}: refusing to vacuum with a retention of ${retainHours}h (< 168h): versions other readers or time travel still use could lose files; pass allowShortRetention to force it`,
    );
  }
  const snapshot = await loadSnapshot(con, table, { checkReadable: false });
  assertWritable(snapshot);
  const cutoff = (options.now ?? Date.now()) - retainHours * 3_600_000;
  const keep = new Set(snapshot.files.map((f) => canonicalFileKey(f.path)));
  for (const t of snapshot.tombstones) {
    if ((t.deletionTimestamp ?? Number.POSITIVE_INFINITY) >= cutoff) keep.add(canonicalFileKey(t.path));
  }
  const base = tableFile(table, "");
  const doomed: string[] = [];
  for await (const entry of table.storage.list(table.path)) {
    const rel = base === "" ? entry.path : entry.path.slice(base.length);
    if (rel.split("/").some((seg) => seg.startsWith("_") || seg.startsWith("."))) continue;
    if (keep.has(rel)) continue;
    if (entry.mtimeMs >= cutoff) continue; // maybe an in-flight write that is not committed yet
    doomed.push(rel);
  }
  if (!options.dryRun) for (const rel of doomed) await table.storage.delete(tableFile(table, rel));
  return { files: doomed.sort(), deleted: !options.dryRun };
}
