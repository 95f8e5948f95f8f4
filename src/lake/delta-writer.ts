import { randomUUID } from "node:crypto";
import type { DuckDBConnection } from "@duckdb/node-api";
import { firstLine, SluiceError } from "../errors.js";
import { quoteIdent } from "../plan/sql-text.js";
import { parseSize, writeDataFiles } from "./data-files.js";
import { commitActions } from "./delta-commit.js";
import type { MetadataAction, ProtocolAction } from "./delta-log.js";
import { type DeltaStructField, type DeltaType, deltaToDuckType, duckToDeltaType } from "./delta-schema.js";
import { assertWritable, type DeltaSnapshot, loadSnapshot } from "./delta-snapshot.js";
import { deltaWriteActions } from "./delta-write-actions.js";
import { describeTable, type LakeTable, tableFile } from "./lake-table.js";
import { planRewrite } from "./plan-rewrite.js";

/** Options of {@link writeDelta}. */
export interface DeltaWriteOptions {
  /** append (default) | overwrite | replace_partitions (replaceWhere on the batch's partitions) | merge (by `keys`). */
  readonly mode?: "append" | "overwrite" | "replace_partitions" | "merge";
  /** Partition columns for a new table (must match an existing table's). */
  readonly partitionBy?: readonly string[];
  /** Merge keys (mode merge). */
  readonly keys?: readonly string[];
  readonly compression?: "zstd" | "snappy" | "gzip" | "none";
  /** Bytes or a size like "128MB". */
  readonly targetFileSize?: number | string;
  readonly rowGroupSize?: number;
  /** Idempotency: `txn.appId` (the pipeline) and `txn.version` (the run sequence number). */
  readonly appId?: string;
  readonly txnVersion?: number;
  /**
   * Whether a table whose txn for `appId` already reaches `txnVersion` makes the write a no-op (default):
   * right when the version names one write. Off when the caller numbers its txns past the table's and
   * recognises its own retries another way (a version two writers can both take names neither).
   */
  readonly txnSkip?: boolean;
  /** Keep DuckDB TIMESTAMP as Delta timestamp_ntz (needs reader feature timestampNtz). Default: write UTC `timestamp`. */
  readonly timestampNtz?: boolean;
  readonly tableName?: string;
  readonly maxRetries?: number;
  readonly checkpointInterval?: number;
  /**
   * Append/replace_partitions: an SQL predicate over the table's columns; rows matching it are removed in the
   * same commit (files holding them are rewritten without them). Sluice uses it for `--force` reloads.
   */
  readonly deleteWhere?: string;
  /** Extra `commitInfo` fields (e.g. the run id). */
  readonly commitInfo?: Readonly<Record<string, unknown>>;
}

/** Result of {@link writeDelta}. */
export interface DeltaWriteResult {
  /** Committed version; null when `txn` shows this run was already committed (nothing written). */
  readonly version: number | null;
  readonly skipped: boolean;
  readonly filesAdded: number;
  readonly filesRemoved: number;
  readonly rowsWritten: number;
  readonly retries: number;
}

/**
 * Publishes the rows of a DuckDB query (or table name) into a Delta table: one bulk
 * Parquet COPY, per-file stats, upload, then an optimistic commit. Creates the table
 * on first write; evolves the schema when the batch has new columns.
 *
 * @example
 * await writeDelta(con, { storage: lake, path: "orders" }, "SELECT * FROM staged",
 *   { mode: "append", partitionBy: ["order_year"], appId: "orders", txnVersion: 42 });
 */
