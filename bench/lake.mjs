// Lake benchmark (not part of `npm test`). Needs a build first: `npm run build && node bench/lake.mjs`.
// 1. publishes the standard orders CSV (bench/data.mjs, BENCH_ROWS rows) into a Delta table partitioned by
//    year(order_date) with Sluice's writer, and times DuckDB's own partitioned Parquet COPY of the same rows
//    (RATIO lake_vs_duckdb_copy, target <= 1.3);
// 2. writes 1,000 one-row commits and times optimize over them;
// 3. `sluice run` (a child process) publishes a ~2 GB CSV into a partitioned Delta lake target; its peak RSS
//    (VmHWM) must stay <= 1.5 GB (PEAK line). LAKE_BIG_ROWS sets that CSV's rows (0 skips the step);
//    SLUICE_MEMORY_LIMIT (default here 1GB) caps DuckDB's memory in the child. LAKE_BIG_ONLY=1 runs only this step.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { copyFile, link, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { optimize, registerDeltaView, writeDelta } from "../dist/lake/index.js";
import { localStorage } from "../dist/storage/local-storage.js";
import { benchRows, dataDir, ordersCsv, reportRatio, time } from "./data.mjs";

const bigRows = Number(process.env.LAKE_BIG_ROWS ?? 13_000_000);
const dir = await mkdtemp(join(tmpdir(), "sluice-bench-lake-"));
const instance = await DuckDBInstance.create(":memory:");
const con = await instance.connect();

try {
  if (process.env.LAKE_BIG_ONLY !== "1") await writerAndOptimize();
  if (bigRows > 0) await bigCsvRun();
} finally {
  con.closeSync();
  instance.closeSync();
  await rm(dir, { recursive: true, force: true });
}

/** ~2 GB CSV through `sluice run` into a partitioned Delta target; prints the child's peak RSS. */
async function bigCsvRun() {
  const big = join(dataDir, `orders-big-${bigRows}.csv`);
  if (!existsSync(big)) {
    await time(`generate ${bigRows} rows CSV`, () =>
      con.run(`COPY (SELECT i AS order_id, 'cust_' || (i % 100000) AS customer,
          'user' || (i % 50000) || '@example.com' AS email, round((i * 7919 % 100000) / 100.0, 2) AS amount,
          DATE '2022-01-01' + (i % 1095)::INT AS order_date, ['NEW','SHIPPED','CANCELLED'][1 + (i % 3)::INT] AS status,
          'some free text note number ' || i AS note, TIMESTAMP '2024-01-01 00:00:00' + to_seconds(i) AS updated_at,
          'padding to reach two gigabytes ' || (i % 977) AS filler
        FROM range(${bigRows}) t(i)) TO '${big}.tmp' (FORMAT csv, HEADER)`),
    );
    renameSync(`${big}.tmp`, big);
  }
  const project = join(dir, "project");
  await mkdir(join(project, "landing", "in"), { recursive: true });
  // A hard link (landing zones list regular files, not symlinks); a copy across file systems.
  const landed = join(project, "landing", "in", "orders.csv");
  await link(big, landed).catch(() => copyFile(big, landed));
  writeFileSync(
    join(project, "sluice.yaml"),
    `pipelines:
  orders:
    source: { path: "in/*.csv" }
    columns: { order_date: { type: date } }
    derive: { order_year: "year(order_date)" }
    target:
      lake: { table: orders, partition_by: [order_year] }
`,
  );
  const limit = process.env.SLUICE_MEMORY_LIMIT ?? "1GB";
  const cli = new URL("../dist/sluice.js", import.meta.url).pathname;
  const { seconds, result } = await time(
    "sluice run: ~2 GB CSV -> partitioned Delta",
    () =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [cli, "run", "--json"], {
          cwd: project,
          env: { ...process.env, SLUICE_MEMORY_LIMIT: limit },
          stdio: ["ignore", "pipe", "inherit"],
        });
        let out = "";
        let peak = 0;
        const sample = () => {
          try {
            const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
            const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
            if (hwm) peak = Math.max(peak, Number(hwm[1]) * 1024);
          } catch {
            // process gone
          }
        };
        const timer = setInterval(sample, 100);
        child.stdout.on("data", (d) => {
          out += d;
        });
        child.on("error", reject);
        child.on("close", (code) => {
          clearInterval(timer);
          resolve({ code, out, peak });
        });
      }),
  );
  const report = JSON.parse(result.out || "{}");
  const run = report.runs?.[0];
  console.log(
    `  exit ${result.code}, status ${run?.status}, rows loaded ${run?.rows?.loaded} (${seconds.toFixed(1)} s)`,
  );
  if (run?.status !== "succeeded")
    throw new Error(`the big run did not succeed: ${run?.error ?? result.out}`);
  const gb = result.peak / 1024 ** 3;
  console.log(
    `PEAK sluice_run_2gb_csv_to_delta_rss ${gb.toFixed(2)} GB (target <= 1.5) ${gb <= 1.5 ? "PASS" : "FAIL"}`,
  );
}

