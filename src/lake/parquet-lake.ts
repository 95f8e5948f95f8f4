import { randomUUID } from "node:crypto";
import type { DuckDBConnection } from "@duckdb/node-api";
import { firstLine, SluiceError } from "../errors.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import { parseSize, writeDataFiles } from "./data-files.js";
import { deltaSchemaFromColumns, deltaToDuckType } from "./delta-schema.js";
import { describeTable, type LakeTable, localCopies, tableFile } from "./lake-table.js";

/** One published Parquet file of a plain-Parquet lake table. */
export interface ManifestFile {
  readonly path: string;
  readonly rows: number;
  readonly size: number;
  readonly partitionValues: Readonly<Record<string, string | null>>;
}

/** `_manifests/<20-digit version>.json`: the complete set of visible files after a run. */
export interface ParquetManifest {
  readonly version: number;
  readonly runId: string;
  readonly createdAt: string;
  readonly partitionBy: readonly string[];
  /** Partition column -> DuckDB type, so readers type hive values. */
  readonly partitionTypes: Readonly<Record<string, string>>;
  readonly files: readonly ManifestFile[];
  /** Provenance of the write (Sluice stores its pipeline, run, sequence and source files here). */
  readonly sluice?: Readonly<Record<string, unknown>>;
}

/** Options of {@link writeParquetLake}. */
export interface ParquetLakeWriteOptions {
  readonly mode?: "append" | "overwrite";
  readonly partitionBy?: readonly string[];
  readonly compression?: "zstd" | "snappy" | "gzip" | "none";
  readonly targetFileSize?: number | string;
  readonly rowGroupSize?: number;
  readonly runId?: string;
  /** Provenance recorded in the manifest (`sluice` key). */
  readonly provenance?: Readonly<Record<string, unknown>>;
}

/**
 * Publishes rows into a hive-partitioned Parquet folder (`key=value/part-*.parquet`).
 * Files are staged under `_staging/<run>/`, moved into place, and only then made
 * visible by exclusively creating the next `_manifests/<version>.json`; readers that
 * follow the manifest never see a half-written run.
 *
 * @example
 * await writeParquetLake(con, { storage: lake, path: "events" }, "SELECT * FROM staged", { partitionBy: ["day"] });
 */
