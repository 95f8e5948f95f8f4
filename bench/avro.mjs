// Avro benchmark: `sluice run` of an Avro container file of BENCH_AVRO_ROWS (default 1M) records versus
// `sluice run` of the same rows as Parquet, in the same run (alternating BENCH_REPEAT rounds, medians).
// Prints RATIO avro_vs_parquet (informational: Avro is decoded in JavaScript, Parquet by DuckDB) and
// Sluice's peak RSS on each file (BENCH_AVRO_ROWS=100000 and the default 1M: memory should be ~flat).
import {
  copyFileSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import avro from "avsc";
import { dataDir, median, repeat, reportRatio, runCli, time } from "./data.mjs";

const rows = Number(process.env.BENCH_AVRO_ROWS ?? 1_000_000);
const schema = {
  type: "record",
  name: "Order",
  fields: [
    { name: "id", type: "long" },
    { name: "customer", type: "string" },
    { name: "amount", type: { type: "bytes", logicalType: "decimal", precision: 12, scale: 2 } },
    { name: "ordered_on", type: { type: "int", logicalType: "date" } },
    { name: "status", type: { type: "enum", name: "Status", symbols: ["NEW", "PAID", "SHIPPED"] } },
    { name: "updated_at", type: { type: "long", logicalType: "timestamp-millis" } },
    { name: "note", type: ["null", "string"] },
  ],
};

/** Values pass through as their underlying type; the written schema keeps the logical type and its attributes. */
class Logical extends avro.types.LogicalType {
  constructor(s, opts) {
    super(s, opts);
    this.attributes = s;
  }
  _fromValue(v) {
    return v;
  }
  _toValue(v) {
    return v;
  }
  _export(attrs) {
    for (const k of ["precision", "scale"])
      if (this.attributes[k] !== undefined) attrs[k] = this.attributes[k];
  }
}

function cents(n) {
  const buf = Buffer.alloc(4);
  buf.writeInt32BE(n);
  return buf;
}

/** The Avro file (deflate) and the same rows as Parquet, cached in bench/.data/. */
async function files() {
  mkdirSync(dataDir, { recursive: true });
  const avroPath = join(dataDir, `orders-${rows}.avro`);
  const parquetPath = join(dataDir, `orders-avro-${rows}.parquet`);
  if (existsSync(avroPath) && existsSync(parquetPath)) return { avroPath, parquetPath };
  const logicalTypes = Object.fromEntries(["decimal", "date", "timestamp-millis"].map((n) => [n, Logical]));
  const type = avro.Type.forSchema(schema, { logicalTypes, wrapUnions: false });
  const csvPath = join(dataDir, `orders-avro-${rows}.csv`);
  const csv = createWriteStream(csvPath);
  const encoder = new avro.streams.BlockEncoder(type, { codec: "deflate", blockSize: 1 << 20 });
  const out = createWriteStream(avroPath);
  encoder.pipe(out);
  const statuses = ["NEW", "PAID", "SHIPPED"];
  csv.write("id,customer,amount,ordered_on,status,updated_at,note\n");
  for (let i = 0; i < rows; i++) {
    const amount = (i * 7919) % 1_000_000;
    const day = 19_000 + (i % 700);
    const at = 1_700_000_000_000 + i * 1000;
    const note = i % 10 === 0 ? null : `note ${i % 97}`;
    const r = {
      id: i,
      customer: `customer-${i % 50_000}`,
      amount: cents(amount),
      ordered_on: day,
      status: statuses[i % 3],
      updated_at: at,
      note,
    };
    if (!encoder.write(r)) await new Promise((resolve) => encoder.once("drain", resolve));
    const date = new Date(day * 86_400_000).toISOString().slice(0, 10);
    const ts = new Date(at).toISOString();
    if (
      !csv.write(`${i},${r.customer},${(amount / 100).toFixed(2)},${date},${r.status},${ts},${note ?? ""}\n`)
    ) {
      await new Promise((resolve) => csv.once("drain", resolve));
    }
  }
  encoder.end();
  await new Promise((resolve) => out.on("finish", resolve));
  await new Promise((resolve) => csv.end(resolve));
  const db = await DuckDBInstance.create();
  const con = await db.connect();
  await con.run(`COPY (SELECT id::BIGINT AS id, customer, amount::DECIMAL(12,2) AS amount, ordered_on::DATE AS ordered_on,
      status, updated_at::TIMESTAMPTZ AS updated_at, note
    FROM read_csv('${csvPath}', all_varchar = true)) TO '${parquetPath}' (FORMAT parquet)`);
  con.closeSync();
  db.closeSync();
  rmSync(csvPath);
  return { avroPath, parquetPath };
}

function project(file, name) {
  const dir = mkdtempSync(join(tmpdir(), "sluice-bench-avro-"));
  mkdirSync(join(dir, "landing", "in"), { recursive: true });
  copyFileSync(file, join(dir, "landing", "in", name));
  writeFileSync(
    join(dir, "sluice.yaml"),
    `landing: landing\npipelines:\n  orders:\n    source: { path: "in/*" }\n    target: { table: orders }\n`,
  );
  return dir;
}

const { avroPath, parquetPath } = await files();
console.log(`avro: ${rows} records vs the same rows as Parquet`);
const avroTimes = [];
const parquetTimes = [];
let peak = 0;
let parquetPeak = 0;
for (let round = 0; round < repeat; round++) {
  for (const [file, name, times] of [
    [parquetPath, "orders.parquet", parquetTimes],
    [avroPath, "orders.avro", avroTimes],
  ]) {
    const dir = project(file, name);
    const { seconds, result } = await time(`sluice run (${name})`, () => runCli(["run"], dir));
    if (result.code !== 0) throw new Error(`sluice run failed: ${result.stdout}`);
    times.push(seconds);
    if (name.endsWith(".avro")) peak = Math.max(peak, result.peakMb);
    else parquetPeak = Math.max(parquetPeak, result.peakMb);
    rmSync(dir, { recursive: true, force: true });
  }
}
console.log(
  `  median: parquet ${median(parquetTimes).toFixed(2)} s, avro ${median(avroTimes).toFixed(2)} s; peak RSS avro ${peak.toFixed(0)} MB, parquet ${parquetPeak.toFixed(0)} MB`,
);
reportRatio("avro_vs_parquet", median(avroTimes) / median(parquetTimes));
