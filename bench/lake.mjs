// Lake writer benchmark (not part of `npm test`). Needs a build first: `npm run build && node bench/lake.mjs [rows]`.
// 1. generates a CSV of N rows (default 5,000,000) with DuckDB,
// 2. publishes it into a Delta table partitioned by year(order_date) with Sluice's writer,
//    and times DuckDB's own partitioned Parquet COPY of the same CSV for comparison (target ratio <= 1.3),
// 3. writes 1,000 one-row commits and times optimize over them.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { optimize, registerDeltaView, writeDelta } from "../dist/lake/index.js";
import { localStorage } from "../dist/storage/local-storage.js";

const rows = Number(process.argv[2] ?? 5_000_000);
const dir = await mkdtemp(join(tmpdir(), "sluice-bench-lake-"));
const instance = await DuckDBInstance.create(":memory:");
const con = await instance.connect();
const time = async (label, fn) => {
  const t0 = performance.now();
  const result = await fn();
  const s = (performance.now() - t0) / 1000;
  console.log(`${label}: ${s.toFixed(2)}s`);
  return { s, result };
};

try {
  const csv = join(dir, "orders.csv");
  await time(`generate ${rows} rows CSV`, () =>
    con.run(`COPY (SELECT range AS order_id, 'customer_' || (range % 50000) AS customer,
      'user' || (range % 50000) || '@example.com' AS email, round(random() * 1000, 2)::DECIMAL(12,2) AS amount,
      DATE '2022-01-01' + (range % 1095)::INTEGER AS order_date,
      (['NEW','SHIPPED','CANCELLED'])[1 + range % 3] AS status, CASE WHEN range % 10 = 0 THEN 'note ' || range END AS note,
      TIMESTAMP '2024-01-01' + to_seconds(range % 100000) AS updated_at FROM range(${rows}))
      TO '${csv}' (FORMAT csv, HEADER)`),
  );
  const source = `SELECT *, year(order_date) AS order_year FROM read_csv('${csv}')`;
  const duck = await time("duckdb COPY partitioned parquet", () =>
    con.run(
      `COPY (${source}) TO '${join(dir, "duck")}' (FORMAT parquet, PARTITION_BY (order_year), COMPRESSION zstd)`,
    ),
  );
  const lake = localStorage(join(dir, "lake"));
  const sluice = await time("sluice writeDelta", () =>
    writeDelta(con, { storage: lake, path: "orders" }, source, { partitionBy: ["order_year"] }),
  );
  console.log(
    `ratio sluice/duckdb: ${(sluice.s / duck.s).toFixed(2)} (target <= 1.3); files: ${sluice.result.filesAdded}`,
  );
  await registerDeltaView(con, { storage: lake, path: "orders" }, "orders_v");
  const check = (await con.runAndReadAll("SELECT count(*) FROM orders_v")).getRows()[0][0];
  console.log(`read back: ${check} rows`);

  const small = { storage: lake, path: "small" };
  await time("1,000 one-row commits", async () => {
    for (let i = 0; i < 1000; i++) {
      await writeDelta(con, small, `SELECT ${i} AS id, ${i % 4} AS p, 'x' AS v`, { partitionBy: ["p"] });
    }
  });
  const opt = await time("optimize 1,000 small files", () => optimize(con, small));
  console.log(`optimize: removed ${opt.result.filesRemoved}, added ${opt.result.filesAdded}`);
} finally {
  con.closeSync();
  instance.closeSync();
  await rm(dir, { recursive: true, force: true });
}
