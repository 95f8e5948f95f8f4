import { open } from "node:fs/promises";
import type { DuckDBConnection } from "@duckdb/node-api";
import { firstLine } from "../errors.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";

/** Health of one Parquet file. `ok` is false when any problem (not warning) was found. */
export interface ParquetFileReport {
  readonly path: string;
  readonly ok: boolean;
  readonly size: number;
  readonly rows: number | null;
  readonly rowGroups: number | null;
  readonly columns: readonly string[];
  /** Row groups that failed to read (0-based ids). */
  readonly badRowGroups: readonly number[];
  /** Uncompressed / compressed bytes of the column chunks. */
  readonly compressionRatio: number | null;
  readonly problems: readonly string[];
  readonly warnings: readonly string[];
}

interface RowGroup {
  readonly id: number;
  readonly first: number;
  readonly rows: number;
}

/**
 * Validates Parquet files: `PAR1` magic at both ends, a sane footer length, a
 * readable schema, every row group readable, empty or all-NULL columns and
 * suspicious compression ratios. One report per file; never throws for a bad file.
 *
 * @example
 * const [report] = await checkParquet(con, ["lake/orders/part-0.parquet"]);
 * if (!report.ok) console.log(report.problems.join("; "));
 */
export async function checkParquet(
  con: DuckDBConnection,
  paths: readonly string[],
): Promise<ParquetFileReport[]> {
  const reports: ParquetFileReport[] = [];
  for (const path of paths) reports.push(await checkOne(con, path));
  return reports;
}

async function checkOne(con: DuckDBConnection, path: string): Promise<ParquetFileReport> {
  const problems: string[] = [];
  const warnings: string[] = [];
  const base = {
    path,
    size: 0,
    rows: null,
    rowGroups: null,
    columns: [],
    badRowGroups: [],
    compressionRatio: null,
  };
  const envelope = await readEnvelope(path).catch((error: Error) => ({ error: error.message }) as const);
  if ("error" in envelope)
    return { ...base, ok: false, problems: [`cannot open: ${envelope.error}`], warnings };
  const size = envelope.size;
  const footerProblem = envelopeProblem(envelope);
  if (footerProblem) return { ...base, size, ok: false, problems: [footerProblem], warnings };
  let groups: RowGroup[];
  let columns: string[];
  let ratio: number | null = null;
  const file = quoteLiteral(path);
  try {
    groups = await rowGroups(con, path);
    const schema = await con.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${file})`);
    columns = schema.getRows().map((r) => String(r[0]));
    const meta = await con.runAndReadAll(
      `SELECT path_in_schema, sum(num_values)::BIGINT, sum(stats_null_count)::BIGINT, sum(total_compressed_size)::BIGINT, sum(total_uncompressed_size)::BIGINT
       FROM parquet_metadata(${file}) GROUP BY path_in_schema`,
    );
    let compressed = 0;
    let uncompressed = 0;
    for (const [name, values, nulls, c, u] of meta.getRows()) {
      compressed += Number(c ?? 0);
      uncompressed += Number(u ?? 0);
      if (values !== null && nulls !== null && Number(values) > 0 && Number(nulls) === Number(values)) {
        warnings.push(`column ${String(name)} is entirely NULL`);
      }
    }
    if (compressed > 0) {
      ratio = uncompressed / compressed;
      if (ratio > 200)
        warnings.push(`suspicious compression ratio ${ratio.toFixed(0)}:1 (mostly constant or empty data?)`);
      if (ratio < 0.8)
        warnings.push(`data is larger compressed than uncompressed (ratio ${ratio.toFixed(2)})`);
    }
  } catch (error) {
    problems.push(`footer or schema unreadable: ${firstLine((error as Error).message)}`);
    return { ...base, size, ok: false, problems, warnings };
  }
  const rows = groups.reduce((s, g) => s + g.rows, 0);
  if (rows === 0) warnings.push("file has no rows");
  if (columns.length === 0) problems.push("schema has no columns");
  const bad: number[] = [];
  for (const g of groups) {
    const error = await readRowGroup(con, path, g, columns);
    if (error) {
      bad.push(g.id);
      problems.push(`row group ${g.id} (${g.rows} rows) unreadable: ${error}`);
    }
  }
  return {
    path,
    ok: problems.length === 0,
    size,
    rows,
    rowGroups: groups.length,
    columns,
    badRowGroups: bad,
    compressionRatio: ratio,
    problems,
    warnings,
  };
}

/** What {@link recoverParquet} salvaged. */
export interface ParquetRecovery {
  readonly path: string;
  readonly outPath: string | null;
  readonly rowGroups: number;
  readonly rowGroupsRecovered: number;
  readonly rowsRecovered: number;
  /** Rows in unreadable row groups; null when the footer is gone (unknown). */
  readonly rowsLost: number | null;
  readonly message: string;
}

/**
 * Salvages the readable row groups of a damaged Parquet file into `outPath`
 * (row group by row group, using the footer's row-group layout). If the
 * footer is gone nothing can be salvaged, and the result says so.
 *
 * @example
 * const r = await recoverParquet(con, "bad.parquet", "bad.recovered.parquet");
 * console.log(r.message);
 */
export async function recoverParquet(
  con: DuckDBConnection,
  path: string,
  outPath: string,
): Promise<ParquetRecovery> {
  const envelope = await readEnvelope(path).catch(() => undefined);
  const footerProblem = envelope ? envelopeProblem(envelope) : "cannot open the file";
  const none = { path, outPath: null, rowGroups: 0, rowGroupsRecovered: 0, rowsRecovered: 0, rowsLost: null };
  if (footerProblem) {
    return {
      ...none,
      message: `${path}: nothing can be salvaged: ${footerProblem}; the footer holds the row-group layout`,
    };
  }
  let groups: RowGroup[];
  let columns: string[];
  try {
    groups = await rowGroups(con, path);
    columns = (await con.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${quoteLiteral(path)})`))
      .getRows()
      .map((r) => String(r[0]));
  } catch (error) {
    return {
      ...none,
      message: `${path}: nothing can be salvaged: footer unreadable (${firstLine((error as Error).message)})`,
    };
  }
  const salvage = `__sluice_salvage_${Date.now()}_${Math.floor(Math.random() * 1e9)}`;
  const list = columns.map(quoteIdent).join(", ");
  await con.run(
    `CREATE TEMP TABLE ${quoteIdent(salvage)} AS SELECT ${list} FROM read_parquet(${quoteLiteral(path)}) LIMIT 0`,
  );
  try {
    let recovered = 0;
    let rowsRecovered = 0;
    for (const g of groups) {
      try {
        await con.run(`INSERT INTO ${quoteIdent(salvage)} ${rowGroupSelect(path, g, list)}`);
        recovered++;
        rowsRecovered += g.rows;
      } catch {
        // unreadable row group: counted as lost
      }
    }
    const total = groups.reduce((s, g) => s + g.rows, 0);
    await con.run(
      `COPY ${quoteIdent(salvage)} TO ${quoteLiteral(outPath)} (FORMAT parquet, COMPRESSION zstd)`,
    );
    return {
      path,
      outPath,
      rowGroups: groups.length,
      rowGroupsRecovered: recovered,
      rowsRecovered,
      rowsLost: total - rowsRecovered,
      message: `${path}: recovered ${rowsRecovered} of ${total} rows (${recovered}/${groups.length} row groups) into ${outPath}`,
    };
  } finally {
    await con.run(`DROP TABLE IF EXISTS ${quoteIdent(salvage)}`);
  }
}