export async function writeDelta(
  con: DuckDBConnection,
  table: LakeTable,
  source: string,
  options: DeltaWriteOptions = {},
): Promise<DeltaWriteResult> {
  const mode = options.mode ?? "append";
  const snapshot = await tryLoadSnapshot(con, table);
  if (snapshot) assertWritable(snapshot);
  const skipped: DeltaWriteResult = {
    version: null,
    skipped: true,
    filesAdded: 0,
    filesRemoved: 0,
    rowsWritten: 0,
    retries: 0,
  };
  if (
    options.appId !== undefined &&
    options.txnVersion !== undefined &&
    snapshot &&
    options.txnSkip !== false
  ) {
    const seen = snapshot.txns.get(options.appId);
    if (seen !== undefined && seen >= options.txnVersion) return skipped;
  }
  if (mode === "merge" && (!options.keys || options.keys.length === 0)) {
    throw new SluiceError("CONFIG_INVALID", `${describeTable(table)}: merge into a Delta table needs keys`);
  }
  const sourceSql = /^\s*(select|with|from|values|\()/i.test(source)
    ? source
    : `SELECT * FROM ${source.split(".").map(quoteIdent).join(".")}`;
  const batch = `__sluice_batch_${randomUUID().replaceAll("-", "")}`;
  let cleanupRead: (() => Promise<void>) | undefined;
  try {
    const materialize = mode === "merge";
    if (materialize) await con.run(`CREATE TEMP TABLE ${quoteIdent(batch)} AS ${sourceSql}`);
    const batchSql = materialize ? `SELECT * FROM ${quoteIdent(batch)}` : sourceSql;
    const columns = await describeQuery(con, batchSql, table);
    const plan = planSchema(table, snapshot, columns, options);

    const rewrite = await planRewrite(con, snapshot, {
      mode,
      keys: options.keys,
      deleteWhere: options.deleteWhere,
      batch,
      batchSql,
      projection: plan.projection,
    });
    cleanupRead = rewrite.cleanup;
    let { removed, intent } = rewrite;
    const written = await writeDataFiles(con, table, rewrite.sql, plan.fields, {
      partitionColumns: plan.partitionColumns,
      compression: options.compression ?? "zstd",
      targetFileSize: parseSize(options.targetFileSize ?? "128MB"),
      rowGroupSize: options.rowGroupSize ?? 100_000,
    });
    if (snapshot && mode === "replace_partitions") {
      const key = (pv: Readonly<Record<string, string | null>>) =>
        JSON.stringify(plan.partitionColumns.map((c) => pv[c] ?? null));
      const touched = new Set(written.map((w) => key(w.add.partitionValues)));
      removed =
        plan.partitionColumns.length === 0
          ? [...snapshot.files]
          : snapshot.files.filter((f) => touched.has(key(f.partitionValues)));
      intent =
        plan.partitionColumns.length === 0
          ? { isolation: "read-all" }
          : { isolation: "read-partitions", partitions: touched, partitionColumns: plan.partitionColumns };
    }
    const now = Date.now();
    const actions = deltaWriteActions({ mode, options, isNew: !snapshot, plan, removed, written, now });
    const txn =
      options.appId !== undefined && options.txnVersion !== undefined
        ? { appId: options.appId, version: options.txnVersion }
        : undefined;
    const outcome = await commitActions(
      con,
      table,
      snapshot?.version ?? -1,
      actions,
      txn && options.txnSkip !== false ? { ...intent, txn } : intent,
      {
        maxRetries: options.maxRetries,
        checkpointInterval: options.checkpointInterval,
      },
    );
    if (outcome.version === null) {
      for (const w of written) await table.storage.delete(tableFile(table, decodeURIComponent(w.add.path)));
      return { ...skipped, retries: outcome.retries };
    }
    return {
      version: outcome.version,
      skipped: false,
      filesAdded: written.length,
      filesRemoved: removed.length,
      rowsWritten: written.reduce((s, w) => s + w.rows, 0),
      retries: outcome.retries,
    };
  } finally {
    await con.run(`DROP TABLE IF EXISTS ${quoteIdent(batch)}`).catch(() => undefined);
    await cleanupRead?.();
  }
}

/**
 * Loads the latest snapshot, or undefined when the folder holds no Delta table yet.
 *
 * @example
 * const snap = await tryLoadSnapshot(con, table);
 */
export async function tryLoadSnapshot(
  con: DuckDBConnection,
  table: LakeTable,
): Promise<DeltaSnapshot | undefined> {
  const log = tableFile(table, "_delta_log");
  for await (const entry of table.storage.list(log)) {
    // A commit or checkpoint directly in the log: not a writer's temporary copy under `.tmp/`
    // (`.tmp/<version>.json.<uuid>`, see coordinated-log-storage.ts), present before the first commit is.
    if (/^\d{20}\.(json$|checkpoint\.)/.test(entry.path.slice(log.length + 1))) {
      return loadSnapshot(con, table, { checkReadable: false });
    }
  }
  return undefined;
}

async function describeQuery(
  con: DuckDBConnection,
  sql: string,
  table: LakeTable,
): Promise<{ name: string; type: string }[]> {
  try {
    const reader = await con.runAndReadAll(`DESCRIBE ${sql}`);
    return reader.getRows().map((r) => ({ name: String(r[0]), type: String(r[1]) }));
  } catch (error) {
    throw new SluiceError(
      "LAKE_ERROR",
      `${describeTable(table)}: the rows to publish cannot be read: ${firstLine((error as Error).message)}`,
      { cause: error },
    );
  }
}

interface SchemaPlan {
  readonly fields: readonly DeltaStructField[];
  readonly projection: readonly string[];
  readonly partitionColumns: readonly string[];
  readonly protocol: ProtocolAction;
  readonly protocolChanged: boolean;
  /** New or evolved metaData action, when one must be committed. */
  readonly metadata: MetadataAction | undefined;
}

/** Delta type and write expression of a batch column, casting to the table's type when it has one. */
function columnPlan(name: string, duckType: string, existing: DeltaType | undefined, ntz: boolean) {
  const col = quoteIdent(name);
  if (existing !== undefined) {
    const target = deltaToDuckType(existing);
    const sql = target === duckType ? col : `CAST(${col} AS ${target}) AS ${col}`;
    return { type: existing, sql };
  }
  const upper = duckType.toUpperCase();
  if (/^TIMESTAMP(_S|_MS|_NS)?$/.test(upper) && !ntz) {
    // Naive timestamps are taken as UTC; make_timestamptz(epoch_us(..)) equals timezone('UTC', ..) without ICU per row.
    return { type: "timestamp", sql: `make_timestamptz(epoch_us(CAST(${col} AS TIMESTAMP))) AS ${col}` };
  }
  if (/^TIMESTAMP(_S|_MS|_NS)$/.test(upper))
    return { type: "timestamp_ntz", sql: `CAST(${col} AS TIMESTAMP) AS ${col}` };
  const type = duckToDeltaType(duckType);
  const target = deltaToDuckType(type);
  return { type, sql: target === duckType ? col : `CAST(${col} AS ${target}) AS ${col}` };
}

function planSchema(
  table: LakeTable,
  snapshot: DeltaSnapshot | undefined,
  columns: readonly { name: string; type: string }[],
  options: DeltaWriteOptions,
): SchemaPlan {
  const existing = new Map(snapshot?.schema.fields.map((f) => [f.name, f]) ?? []);
  const lower = new Map([...existing.keys()].map((k) => [k.toLowerCase(), k]));
  const partitionColumns = snapshot ? snapshot.metadata.partitionColumns : (options.partitionBy ?? []);
  if (snapshot && options.partitionBy && options.partitionBy.join(",") !== partitionColumns.join(",")) {
    throw new SluiceError(
      "LAKE_ERROR",
      `${describeTable(table)}: the table is partitioned by [${partitionColumns.join(", ")}], not [${options.partitionBy.join(", ")}]`,
    );
  }
  const batchNames = new Set(columns.map((c) => c.name));
  for (const p of partitionColumns) {
    if (!batchNames.has(p))
      throw new SluiceError(
        "LAKE_ERROR",
        `${describeTable(table)}: partition column ${p} is missing from the rows`,
      );
  }
  const projection: string[] = [];
  const added: DeltaStructField[] = [];
  const batchFields: DeltaStructField[] = [];
  for (const c of columns) {
    const known = existing.get(c.name) ?? existing.get(lower.get(c.name.toLowerCase()) ?? "");
    const plan = columnPlan(c.name, c.type, known?.type, options.timestampNtz === true);
    projection.push(
      known && known.name !== c.name
        ? `${plan.sql.replace(/ AS .*$/, "")} AS ${quoteIdent(known.name)}`
        : plan.sql,
    );
    const field = known ?? { name: c.name, type: plan.type, nullable: true, metadata: {} };
    batchFields.push(field);
    if (!known) added.push(field);
  }
  const allFields = [...(snapshot?.schema.fields ?? []), ...added];
  const usesNtz = JSON.stringify(allFields).includes('"timestamp_ntz"');
  const base: ProtocolAction = snapshot?.protocol ?? { minReaderVersion: 1, minWriterVersion: 2 };
  let protocol = base;
  let protocolChanged = false;
  if (usesNtz && !(base.readerFeatures ?? []).includes("timestampNtz")) {
    protocol = {
      minReaderVersion: 3,
      minWriterVersion: 7,
      readerFeatures: [...(base.readerFeatures ?? []), "timestampNtz"],
      writerFeatures: [
        ...(base.writerFeatures ?? []),
        ...(base.minWriterVersion >= 2 && base.minWriterVersion < 7 ? ["appendOnly", "invariants"] : []),
        "timestampNtz",
      ],
    };
    protocolChanged = snapshot !== undefined;
  }
  let metadata: MetadataAction | undefined;
  if (!snapshot || added.length > 0) {
    metadata = {
      id: snapshot?.metadata.id ?? randomUUID(),
      name: snapshot?.metadata.name ?? options.tableName ?? null,
      description: snapshot?.metadata.description ?? null,
      format: { provider: "parquet", options: {} },
      schemaString: JSON.stringify({ type: "struct", fields: allFields }),
      partitionColumns: [...partitionColumns],
      configuration: snapshot?.metadata.configuration ?? {},
      createdTime: snapshot?.metadata.createdTime ?? Date.now(),
    };
  }
  return { fields: batchFields, projection, partitionColumns, protocol, protocolChanged, metadata };
}
