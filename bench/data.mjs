// Shared benchmark data: the 5M-row (~600 MB) orders CSV, generated once by DuckDB into bench/.data/.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { DuckDBInstance } from "@duckdb/node-api";
import { DEFAULT_DUCKDB_STORAGE_VERSION } from "../dist/warehouse/duckdb-driver.js";

export const dataDir = new URL("./.data/", import.meta.url).pathname;

/**
 * Options for the DuckDB files baselines write: the storage format Sluice gives the warehouse files it
 * creates (DuckDB's own default is an older one), so both sides of a ratio store data the same way.
 */
export const duckdbFileOptions = { storage_compatibility_version: DEFAULT_DUCKDB_STORAGE_VERSION };

/** Rounds of baseline and Sluice, alternating (BENCH_REPEAT, default 3): ratios are of the medians. */
export const repeat = Math.max(1, Number(process.env.BENCH_REPEAT ?? 3));

/** Median of a list of numbers. */
export function median(xs) {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Rows of the standard workload (BENCH_ROWS overrides, e.g. for a quick smoke run). */
export const benchRows = Number(process.env.BENCH_ROWS ?? 5_000_000);

/** Path of the orders CSV with `rows` rows, generating it when missing. */
export async function ordersCsv(rows = benchRows) {
  mkdirSync(dataDir, { recursive: true });
  const path = `${dataDir}orders-${rows}.csv`;
  if (existsSync(path)) return path;
  const instance = await DuckDBInstance.create(":memory:");
  const con = await instance.connect();
  const tmp = `${path}.tmp`;
  await con.run(`COPY (SELECT i AS order_id, 'cust_' || (i % 100000) AS customer,
      'user' || (i % 50000) || '@example.com' AS email, round((i * 7919 % 100000) / 100.0, 2) AS amount,
      DATE '2022-01-01' + (i % 1095)::INT AS order_date, ['NEW','SHIPPED','CANCELLED'][1 + (i % 3)::INT] AS status,
      'some free text note number ' || i AS note, TIMESTAMP '2024-01-01 00:00:00' + to_seconds(i) AS updated_at
    FROM range(${rows}) t(i)) TO '${tmp}' (FORMAT csv, HEADER)`);
  con.closeSync();
  instance.closeSync();
  renameSync(tmp, path);
  return path;
}

/**
 * Times an async function; returns seconds and its result. Dirty pages left by earlier steps (database
 * files just written) are flushed first, so no step pays for the write-back of the one before it.
 */
export async function time(label, fn) {
  spawnSync("sync");
  const t0 = performance.now();
  const result = await fn();
  const seconds = (performance.now() - t0) / 1000;
  console.log(`  ${label}: ${seconds.toFixed(2)} s`);
  return { seconds, result };
}

/** Prints a ratio line the way every workload does: `RATIO <name> <value> (target <= <t>) PASS|FAIL`. */
export function reportRatio(name, value, target) {
  const verdict = target === undefined ? "" : value <= target ? " PASS" : " FAIL";
  console.log(
    `RATIO ${name} ${value.toFixed(3)}${target === undefined ? "" : ` (target <= ${target})`}${verdict}`,
  );
}

const cli = new URL("../dist/sluice.js", import.meta.url).pathname;

/** Runs the built CLI as a child process (extra environment variables in `env`), sampling its peak resident memory (VmHWM) until it exits. */
export function runCli(args, cwd, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], {
      cwd,
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, ...env },
    });
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
