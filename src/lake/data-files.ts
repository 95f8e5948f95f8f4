import { mkdtemp, readdir, rename, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative, sep } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { firstLine, SluiceError } from "../errors.js";
import type { AddAction } from "./delta-log.js";
import {
  type DeltaStructField,
  deltaToDuckType,
  isStatsType,
  quoteIdent,
  quoteLiteral,
} from "./delta-schema.js";
import { describeTable, type LakeTable, tableFile } from "./lake-table.js";
import { partitionFolder, partitionValueExpression, pathToDeltaUri } from "./partition-values.js";

/** How data files are written. */
export interface DataFileOptions {
  readonly partitionColumns: readonly string[];
  readonly compression?: "zstd" | "snappy" | "gzip" | "none";
  /** Target file size in bytes (DuckDB FILE_SIZE_BYTES); default 128 MB. */
  readonly targetFileSize?: number;
  readonly rowGroupSize?: number;
  /** Skip per-file statistics (min/max/nullCount); row counts are always kept. */
  readonly skipStats?: boolean;
}

/** A written, uploaded data file with the `add` action that publishes it. */
export interface WrittenFile {
  readonly add: AddAction;
  readonly rows: number;
}

/**
 * Parses a size like `128MB` (B, KB, MB, GB; powers of 1024) into bytes.
 *
 * @example
 * parseSize("128MB"); // 134217728
 */
export function parseSize(size: string | number): number {
  if (typeof size === "number") return size;
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB)$/i.exec(size.trim());
  if (!m) throw new SluiceError("CONFIG_INVALID", `"${size}" is not a size like 128MB`);
  const unit = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[m[2]!.toUpperCase() as "B"]!;
  return Math.round(Number(m[1]) * unit);
}

/**
 * Writes the rows of `selectSql` (whose columns are `fields`) as Parquet data files with one
 * bulk DuckDB COPY (hive-partitioned, sized toward the target), computes per-file stats
 * with DuckDB, and uploads the files into the table folder. Returns their `add` actions
 * (not yet committed: the caller commits them).
 *
 * @example
 * const files = await writeDataFiles(con, table, "SELECT * FROM batch", fields, { partitionColumns: ["year"] });
 */
export async function writeDataFiles(
  con: DuckDBConnection,
  table: LakeTable,
  selectSql: string,
  fields: readonly DeltaStructField[],
  options: DataFileOptions,
): Promise<WrittenFile[]> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-delta-write-"));
  try {
    const out = join(dir, "out");
    const codec = options.compression === "none" ? "uncompressed" : (options.compression ?? "zstd");
    const copyOptions = [
      "FORMAT parquet",
      `COMPRESSION ${codec}`,
      `ROW_GROUP_SIZE ${options.rowGroupSize ?? 100_000}`,
      "FILENAME_PATTERN 'part-{uuid}'",
    ];
    const target = options.targetFileSize ?? 128 * 1024 * 1024;
    // DuckDB cannot rotate files inside PARTITION_BY: write one file per partition, then split the big ones.
    if (options.partitionColumns.length > 0) {
      copyOptions.push(`PARTITION_BY (${options.partitionColumns.map(quoteIdent).join(", ")})`);
    } else {
      copyOptions.push(`FILE_SIZE_BYTES ${target}`);
    }
    try {
      await con.run(`COPY (${selectSql}) TO ${quoteLiteral(out)} (${copyOptions.join(", ")})`);
    } catch (error) {
      throw new SluiceError(
        "LAKE_ERROR",
        `${describeTable(table)}: writing Parquet data files failed: ${firstLine((error as Error).message)}`,
        { cause: error },
      );
    }
    if (options.partitionColumns.length > 0) await splitLargeFiles(con, out, target, copyOptions.slice(0, 4));
    const stats = await fileStats(con, out, fields, options);
    const written: WrittenFile[] = [];
    const suffix = codec === "uncompressed" ? "" : `.${codec}`;
    for (const s of stats) {
      const folder = partitionFolder(options.partitionColumns, s.partitionValues);
      const base = relative(out, s.file)
        .split(sep)
        .pop()!
        .replace(/\.parquet$/, "");
      const rel = `${folder === "" ? "" : `${folder}/`}${base}-c000${suffix}.parquet`;
      await table.storage.putLocalFile(s.file, tableFile(table, rel));
      const entry = await table.storage.stat(tableFile(table, rel));
      written.push({
        rows: s.rows,
        add: {
          path: pathToDeltaUri(rel),
          partitionValues: s.partitionValues,
          size: entry?.size ?? 0,
          modificationTime: Math.round(entry?.mtimeMs ?? Date.now()),
          dataChange: true,
          stats: s.stats,
        },
      });
    }
    return written;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Re-writes files bigger than 1.5x the target into target-sized files in the same folder. */
async function splitLargeFiles(
  con: DuckDBConnection,
  out: string,
  target: number,
  copyOptions: readonly string[],
): Promise<void> {
  const big: string[] = [];
  const walk = async (folder: string): Promise<void> => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const full = join(folder, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.name.endsWith(".parquet") && (await stat(full)).size > target * 1.5) big.push(full);
    }
  };
  await walk(out);
  for (const file of big) {
    const parts = `${file}.split`;
    await con.run(
      `COPY (SELECT * FROM read_parquet(${quoteLiteral(file)})) TO ${quoteLiteral(parts)} (${[...copyOptions, `FILE_SIZE_BYTES ${target}`].join(", ")})`,
    );
    await rm(file);
    for (const name of await readdir(parts)) await rename(join(parts, name), join(dirname(file), name));
    await rm(parts, { recursive: true, force: true });
  }
}

