// Core pipeline benchmark: `sluice run` (append, no checks) of the 5M-row CSV versus DuckDB's own
// `CREATE TABLE ... AS SELECT * FROM read_csv(...)` on the same file, in the same run (target ratio <= 1.3),
// plus the peak RSS of the sluice process.
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { benchRows, ordersCsv, reportRatio, time } from "./data.mjs";

const cli = new URL("../dist/cli/main.js", import.meta.url).pathname;

/** Runs the CLI as a child, sampling its peak resident memory (VmHWM) until it exits. */
export function runCli(args, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd, stdio: ["ignore", "pipe", "inherit"] });
    let peakKb = 0;
    let stdout = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    const sample = () => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
        if (m) peakKb = Math.max(peakKb, Number(m[1]));
      } catch {}
    };
    const timer = setInterval(sample, 50);
    child.on("error", reject);
    child.on("exit", (code) => {
      clearInterval(timer);
      resolve({ code, stdout, peakMb: peakKb / 1024 });
    });
  });
}

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
    await con.run(`CREATE TABLE orders AS SELECT * FROM read_csv('${join(dir, "landing", "in", "orders.csv")}')`);
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
