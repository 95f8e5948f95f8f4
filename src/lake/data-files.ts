import { mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { mkdir, mkdtemp, rename, rm, stat } from "node:fs/promises";
import { dirname, join, sep } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { firstLine, SluiceError } from "../errors.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import { scratchRoot } from "../storage/scratch-dir.js";
import type { AddAction } from "./delta-log.js";
import { type DeltaStructField, isStatsType } from "./delta-schema.js";
import { describeTable, type LakeTable, tableFile } from "./lake-table.js";
import { partitionFolder, pathToDeltaUri } from "./partition-values.js";

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
 * bulk DuckDB COPY (hive-partitioned, sized toward the target). Per-file statistics come from the
 * COPY itself (`RETURN_STATS`: row count, partition keys, min/max/null count per column), so the data
 * is never read twice. Files move into the table folder (a rename when the lake is a local folder on
 * the same file system as the temp folder). Returns their `add` actions (not yet committed).
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
  const dir = await mkdtemp(join(stagingRoot(table), "write-"));
  try {
    const out = join(dir, "out");
    const codec = options.compression === "none" ? "uncompressed" : (options.compression ?? "zstd");
    const copyOptions = [
      "FORMAT parquet",
      `COMPRESSION ${codec}`,
      `ROW_GROUP_SIZE ${options.rowGroupSize ?? 100_000}`,
      "FILENAME_PATTERN 'part-{uuid}'",
      "RETURN_STATS",
    ];
    const target = options.targetFileSize ?? 128 * 1024 * 1024;
    // DuckDB cannot rotate files inside PARTITION_BY: write one file per partition, then split the big ones.
    const partitioned = options.partitionColumns.length > 0;
    const layout = partitioned
      ? `PARTITION_BY (${options.partitionColumns.map(quoteIdent).join(", ")})`
      : `FILE_SIZE_BYTES ${target}`;
    let copied: CopiedFile[];
    try {
      const reader = await con.runAndReadAll(
        `COPY (${selectSql}) TO ${quoteLiteral(out)} (${[...copyOptions, layout].join(", ")})`,
      );
      copied = reader.getRowObjectsJson().map(copiedFile);
    } catch (error) {
      throw new SluiceError(
        "LAKE_ERROR",
        `${describeTable(table)}: writing Parquet data files failed: ${firstLine((error as Error).message)}`,
        { cause: error },
      );
    }
    if (partitioned) copied = await splitLargeFiles(con, copied, target, copyOptions);
    const partitionFields = options.partitionColumns.map((c) => fields.find((f) => f.name === c)!);
    const partitionSet = new Set(options.partitionColumns);
    const statFields = options.skipStats
      ? []
      : fields.filter((f) => !partitionSet.has(f.name) && typeof f.type === "string");
    const written: WrittenFile[] = [];
    const suffix = codec === "uncompressed" ? "" : `.${codec}`;
    for (const file of copied) {
      const partitionValues: Record<string, string | null> = {};
      for (const f of partitionFields)
        partitionValues[f.name] = partitionText(file.partitionKeys[f.name], f.type);
      const folder = partitionFolder(options.partitionColumns, partitionValues);
      const base = file.path
        .split(sep)
        .pop()!
        .replace(/\.parquet$/, "");
      const rel = `${folder === "" ? "" : `${folder}/`}${base}-c000${suffix}.parquet`;
      const entry = await placeFile(table, file.path, tableFile(table, rel));
      written.push({
        rows: file.rows,
        add: {
          path: pathToDeltaUri(rel),
          partitionValues,
          size: entry.size,
          modificationTime: Math.round(entry.mtimeMs),
          dataChange: true,
          stats: statsJson(file, statFields),
        },
      });
    }
    return written;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A temp folder root on the lake's own file system when the lake is local (`<lake>/.sluice-tmp`, so
 * files can be renamed into place); leftovers of killed writers older than a day are removed. A
 * `.sluice-tmp` that is a symbolic link is refused (its cleanup would delete files behind it).
 */
function stagingRoot(table: LakeTable): string {
  if (table.storage.localPath("") === undefined) return scratchRoot();
  const root = table.storage.localPath(".sluice-tmp")!;
  try {
    mkdirSync(root, { recursive: true });
    const dayAgo = Date.now() - 86_400_000;
    for (const name of readdirSync(root)) {
      const full = join(root, name);
      if (statSync(full).mtimeMs < dayAgo) rmSync(full, { recursive: true, force: true });
    }
    return root;
  } catch {
    return scratchRoot();
  }
}

/** Moves a written file to its place in the table: rename when local, upload otherwise. */
async function placeFile(
  table: LakeTable,
  from: string,
  to: string,
): Promise<{ size: number; mtimeMs: number }> {
  const local = table.storage.localPath(to);
  if (local !== undefined) {
    await mkdir(dirname(local), { recursive: true });
    try {
      await rename(from, local);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EXDEV") throw error;
      await table.storage.putLocalFile(from, to);
    }
    const st = await stat(local);
    return { size: st.size, mtimeMs: st.mtimeMs };
  }
  await table.storage.putLocalFile(from, to);
  const entry = await table.storage.stat(to);
  return { size: entry?.size ?? 0, mtimeMs: entry?.mtimeMs ?? Date.now() };
}

/** One file a COPY wrote, with the statistics DuckDB returned for it. */
interface CopiedFile {
  readonly path: string;
  readonly rows: number;
  readonly size: number;
  readonly partitionKeys: Readonly<Record<string, string | null>>;
  /** Column name -> { min, max, null_count, has_nan, ... } as text. */
  readonly columns: ReadonlyMap<string, Readonly<Record<string, string | null>>>;
}

type KeyValues = readonly { readonly key: string; readonly value: unknown }[] | null | undefined;

function copiedFile(row: Record<string, unknown>): CopiedFile {
  const pairs = (v: unknown) => (v as KeyValues) ?? [];
  const columns = new Map<string, Record<string, string | null>>();
  for (const { key, value } of pairs(row.column_statistics)) {
    const m = /^"((?:[^"]|"")*)"$/.exec(key);
    if (!m) continue; // nested leaf ("a"."b"): no top-level stats
    const stats: Record<string, string | null> = {};
    for (const p of pairs(value)) stats[p.key] = p.value === null ? null : String(p.value);
    columns.set(m[1]!.replaceAll('""', '"'), stats);
  }
  const partitionKeys: Record<string, string | null> = {};
  for (const { key, value } of pairs(row.partition_keys)) {
    partitionKeys[key] = value === null || value === undefined ? null : String(value);
  }
  return {
    path: String(row.filename),
    rows: Number(row.count),
    size: Number(row.file_size_bytes),
    partitionKeys,
    columns,
  };
}