interface FileStats {
  readonly file: string;
  readonly rows: number;
  readonly partitionValues: Record<string, string | null>;
  readonly stats: string;
}

const NUMERIC = /^(byte|short|integer|long|float|double|decimal\(.*\))$/;

/** One DuckDB GROUP BY over the written files: row count, partition values, min/max/nullCount per column. */
async function fileStats(
  con: DuckDBConnection,
  out: string,
  fields: readonly DeltaStructField[],
  options: DataFileOptions,
): Promise<FileStats[]> {
  const partitionSet = new Set(options.partitionColumns);
  const partitionFields = options.partitionColumns.map((c) => fields.find((f) => f.name === c)!);
  const dataFields = fields.filter((f) => !partitionSet.has(f.name) && typeof f.type === "string");
  const select: string[] = ["filename", "count(*)::BIGINT AS n"];
  partitionFields.forEach((f, i) => {
    select.push(`${partitionValueExpression(`any_value(${quoteIdent(f.name)})`, f.type)} AS p${i}`);
  });
  const statFields = options.skipStats ? [] : dataFields;
  statFields.forEach((f, i) => {
    const col = quoteIdent(f.name);
    select.push(`(count(*) - count(${col}))::BIGINT AS z${i}`);
    if (typeof f.type === "string" && isStatsType(f.type)) {
      select.push(
        `${statText(`min(${col})`, f.type)} AS lo${i}`,
        `${statText(`max(${col})`, f.type)} AS hi${i}`,
      );
    }
  });
  const hiveTypes = partitionFields
    .map((f) => `${quoteLiteral(f.name)}: ${deltaToDuckType(f.type)}`)
    .join(", ");
  const source = `read_parquet(${quoteLiteral(join(out, "**", "*.parquet"))}, filename = true, hive_partitioning = ${
    partitionFields.length > 0
  }${partitionFields.length > 0 ? `, hive_types = {${hiveTypes}}` : ""})`;
  const reader = await con.runAndReadAll(`SELECT ${select.join(", ")} FROM ${source} GROUP BY filename`);
  const rows = reader.getRowObjects();
  return rows.map((row) => {
    const partitionValues: Record<string, string | null> = {};
    partitionFields.forEach((f, i) => {
      const v = row[`p${i}`];
      partitionValues[f.name] = v === null || v === undefined ? null : String(v);
    });
    const mins: string[] = [];
    const maxs: string[] = [];
    const nulls: string[] = [];
    statFields.forEach((f, i) => {
      const key = JSON.stringify(f.name);
      nulls.push(`${key}:${String(row[`z${i}`])}`);
      const lo = row[`lo${i}`];
      const hi = row[`hi${i}`];
      const numeric = typeof f.type === "string" && NUMERIC.test(f.type);
      const json = (v: unknown) => (numeric ? String(v) : JSON.stringify(String(v)));
      const finite = (v: unknown) =>
        v !== null && v !== undefined && (!numeric || /^-?[0-9.eE+-]+$/.test(String(v)));
      if (finite(lo) && finite(hi)) {
        mins.push(`${key}:${json(lo)}`);
        maxs.push(`${key}:${json(hi)}`);
      }
    });
    const n = String(row["n"]);
    const stats = `{"numRecords":${n},"minValues":{${mins.join(",")}},"maxValues":{${maxs.join(",")}},"nullCount":{${nulls.join(",")}}}`;
    return { file: String(row["filename"]), rows: Number(n), partitionValues, stats };
  });
}

/** SQL text of a min/max value as Delta stats expect it (ISO timestamps with Z, strings truncated). */
function statText(expr: string, type: string): string {
  if (type === "timestamp") return `strftime(timezone('UTC', ${expr}), '%Y-%m-%dT%H:%M:%S.%fZ')`;
  if (type === "timestamp_ntz") return `strftime(${expr}, '%Y-%m-%dT%H:%M:%S.%f')`;
  if (type === "date") return `strftime(${expr}, '%Y-%m-%d')`;
  if (type === "string") return `CASE WHEN length(${expr}) <= 32 THEN ${expr} END`;
  return `CAST(${expr} AS VARCHAR)`;
}
