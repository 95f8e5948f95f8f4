// Core pipeline benchmark: `sluice run` (append, no checks) of the 5M-row CSV versus DuckDB's own
// `CREATE TABLE ... AS SELECT * FROM read_csv(...)` on the same file, alternating BENCH_REPEAT rounds
// (default 3) in the same run; the ratio is of the medians (target <= 1.3). Also the peak RSS of sluice.
// The baseline writes its file in the storage format Sluice uses for the warehouse (see data.mjs).
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import {
  benchRows,
  duckdbFileOptions,
  median,
  ordersCsv,
  repeat,
  reportRatio,
  runCli,
  time,
} from "./data.mjs";

const csv = await ordersCsv();
const root = mkdtempSync(join(tmpdir(), "sluice-bench-core-"));
try {
  console.log(`core: ${benchRows} rows, ${repeat} rounds`);
  const input = join(root, "orders.csv");
  // Same file system, same page cache state for both: copy first, then time.
  copyFileSync(csv, input);
  const ducks = [];
  const sluices = [];
  let peakMb = 0;
  for (let round = 0; round < repeat; round++) {
    const dir = join(root, `round${round}`);
    mkdirSync(join(dir, "landing", "in"), { recursive: true });
    writeFileSync(
      join(dir, "sluice.yaml"),
      `warehouse: duckdb:warehouse.duckdb\nlanding: landing\npipelines:\n  orders:\n    source: { path: "in/*.csv" }\n    target: { table: orders, mode: append }\n`,
    );
    copyFileSync(input, join(dir, "landing", "in", "orders.csv"));
    const duck = await time("duckdb CREATE TABLE AS read_csv", async () => {
      const instance = await DuckDBInstance.create(join(dir, "baseline.duckdb"), duckdbFileOptions);
      const con = await instance.connect();
      await con.run(`CREATE TABLE orders AS SELECT * FROM read_csv('${input}')`);
      con.closeSync();
      instance.closeSync();
    });
    const sluice = await time("sluice run (append, no checks)", () => runCli(["run", "--json"], dir));
    if (sluice.result.code !== 0) throw new Error(`sluice run failed: ${sluice.result.stdout}`);
    const report = JSON.parse(sluice.result.stdout).runs[0];
    if (report.rows.loaded !== benchRows) throw new Error(`loaded ${report.rows.loaded} rows`);
    ducks.push(duck.seconds);
    sluices.push(sluice.seconds);
    peakMb = Math.max(peakMb, sluice.result.peakMb);
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`  medians: CTAS ${median(ducks).toFixed(2)} s, sluice ${median(sluices).toFixed(2)} s`);
  reportRatio("core_run_vs_duckdb_ctas", median(sluices) / median(ducks), 1.3);
  console.log(`PEAK core_sluice_rss_mb ${peakMb.toFixed(0)}`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