interface Envelope {
  readonly size: number;
  readonly head: Buffer;
  readonly tail: Buffer;
}

async function readEnvelope(path: string): Promise<Envelope> {
  const handle = await open(path, "r");
  try {
    const size = (await handle.stat()).size;
    const head = Buffer.alloc(Math.min(4, size));
    const tail = Buffer.alloc(Math.min(8, size));
    await handle.read(head, 0, head.length, 0);
    await handle.read(tail, 0, tail.length, Math.max(0, size - tail.length));
    return { size, head, tail };
  } finally {
    await handle.close();
  }
}

function envelopeProblem(e: Envelope): string | undefined {
  if (e.size < 12) return `file is ${e.size} bytes, too small to be Parquet`;
  if (e.head.toString("latin1") !== "PAR1") return "missing PAR1 magic at the start (not a Parquet file)";
  if (e.tail.subarray(4).toString("latin1") !== "PAR1")
    return "missing PAR1 magic at the end (truncated file?)";
  const footer = e.tail.readUInt32LE(0);
  if (footer === 0 || footer > e.size - 12)
    return `corrupt footer: length ${footer} does not fit in a ${e.size}-byte file`;
  return undefined;
}

async function rowGroups(con: DuckDBConnection, path: string): Promise<RowGroup[]> {
  const reader = await con.runAndReadAll(
    `SELECT row_group_id, any_value(row_group_num_rows)::BIGINT FROM parquet_metadata(${quoteLiteral(path)}) GROUP BY row_group_id ORDER BY row_group_id`,
  );
  let first = 0;
  return reader.getRows().map(([id, rows]) => {
    const g = { id: Number(id), first, rows: Number(rows) };
    first += g.rows;
    return g;
  });
}

function rowGroupSelect(path: string, g: RowGroup, list: string): string {
  return `SELECT ${list} FROM read_parquet(${quoteLiteral(path)}, file_row_number = true)
    WHERE file_row_number >= ${g.first} AND file_row_number < ${g.first + g.rows}`;
}

async function readRowGroup(
  con: DuckDBConnection,
  path: string,
  g: RowGroup,
  columns: readonly string[],
): Promise<string | undefined> {
  if (columns.length === 0) return undefined;
  const list = columns.map(quoteIdent).join(", ");
  try {
    await con.runAndReadAll(`SELECT count(*), sum(hash(t)) FROM (${rowGroupSelect(path, g, list)}) t`);
    return undefined;
  } catch (error) {
    return firstLine((error as Error).message);
  }
}
