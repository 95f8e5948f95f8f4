// The floor of a PostgreSQL append from DuckDB, as a process of its own: DuckDB reads the CSV file
// (`read_csv`, types inferred) and writes it as CSV into a named pipe that is streamed into
// `COPY <table> FROM STDIN` inside one transaction that also creates the table — nothing else (no
// ledger, checks, profile, lineage columns). Used by warehouse.mjs: `node pg-copy-floor.mjs <url> <csv>`.
import { execFileSync } from "node:child_process";
import { createReadStream, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { DuckDBInstance } from "@duckdb/node-api";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";

const [url, csv] = process.argv.slice(2);
const fifo = join(tmpdir(), `pg-copy-floor-${process.pid}.pipe`);
execFileSync("mkfifo", ["-m", "600", fifo]);
const engine = await (await DuckDBInstance.create(":memory:")).connect();
const client = new pg.Client({ connectionString: url });
await client.connect();
try {
  const source = `read_csv('${csv.replaceAll("'", "''")}', header = true)`;
  const columns = (await engine.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`)).getRowObjects();
  const pgType = { BIGINT: "bigint", DOUBLE: "double precision", DATE: "date", TIMESTAMP: "timestamp" };
  const defs = columns.map((c) => `"${c.column_name}" ${pgType[c.column_type] ?? "text"}`).join(", ");
  await client.query("BEGIN");
  await client.query(`CREATE TABLE orders (${defs})`);
  const copy = client.query(copyFrom("COPY orders FROM STDIN (FORMAT csv)"));
  const reading = pipeline(createReadStream(fifo, { highWaterMark: 1 << 20 }), copy);
  await engine.run("SET threads = 1");
  await engine.run(`COPY (SELECT * FROM ${source}) TO '${fifo}' (FORMAT csv, HEADER false)`);
  await reading;
  await client.query("COMMIT");
  console.log(JSON.stringify({ rows: copy.rowCount }));
} finally {
  await client.end();
  rmSync(fifo, { force: true });
}