/** Steps 1 and 2. */
async function writerAndOptimize() {
  console.log(`lake: ${benchRows} rows`);
  const csv = await ordersCsv(benchRows);
  // Both sides read the same staged rows, as a run does (the CSV parse is not what is compared).
  await time("stage the CSV into a table", () =>
    con.run(`CREATE TABLE staged AS SELECT *, year(order_date) AS order_year FROM read_csv('${csv}')`),
  );
  // Alternate the two writers and keep each one's best time: the machine may be busy.
  const lake = localStorage(join(dir, "lake"));
  let duckBest = Number.POSITIVE_INFINITY;
  let sluiceBest = Number.POSITIVE_INFINITY;
  const cpu = { duck: 0, sluice: 0 };
  const cpuOf = async (key, fn) => {
    const before = process.cpuUsage();
    const result = await fn();
    const used = process.cpuUsage(before);
    cpu[key] += (used.user + used.system) / 1e6;
    return result;
  };
  for (let round = 0; round < 3; round++) {
    const duck = await time("duckdb COPY partitioned parquet", () =>
      cpuOf("duck", () =>
        con.run(
          `COPY staged TO '${join(dir, `duck${round}`)}' (FORMAT parquet, PARTITION_BY (order_year), COMPRESSION zstd)`,
        ),
      ),
    );
    const sluice = await time("sluice writeDelta", () =>
      cpuOf("sluice", () =>
        writeDelta(con, { storage: lake, path: `orders${round}` }, "SELECT * FROM staged", {
          partitionBy: ["order_year"],
        }),
      ),
    );
    duckBest = Math.min(duckBest, duck.seconds);
    sluiceBest = Math.min(sluiceBest, sluice.seconds);
    console.log(`  files: ${sluice.result.filesAdded}`);
  }
  await registerDeltaView(con, { storage: lake, path: "orders0" }, "orders_v");
  const check = (await con.runAndReadAll("SELECT count(*) FROM orders_v")).getRows()[0][0];
  if (Number(check) !== benchRows) throw new Error(`read back ${check} rows, expected ${benchRows}`);
  reportRatio("lake_vs_duckdb_copy", sluiceBest / duckBest, 1.3);
  // CPU seconds of the whole process (DuckDB threads included): steadier than wall time on a busy machine.
  reportRatio("lake_vs_duckdb_copy_cpu", cpu.sluice / cpu.duck);
  await con.run("DROP TABLE staged");

  const small = { storage: lake, path: "small" };
  await time("1,000 one-row commits", async () => {
    for (let i = 0; i < 1000; i++) {
      await writeDelta(con, small, `SELECT ${i} AS id, ${i % 4} AS p, 'x' AS v`, { partitionBy: ["p"] });
    }
  });
  const opt = await time("optimize 1,000 small files", () => optimize(con, small));
  console.log(`  optimize: removed ${opt.result.filesRemoved}, added ${opt.result.filesAdded}`);
}
