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
  await con.run(
    `CREATE OR REPLACE TEMP TABLE ${quoteIdent(table)} (${[...columns.map((c) => `${quoteIdent(c.name)} ${c.type}`), "_sluice_line BIGINT"].join(", ")})`,
  );
  await mkdir(workDir, { recursive: true });
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
  const csvColumns = ["'c0': 'BIGINT'", ...columns.map((_, i) => `'c${i + 1}': 'VARCHAR'`)].join(", ");
  const select = columns.map((c, i) => `c${i + 1}::${c.type}`);
  let reading: Promise<void> = Promise.resolve();
  let failure: unknown;
  let chunk = 0;
  const readChunk = async (path: string) => {
    try {
      await con.run(
        `INSERT INTO ${quoteIdent(table)} SELECT ${[...select, "c0"].join(", ")}
         FROM read_csv(${quoteLiteral(path)}, columns = {${csvColumns}}, header = false, auto_detect = false,
           delim = ',', quote = '"', escape = '"', allow_quoted_nulls = false, max_line_size = 33554432,
           buffer_size = 33554432)`,
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