export async function writeParquetLake(
  con: DuckDBConnection,
  table: LakeTable,
  source: string,
  options: ParquetLakeWriteOptions = {},
): Promise<{ version: number; filesAdded: number; rows: number }> {
  const runId = options.runId ?? randomUUID();
  const sql = /^\s*(select|with|from|values|\()/i.test(source)
    ? source
    : `SELECT * FROM ${source.split(".").map(quoteIdent).join(".")}`;
  let columns: { name: string; type: string }[];
  try {
    columns = (await con.runAndReadAll(`DESCRIBE ${sql}`))
      .getRows()
      .map((r) => ({ name: String(r[0]), type: String(r[1]) }));
  } catch (error) {
    throw new SluiceError(
      "LAKE_ERROR",
      `${describeTable(table)}: the rows to publish cannot be read: ${firstLine((error as Error).message)}`,
      {
        cause: error,
      },
    );
  }
  const partitionBy = options.partitionBy ?? [];
  const fields = deltaSchemaFromColumns(columns).fields;
  const staging = { storage: table.storage, path: tableFile(table, `_staging/${runId}`) };
  const written = await writeDataFiles(con, staging, sql, fields, {
    partitionColumns: partitionBy,
    compression: options.compression ?? "zstd",
    targetFileSize: parseSize(options.targetFileSize ?? "128MB"),
    rowGroupSize: options.rowGroupSize ?? 100_000,
    skipStats: true,
  });
  const files: ManifestFile[] = [];
  for (const w of written) {
    const rel = decodeURIComponent(w.add.path);
    await table.storage.move(tableFile(staging, rel), tableFile(table, rel));
    files.push({ path: rel, rows: w.rows, size: w.add.size, partitionValues: w.add.partitionValues });
  }
  const partitionTypes = Object.fromEntries(
    partitionBy.map((p) => [p, deltaToDuckType(fields.find((f) => f.name === p)!.type)]),
  );
  for (let attempt = 0; attempt < 20; attempt++) {
    const previous = await latestManifest(table);
    if (previous && previous.partitionBy.join(",") !== partitionBy.join(",")) {
      throw new SluiceError(
        "LAKE_ERROR",
        `${describeTable(table)}: the table is partitioned by [${previous.partitionBy.join(", ")}], not [${partitionBy.join(", ")}]`,
      );
    }
    const version = (previous?.version ?? -1) + 1;
    const manifest: ParquetManifest = {
      version,
      runId,
      createdAt: new Date().toISOString(),
      partitionBy,
      partitionTypes,
      files: options.mode === "overwrite" ? files : [...(previous?.files ?? []), ...files],
      ...(options.provenance ? { sluice: options.provenance } : {}),
    };
    if (
      await table.storage.writeFile(manifestPath(table, version), JSON.stringify(manifest, null, 1), {
        exclusive: true,
      })
    ) {
      return { version, filesAdded: files.length, rows: files.reduce((s, f) => s + f.rows, 0) };
    }
    if (options.mode === "overwrite") break;
  }
  throw new SluiceError(
    "LAKE_CONFLICT",
    `${describeTable(table)}: another run published concurrently; re-run to apply this one`,
    { transient: true },
  );
}

/**
 * Manifest versions of a Parquet lake table, newest first.
 *
 * @example
 * for (const v of await manifestVersions(table)) console.log(v);
 */
export async function manifestVersions(table: LakeTable): Promise<number[]> {
  const out: number[] = [];
  for await (const entry of table.storage.list(tableFile(table, "_manifests"))) {
    const m = /\/(\d{20})\.json$/.exec(entry.path);
    if (m) out.push(Number(m[1]));
  }
  return out.sort((a, b) => b - a);
}

/**
 * Reads one manifest version.
 *
 * @example
 * const m = await readManifest(table, 0);
 */
export async function readManifest(table: LakeTable, version: number): Promise<ParquetManifest> {
  const path = manifestPath(table, version);
  try {
    return JSON.parse((await table.storage.readFile(path)).toString("utf8")) as ParquetManifest;
  } catch (error) {
    throw new SluiceError("LAKE_ERROR", `${path}: the manifest is missing or not valid JSON`, {
      cause: error,
    });
  }
}

function manifestPath(table: LakeTable, version: number): string {
  return tableFile(table, `_manifests/${String(version).padStart(20, "0")}.json`);
}

/**
 * The newest manifest of a Parquet lake table, or undefined when nothing was published.
 *
 * @example
 * const m = await latestManifest(table); console.log(m?.files.length);
 */
export async function latestManifest(table: LakeTable): Promise<ParquetManifest | undefined> {
  let best: string | undefined;
  for await (const entry of table.storage.list(tableFile(table, "_manifests"))) {
    if (/\/\d{20}\.json$/.test(entry.path) && (best === undefined || entry.path > best)) best = entry.path;
  }
  if (!best) return undefined;
  try {
    return JSON.parse((await table.storage.readFile(best)).toString("utf8")) as ParquetManifest;
  } catch (error) {
    throw new SluiceError("LAKE_ERROR", `${best}: the manifest is not valid JSON`, { cause: error });
  }
}

/**
 * Registers a TEMP view over the files of the latest manifest (partition columns typed from the manifest).
 *
 * @example
 * await registerParquetLakeView(con, table, "events");
 */
export async function registerParquetLakeView(
  con: DuckDBConnection,
  table: LakeTable,
  viewName: string,
): Promise<{ manifest: ParquetManifest; cleanup(): Promise<void> }> {
  const manifest = await latestManifest(table);
  if (!manifest)
    throw new SluiceError("LAKE_ERROR", `${describeTable(table)}: no published manifest; nothing to read`);
  const local = await localCopies(
    table.storage,
    manifest.files.map((f) => tableFile(table, f.path)),
  );
  const name = quoteIdent(viewName);
  if (manifest.files.length === 0) {
    await con.run(`CREATE OR REPLACE TEMP VIEW ${name} AS SELECT NULL AS empty WHERE false`);
    return { manifest, cleanup: local.cleanup };
  }
  const types = Object.entries(manifest.partitionTypes).map(([k, t]) => `${quoteLiteral(k)}: ${t}`);
  const hive =
    types.length > 0
      ? `hive_partitioning = true, hive_types = {${types.join(", ")}}`
      : "hive_partitioning = false";
  const list = local.paths.map(quoteLiteral).join(", ");
  await con.run(
    `CREATE OR REPLACE TEMP VIEW ${name} AS SELECT * FROM read_parquet([${list}], union_by_name = true, ${hive})`,
  );
  return { manifest, cleanup: local.cleanup };
}
