// The floor of a PostgreSQL merge from DuckDB, as a process of its own: DuckDB reads the CSV file
// (`read_csv`, the bench's column types) and writes it as CSV into a named pipe streamed into
// `COPY` into a temporary stage, then `INSERT ... ON CONFLICT DO UPDATE` into the target, in one
// transaction — nothing else (no key checks, before-images, ledger, profile, lineage columns).
// Used by warehouse.mjs: `node pg-merge-floor.mjs <url> <csv> <column defs> <data columns> <assignments>`.
import { execFileSync } from "node:child_process";
import { createReadStream, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { DuckDBInstance } from "@duckdb/node-api";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";

const [url, csv, columnDefs, dataCols, updates] = process.argv.slice(2);
const fifo = join(tmpdir(), `pg-merge-floor-${process.pid}.pipe`);
execFileSync("mkfifo", ["-m", "600", fifo]);
const engine = await (await DuckDBInstance.create(":memory:")).connect();
const client = new pg.Client({ connectionString: url });
await client.connect();
try {
  const source = `read_csv('${csv.replaceAll("'", "''")}', header = true, types = {'amount': 'DECIMAL(12,2)'})`;
  await client.query("BEGIN");
  await client.query(`CREATE TEMP TABLE stage (${columnDefs}) ON COMMIT DROP`);
  const copy = client.query(copyFrom("COPY stage FROM STDIN (FORMAT csv)"));
  const reading = pipeline(createReadStream(fifo, { highWaterMark: 1 << 20 }), copy);
  await engine.run("SET threads = 1");
  await engine.run(`COPY (SELECT * FROM ${source}) TO '${fifo}' (FORMAT csv, HEADER false)`);
  await reading;
  const merged = await client.query(
    `INSERT INTO orders (${dataCols}) SELECT ${dataCols} FROM stage ON CONFLICT (order_id) DO UPDATE SET ${updates}`,
  );
  await client.query("COMMIT");
  console.log(JSON.stringify({ rows: copy.rowCount, merged: merged.rowCount }));
} finally {
  await client.end();
  rmSync(fifo, { force: true });
}
