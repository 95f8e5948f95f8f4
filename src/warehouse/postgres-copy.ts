import { execFileSync } from "node:child_process";
import { constants, createReadStream } from "node:fs";
import { open, rm } from "node:fs/promises";
import { Readable as ReadableStream } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import type { DuckDBConnection } from "@duckdb/node-api";
import type { PoolClient } from "pg";
import { from as copyFrom } from "pg-copy-streams";
import type { TypedColumn } from "../plan/schema-plan.js";
import { quoteIdent, quoteLiteral } from "../plan/sql-text.js";
import { csvExportExpression } from "../plan/type-evolution.js";
import { splitRecords } from "./csv-records.js";

/**
 * Moves rows from the DuckDB engine into a PostgreSQL table in bulk: DuckDB writes them as CSV
 * (`COPY (...) TO`) into a named pipe that is streamed into `COPY <table> FROM STDIN (FORMAT csv)` while
 * it is produced, so the export and PostgreSQL's parsing overlap. Where named pipes are unavailable the
 * CSV goes through `file` first. Never row by row. With `moreClients` (other connections, outside any
 * transaction, to a committed table) the stream is cut between records and spread over one `COPY` per
 * connection, so PostgreSQL parses the rows on several backends at once. Returns the rows PostgreSQL
 * stored (the `COPY` commands' counts).
 *
 * @example
 * await copyEngineRows(engine, client, "SELECT * FROM sluice_batch", columns, "sluice_stage", "/tmp/x/batch.csv");
 */
export async function copyEngineRows(
  engine: DuckDBConnection,
  client: PoolClient,
  selectSql: string,
  columns: readonly (TypedColumn & { readonly engineType: string })[],
  table: string,
  file: string,
  moreClients: readonly PoolClient[] = [],
): Promise<number> {
  const exprs = columns.map(
    (c) => `${csvExportExpression(quoteIdent(c.name), c.engineType)} AS ${quoteIdent(c.name)}`,
  );
  const exportSql = (path: string) =>
    `COPY (SELECT ${exprs.join(", ")} FROM (${selectSql})) TO ${quoteLiteral(path)} (FORMAT csv, HEADER false)`;
  const copySql = `COPY ${table} (${columns.map((c) => quoteIdent(c.name)).join(", ")}) FROM STDIN (FORMAT csv)`;
  const copies: ReturnType<typeof copyFrom>[] = [];
  const copyInto = (source: ReadableStream) => {
    copies.push(...[client, ...moreClients].map((c) => copyQuery(c, copySql)));
    if (copies.length === 1) return pipeline(source, copies[0]!);
    return splitRecords(source, copies);
  };
  const stored = () => copies.reduce((n, c) => n + c.rowCount, 0);
  const fifo = `${file}.pipe`;
  if (!(await makeFifo(fifo))) {
    await engine.run(exportSql(file));
    try {
      await serverErrorFirst(copies, () => copyInto(createReadStream(file, { highWaterMark: 1 << 20 })));
    } finally {
      await rm(file, { force: true });
    }
    return stored();
  }
  try {
    await serverErrorFirst(copies, () =>
      streamThroughFifo(fifo, () => withOneThread(engine, () => engine.run(exportSql(fifo))), copyInto),
    );
  } finally {
    await rm(fifo, { force: true });
  }
  return stored();
}

/**
 * A `COPY ... FROM STDIN` stream on `client`. The server's error (a restart ends the connection: 57P01)
 * reaches the pipeline feeding it while that runs; one that arrives after the pipeline settled (its source
 * failed first, and it stopped listening) would otherwise be an unhandled 'error' event that ends the
 * process. The pipeline, or the transaction's next statement, still reports the failure.
 */
export function copyQuery(client: PoolClient, sql: string): ReturnType<typeof copyFrom> {
  const copy = client.query(copyFrom(sql));
  copy.on("error", (error) => {
    if (!endedBy.has(copy)) endedBy.set(copy, error);
  });
  return copy;
}

/** The error each COPY stream was ended with by the server or its connection (see copyQuery). */
const endedBy = new WeakMap<object, unknown>();

/**
 * Runs `work`; when it fails after the server ended one of `copies`, that error is thrown instead.
 * pg-copy-streams drops its connection on the server's error while rows keep coming: writing them fails
 * with "Cannot read properties of null (reading 'stream')", a TypeError that would hide a restart (57P01,
 * transient: the publish is retried) behind what looks like a lasting failure.
 */
export async function serverErrorFirst<T>(copies: readonly object[], work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    for (const copy of copies) if (endedBy.has(copy)) throw endedBy.get(copy);
    throw error;
  }
}

/**
 * Like {@link copyEngineRows} into one table on one connection, but DuckDB writes the CSV into `file`
 * as fast as it can while `COPY` reads the file behind it (following its end), instead of through a
 * pipe: the export is done long before PostgreSQL has parsed the rows, and `onExported` is called then,
 * so engine work (a profile) can run while the server is still copying. Returns the rows stored.
 *
 * @example
 * await copyEngineRowsAhead(engine, client, "SELECT * FROM sluice_batch", columns, '"orders"', "/tmp/x/batch.csv", () => profile());
 */
