import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { firstLine, SluiceError } from "../errors.js";
import { normalizeColumnNames } from "../plan/column-names.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import { type AvroContainer, type AvroReaderSchema, openAvroContainer } from "./avro-container.js";

/** An Avro file read into a table: its columns (normalized name, field name, type) and its records. */
export interface AvroTable {
  readonly columns: readonly { name: string; sourceName: string; type: string }[];
  readonly records: number;
}

/**
 * CSV text gathered before one chunk is written and read: big enough that each read is a bulk read,
 * small enough that the decoder, the chunk being read and the one being built stay a few dozen MB.
 */
const CHUNK_BYTES = 16 * 1024 * 1024;

/**
 * Reads an Avro container file into the temp table `table`: one column per top-level field, typed by
 * the schema (nested and mixed values as JSON), plus `_sluice_line` (the record's number, 1 for the
 * first). Records are decoded block by block and written as CSV chunks of {@link CHUNK_BYTES} into
 * `workDir`; the engine reads each chunk in bulk (`read_csv`) while the next is being decoded, and at
 * most one chunk waits: memory stays flat whatever the file's size, and decoding overlaps the engine's
 * reading. With a `reader` schema, the columns are the reader's (see {@link openAvroContainer}). Errors
 * of the file are {@link openAvroContainer}'s, named by file and block.
 *
 * @example
 * const { columns, records } = await avroToTable(con, "/landing/in/a.avro", "in/a.avro", "/tmp/run/f0", "f0_avro", "snake_case");
 */
export async function avroToTable(
  con: DuckDBConnection,
  source: string,
  displayPath: string,
  workDir: string,
  table: string,
  naming: "snake_case" | "keep",
  reader?: AvroReaderSchema,
  inPlace = false,
): Promise<AvroTable> {
  const file = await openAvroContainer(source, displayPath, reader);
  const names = normalizeColumnNames(
    file.fields.map((f) => f.name),
    naming,
  );
  const columns = file.fields.map((f, i) => ({
    name: names[i]!,
    sourceName: f.name,
    type: f.type ?? "JSON",
  }));
  await mkdir(workDir, { recursive: true });
  if (inPlace) return avroToView(con, file, displayPath, workDir, table, columns);
  await con.run(
    `CREATE OR REPLACE TEMP TABLE ${quoteIdent(table)} (${[...columns.map((c) => `${quoteIdent(c.name)} ${c.type}`), "_sluice_line BIGINT"].join(", ")})`,
  );
  const load = chunkLoader(con, table, columns, workDir, displayPath);
  let records = 0;
  try {
    records = await writeChunks(file, load.next);
  } finally {
    await load.settle();
  }
  await load.done();
  return { columns, records };
}

/**
 * `inPlace`: the chunks stay in `workDir` (which must outlive every read of the view, the publish
 * included) and `table` is a view over them, which the engine streams from disk each time it is read,
 * instead of a table it holds in memory up to its limit. The record numbers are the chunks' first column.
 */
async function avroToView(
  con: DuckDBConnection,
  file: AvroContainer,
  displayPath: string,
  workDir: string,
  table: string,
  columns: AvroTable["columns"],
): Promise<AvroTable> {
  const paths: string[] = [];
  const records = await writeChunks(file, async (chunk) => {
    const path = join(workDir, `avro-chunk-${paths.length}.csv`);
    await writeFile(path, chunk);
    paths.push(path);
  });
  const select = [
    ...columns.map((c, i) => `c${i + 1}::${c.type} AS ${quoteIdent(c.name)}`),
    "c0 AS _sluice_line",
  ];
  // No record, no chunk: the view reads nothing (read_csv needs a file).
  const from =
    paths.length === 0
      ? `(SELECT ${["NULL::BIGINT AS c0", ...columns.map((_, i) => `NULL::VARCHAR AS c${i + 1}`)].join(", ")} LIMIT 0)`
      : chunkRead(`[${paths.map(quoteLiteral).join(", ")}]`, columns.length);
  try {
    // A table of that name from an earlier run of this engine (a view is replaced below).
    await con.run(`DROP TABLE IF EXISTS ${quoteIdent(table)}`).catch(() => undefined);
    await con.run(
      `CREATE OR REPLACE TEMP VIEW ${quoteIdent(table)} AS SELECT ${select.join(", ")} FROM ${from}`,
    );
  } catch (error) {
    throw readFailure(displayPath, error);
  }
  return { columns, records };
}

