// Core pipeline benchmark: `sluice run` (append, no checks) of the 5M-row CSV versus DuckDB's own
// `CREATE TABLE ... AS SELECT * FROM read_csv(...)` on the same file, in the same run (target ratio <= 1.3),
// plus the peak RSS of the sluice process.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { benchRows, ordersCsv, reportRatio, runCli, time } from "./data.mjs";

const csv = await ordersCsv();
const dir = mkdtempSync(join(tmpdir(), "sluice-bench-core-"));
try {
  mkdirSync(join(dir, "landing", "in"), { recursive: true });
  writeFileSync(
    join(dir, "sluice.yaml"),
    `warehouse: duckdb:warehouse.duckdb\nlanding: landing\npipelines:\n  orders:\n    source: { path: "in/*.csv" }\n    target: { table: orders, mode: append }\n`,
  );
  console.log(`core: ${benchRows} rows`);
  // Same file system, same page cache state for both: copy first, then time.
  copyFileSync(csv, join(dir, "landing", "in", "orders.csv"));
  const duck = await time("duckdb CREATE TABLE AS read_csv", async () => {
    const instance = await DuckDBInstance.create(join(dir, "baseline.duckdb"));
    const con = await instance.connect();
    await con.run(
      `CREATE TABLE orders AS SELECT * FROM read_csv('${join(dir, "landing", "in", "orders.csv")}')`,
    );
    con.closeSync();
    instance.closeSync();
  });
  const sluice = await time("sluice run (append, no checks)", () => runCli(["run", "--json"], dir));
  if (sluice.result.code !== 0) throw new Error(`sluice run failed: ${sluice.result.stdout}`);
  const report = JSON.parse(sluice.result.stdout).runs[0];
  console.log(`  loaded ${report.rows.loaded} rows; sluice peak RSS ${sluice.result.peakMb.toFixed(0)} MB`);
  reportRatio("core_run_vs_duckdb_ctas", sluice.seconds / duck.seconds, 1.3);
  console.log(`PEAK core_sluice_rss_mb ${sluice.result.peakMb.toFixed(0)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