export async function copyEngineRowsAhead(
  engine: DuckDBConnection,
  client: PoolClient,
  selectSql: string,
  columns: readonly (TypedColumn & { readonly engineType: string })[],
  table: string,
  file: string,
  onExported: (rows: number) => void,
): Promise<number> {
  const exprs = columns.map(
    (c) => `${csvExportExpression(quoteIdent(c.name), c.engineType)} AS ${quoteIdent(c.name)}`,
  );
  const copy = copyQuery(
    client,
    `COPY ${table} (${columns.map((c) => quoteIdent(c.name)).join(", ")}) FROM STDIN (FORMAT csv)`,
  );
  await rm(file, { force: true });
  await (await open(file, "w", 0o600)).close();
  let exported: "running" | "done" | "failed" = "running";
  const reading = pipeline(ReadableStream.from(followFile(file, () => exported)), copy);
  reading.catch(() => undefined);
  return serverErrorFirst([copy], async () => {
    try {
      let rows: number;
      try {
        const result = await withOneThread(engine, () =>
          engine.run(
            `COPY (SELECT ${exprs.join(", ")} FROM (${selectSql})) TO ${quoteLiteral(file)} (FORMAT csv, HEADER false, USE_TMP_FILE false)`,
          ),
        );
        rows = Number(result.rowsChanged);
      } catch (error) {
        exported = "failed";
        await reading.catch(() => undefined);
        throw error;
      }
      exported = "done";
      onExported(rows);
      await reading;
      return copy.rowCount;
    } finally {
      await rm(file, { force: true });
    }
  });
}

/**
 * The bytes of a file another writer is still appending to, in chunks of up to 1 MB, until the
 * writer is done and everything is read. A writer that failed ends the stream with an error.
 */
async function* followFile(
  path: string,
  writer: () => "running" | "done" | "failed",
): AsyncGenerator<Buffer> {
  const handle = await open(path, "r");
  try {
    for (;;) {
      // The writer's state is read before the attempt: "done" then an empty read means the end.
      const state = writer();
      if (state === "failed") throw new Error("the export of the rows failed");
      const buffer = Buffer.allocUnsafe(1 << 20);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead > 0) {
        yield buffer.subarray(0, bytesRead);
      } else if (state === "done") {
        return;
      } else {
        await sleep(5);
      }
    }
  } finally {
    await handle.close();
  }
}

/**
 * Runs a streamed export on one DuckDB thread. PostgreSQL's parsing of the rows is the slow end of the
 * pipe; one thread of DuckDB's CSV writer keeps ahead of it, and a second one only takes CPU from it
 * and from the process moving the bytes.
 */
async function withOneThread<T>(engine: DuckDBConnection, work: () => Promise<T>): Promise<T> {
  await engine.run("SET threads = 1");
  try {
    return await work();
  } finally {
    await engine.run("RESET threads");
  }
}

/** Creates a named pipe; false where the platform has none (then a plain file is used). */
async function makeFifo(path: string): Promise<boolean> {
  if (process.platform === "win32") return false;
  await rm(path, { force: true });
  try {
    execFileSync("mkfifo", ["-m", "600", path], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs the DuckDB export (writer) and the PostgreSQL COPY (reader) on one pipe at once. Neither side may
 * be left blocked: when the export fails before opening the pipe, the reader is released by opening and
 * closing the write end; when PostgreSQL rejects the data, closing the read end makes the export fail.
 * The PostgreSQL error wins over the broken pipe it causes; otherwise the export's own error is reported.
 */
async function streamThroughFifo(
  fifo: string,
  exportRows: () => Promise<unknown>,
  copyInto: (source: ReadableStream) => Promise<void>,
): Promise<void> {
  let readerDone = false;
  const reading = copyInto(createReadStream(fifo, { highWaterMark: 1 << 20 })).finally(() => {
    readerDone = true;
  });
  reading.catch(() => undefined);
  let exportError: unknown;
  try {
    await exportRows();
  } catch (error) {
    exportError = error;
    await releaseReader(fifo, () => readerDone);
  }
  let readError: unknown;
  try {
    await reading;
  } catch (error) {
    readError = error;
  }
  const brokenPipe = exportError !== undefined && /broken pipe|EPIPE/i.test(String(exportError));
  if (readError !== undefined && (exportError === undefined || brokenPipe)) throw readError;
  if (exportError !== undefined) throw exportError;
}

/** Opens and closes the pipe's write end so a reader waiting in open() (or for data) sees end of file. */
async function releaseReader(fifo: string, done: () => boolean): Promise<void> {
  while (!done()) {
    try {
      const handle = await open(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      await handle.close();
      return;
    } catch {
      // ENXIO: the reader has not opened the pipe yet.
      await sleep(10);
    }
  }
}