/** Re-writes files bigger than 1.5x the target into target-sized files in the same folder. */
async function splitLargeFiles(
  con: DuckDBConnection,
  files: readonly CopiedFile[],
  target: number,
  copyOptions: readonly string[],
): Promise<CopiedFile[]> {
  const out: CopiedFile[] = [];
  for (const file of files) {
    if (file.size <= target * 1.5) {
      out.push(file);
      continue;
    }
    const parts = `${file.path}.split`;
    const reader = await con.runAndReadAll(
      `COPY (SELECT * FROM read_parquet(${quoteLiteral(file.path)}, hive_partitioning = false)) TO ${quoteLiteral(parts)} (${[...copyOptions, `FILE_SIZE_BYTES ${target}`].join(", ")})`,
    );
    for (const row of reader.getRowObjectsJson()) {
      const part = copiedFile(row);
      const moved = join(dirname(file.path), part.path.split(sep).pop()!);
      await rename(part.path, moved);
      out.push({ ...part, path: moved, partitionKeys: file.partitionKeys });
    }
    await rm(file.path);
    await rm(parts, { recursive: true, force: true });
  }
  return out;
}

const NUMERIC = /^(byte|short|integer|long|float|double|decimal\(.*\))$/;

/** Delta `stats` JSON of a file: numRecords, and min/max/nullCount of each stats-capable column. */
function statsJson(file: CopiedFile, fields: readonly DeltaStructField[]): string {
  const mins: string[] = [];
  const maxs: string[] = [];
  const nulls: string[] = [];
  for (const f of fields) {
    const type = f.type as string;
    const key = JSON.stringify(f.name);
    const s = file.columns.get(f.name);
    // A column DuckDB kept no statistics for is all NULL only when it has no values at all.
    const nullCount = s?.null_count ?? (s === undefined ? null : String(file.rows));
    if (nullCount !== null && nullCount !== undefined) nulls.push(`${key}:${Number(nullCount)}`);
    if (!s || !isStatsType(type) || s.has_nan === "true") continue;
    const lo = statValue(s.min ?? null, type);
    const hi = statValue(s.max ?? null, type);
    if (lo !== undefined && hi !== undefined) {
      mins.push(`${key}:${lo}`);
      maxs.push(`${key}:${hi}`);
    }
  }
  return `{"numRecords":${file.rows},"minValues":{${mins.join(",")}},"maxValues":{${maxs.join(",")}},"nullCount":{${nulls.join(",")}}}`;
}

/** JSON text of a min/max statistic as Delta expects it, or undefined to leave it out. */
function statValue(text: string | null, type: string): string | undefined {
  if (text === null) return undefined;
  if (NUMERIC.test(type)) return /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text) ? text : undefined;
  if (type === "string") return [...text].length <= 32 ? JSON.stringify(text) : undefined;
  if (type === "date") return /^\d{4}-\d{2}-\d{2}$/.test(text) ? JSON.stringify(text) : undefined;
  if (type === "timestamp") {
    const iso = timestampText(text, true);
    return iso === undefined ? undefined : JSON.stringify(`${iso.replace(" ", "T")}Z`);
  }
  if (type === "timestamp_ntz") {
    const iso = timestampText(text, false);
    return iso === undefined ? undefined : JSON.stringify(iso.replace(" ", "T"));
  }
  return undefined;
}

/**
 * `YYYY-MM-DD HH:MM:SS.ffffff` of a DuckDB timestamp text (`…[.f][+HH[:MM]]`), shifted to UTC when
 * `utc` and an offset is present.
 */
function timestampText(text: string, utc: boolean): string | undefined {
  const m =
    /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([+-])(\d{2})(?::?(\d{2}))?)?$/.exec(
      text.trim(),
    );
  if (!m) return undefined;
  const micros = (m[7] ?? "").padEnd(6, "0").slice(0, 6);
  let when = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  if (utc && m[8]) when -= (m[8] === "-" ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10] ?? 0)) * 60_000;
  const d = new Date(when);
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${micros}`;
}

/** A partition value as Delta serializes it, from DuckDB's text of the key. */
function partitionText(value: string | null | undefined, type: DeltaStructField["type"]): string | null {
  if (value === null || value === undefined) return null;
  if (type === "timestamp" || type === "timestamp_ntz")
    return timestampText(value, type === "timestamp") ?? value;
  if (type === "boolean") return /^(true|1|t)$/i.test(value) ? "true" : "false";
  return value;
}