/** The engine's read of chunk files (`files`: one quoted path or a list) of `width` columns after the record number. */
function chunkRead(files: string, width: number): string {
  const csvColumns = ["'c0': 'BIGINT'", ...Array.from({ length: width }, (_, i) => `'c${i + 1}': 'VARCHAR'`)];
  return `read_csv(${files}, columns = {${csvColumns.join(", ")}}, header = false, auto_detect = false,
           delim = ',', quote = '"', escape = '"', allow_quoted_nulls = false, max_line_size = 33554432,
           buffer_size = 33554432)`;
}

/**
 * Decodes every block into CSV chunks handed to `next` (awaited: at most one chunk waits). Each line goes
 * into one reused buffer as it is made, so no record's text outlives it (strings kept for a whole chunk
 * cost the garbage collector more than the decoding itself).
 */
async function writeChunks(file: AvroContainer, next: (chunk: Buffer) => Promise<void>): Promise<number> {
  const fields = file.fields;
  const writers = fields.map((f) => f.csv);
  const keys = fields.map((f) => f.name);
  let records = 0;
  let buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  let used = 0;
  for await (const block of file.blocks()) {
    for (const value of block) {
      const record = value as Record<string, unknown>;
      records++;
      let line = String(records);
      for (let i = 0; i < writers.length; i++) line += `,${writers[i]!(record[keys[i]!])}`;
      line += "\n";
      // UTF-8 takes at most 3 bytes per UTF-16 unit.
      if (used + line.length * 3 > buffer.length) {
        if (used > 0) await next(buffer.subarray(0, used));
        used = 0;
        if (line.length * 3 > buffer.length) buffer = Buffer.allocUnsafe(line.length * 3);
      }
      used += buffer.write(line, used);
    }
  }
  if (used > 0) await next(buffer.subarray(0, used));
  return records;
}

/**
 * Writes each chunk to a file and starts the engine's read of it without waiting for it: `next` waits
 * only for the read before (backpressure: one chunk in the engine while the next is decoded).
 */
function chunkLoader(
  con: DuckDBConnection,
  table: string,
  columns: readonly { name: string; type: string }[],
  workDir: string,
  displayPath: string,
): { next(chunk: Buffer): Promise<void>; settle(): Promise<void>; done(): Promise<void> } {
  const select = columns.map((c, i) => `c${i + 1}::${c.type}`);
  let reading: Promise<void> = Promise.resolve();
  let failure: unknown;
  let chunk = 0;
  const readChunk = async (path: string) => {
    try {
      await con.run(
        `INSERT INTO ${quoteIdent(table)} SELECT ${[...select, "c0"].join(", ")} FROM ${chunkRead(quoteLiteral(path), columns.length)}`,
      );
    } catch (error) {
      failure ??= error;
    } finally {
      await rm(path, { force: true });
    }
  };
  return {
    async next(text) {
      const path = join(workDir, `avro-chunk-${chunk++}.csv`);
      // Written before it returns: the caller reuses the buffer.
      await writeFile(path, text);
      await reading;
      if (failure) {
        await rm(path, { force: true });
        throw readFailure(displayPath, failure);
      }
      reading = readChunk(path);
    },
    settle: () => reading,
    async done() {
      await reading;
      if (failure) throw readFailure(displayPath, failure);
    },
  };
}

function readFailure(displayPath: string, error: unknown): SluiceError {
  const message = error instanceof Error ? firstLine(error.message) : String(error);
  return new SluiceError("FILE_UNPARSEABLE", `${displayPath}: its records could not be staged: ${message}`, {
    cause: error,
  });
}
