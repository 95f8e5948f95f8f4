// Small files: `sluice run` (whole process, append, no checks) of many small CSV files versus DuckDB
// reading the same files in one `read_csv([...], filename = true)` statement into a table (whole
// process too: a node process opening DuckDB). Two shapes: 1,000 files × 5 rows and 10,000 files ×
// 1 row (SMALL_FILES_SHAPES=1000x5 for one). Ratio target <= 3; peak RSS of sluice (target <= 500 MB).
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { reportRatio, runCli, time } from "./data.mjs";

const shapes = (process.env.SMALL_FILES_SHAPES ?? "1000x5,10000x1").split(",").map((s) => {
  const [files, rows] = s.split("x").map(Number);
  return { files, rows };
});

/** Writes `files` CSV files of `rows` rows each under `dir`. */
function writeFiles(dir, files, rows) {
  mkdirSync(dir, { recursive: true });
  for (let f = 0; f < files; f++) {
    let text = "id,device,reading,at\n";
    for (let r = 0; r < rows; r++) {
      const id = f * rows + r;
      text += `${id},dev_${f % 97},${(id * 7919) % 1000}.5,2026-01-01 00:00:${String(r % 60).padStart(2, "0")}\n`;
    }
    writeFileSync(join(dir, `f${String(f).padStart(6, "0")}.csv`), text);
  }
}

/** DuckDB reading every file in one statement into a table, in a process of its own (as sluice is). */
function duckdbOneStatement(database, glob) {
  const script = `
    import { DuckDBInstance } from "@duckdb/node-api";
    const instance = await DuckDBInstance.create(${JSON.stringify(database)});
    const con = await instance.connect();
    await con.run(\`CREATE TABLE readings AS SELECT * FROM read_csv(${JSON.stringify(glob).replaceAll('"', "'")}, filename = true)\`);
    con.closeSync();
    instance.closeSync();`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      cwd: new URL("../", import.meta.url).pathname,
      stdio: ["ignore", "inherit", "inherit"],
    });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`duckdb exited ${code}`))));
  });
}

const root = mkdtempSync(join(tmpdir(), "sluice-bench-small-"));
try {
  for (const { files, rows } of shapes) {
    const name = `${files}x${rows}`;
    console.log(`small-files: ${files} files × ${rows} rows`);
    const dir = join(root, name);
    const landing = join(dir, "landing", "in");
    writeFiles(landing, files, rows);
    writeFileSync(
      join(dir, "sluice.yaml"),
      `warehouse: duckdb:warehouse.duckdb\nlanding: landing\npipelines:\n  readings:\n    source: { path: "in/*.csv" }\n    target: { table: readings, mode: append }\n`,
    );
    const duck = await time("duckdb one read_csv([...]) into a table", () =>
      duckdbOneStatement(join(dir, "baseline.duckdb"), join(landing, "*.csv")),
    );
    const sluice = await time("sluice run", () => runCli(["run", "--json"], dir));
    if (sluice.result.code !== 0)
      throw new Error(`sluice run failed: ${sluice.result.stdout.slice(0, 2000)}`);
    const report = JSON.parse(sluice.result.stdout).runs[0];
    if (report.rows.loaded !== files * rows) throw new Error(`loaded ${report.rows.loaded} rows`);
    reportRatio(`small_files_${name}_vs_duckdb`, sluice.seconds / duck.seconds, 3);
    console.log(`PEAK small_files_${name}_sluice_rss_mb ${sluice.result.peakMb.toFixed(0)}`);
    rmSync(dir, { recursive: true, force: true });
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
