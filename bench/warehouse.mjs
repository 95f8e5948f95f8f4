// Warehouse benchmarks, Sluice versus the best hand-written equivalent in the same run:
// - PostgreSQL append: a 1M-row CSV into a new table, against psql `\copy` of the same file into a new
//   logged table of the same data columns (the types Sluice infers). RATIO pg_append_vs_copy (target <= 1.25);
//   in the same rounds the staged way (SLUICE_SINGLE_PASS=0) and the floor (pg-copy-floor.mjs: DuckDB's
//   read streamed into COPY, nothing else), informational.
// - merge of a 1M-row CSV into a table already holding 1M rows (50% overlap, every overlapping row changed):
//   PostgreSQL: psql in one session (\copy into a temporary staging table, INSERT ... ON CONFLICT DO UPDATE)
//   DuckDB:     a raw MERGE INTO ... USING read_csv(...)
//   RATIO pg_merge_vs_psql (target <= 1.2), RATIO psql_merge_vs_copy (informational),
//   RATIO duckdb_merge_vs_raw (target <= 1.8; Sluice keeps the before-images rollback needs).
//   The PostgreSQL merge also runs, in the same rounds, the staged way and the floor (pg-merge-floor.mjs:
//   DuckDB's read streamed into COPY into a stage, then ON CONFLICT, nothing else), informational.
// Both PostgreSQL workloads print the CPU of every way: the process's (/usr/bin/time) plus the server
// backends' of the benchmark's database (sampled from /proc), and *_cpu_* ratios of their medians.
// PostgreSQL from BENCH_PG (default postgres://postgres@127.0.0.1:5432). Baseline and Sluice alternate
// BENCH_REPEAT times (default 3) on fresh tables; the ratios are of the medians (the machine may be shared:
// single runs swing a lot), and every round's pair is printed so the spread shows.
// BENCH_WAREHOUSE=pg_append,pg_merge,duckdb_merge (any of them, comma-separated; `postgres` = both
// PostgreSQL ones, `duckdb` = duckdb_merge) runs a subset.
import { spawn } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import pg from "pg";
import { duckdbFileOptions, median, ordersCsv, repeat, reportRatio, time } from "./data.mjs";

const rows = Number(process.env.BENCH_WAREHOUSE_ROWS ?? 1_000_000);
const server = process.env.BENCH_PG ?? "postgres://postgres@127.0.0.1:5432";
// BENCH_CLI: another build's dist/sluice.js (a baseline), run the same way in the same rounds.
const cli = process.env.BENCH_CLI ?? new URL("../dist/sluice.js", import.meta.url).pathname;
const floorScript = new URL("./pg-copy-floor.mjs", import.meta.url).pathname;
// BENCH_PG_APPEND_OTHER_CLI: another build's dist/sluice.js, run by pg_append in the staged way's place.
const otherAppendCli = process.env.BENCH_PG_APPEND_OTHER_CLI;
const csv = await ordersCsv(rows);
const dataCols = "order_id, customer, email, amount, order_date, status, note, updated_at";
const columnDefs =
  "order_id bigint, customer text, email text, amount numeric(12,2), order_date date, status text, note text, updated_at timestamp";
const sluiceCols = "_sluice_run_id text, _sluice_source_file text, _sluice_loaded_at timestamptz";
const from = Math.floor(rows / 2);
/** `col = <source>.col` for every data column but the key. */
const assignments = (source) =>
  dataCols
    .split(", ")
    .slice(1)
    .map((c) => `${c} = ${source}.${c}`)
    .join(", ");
const to = from + rows - 1;

/**
 * CPU seconds (user + system) of a child process, from `/usr/bin/time` wrapped around it (its last
 * stderr line), or undefined where that tool is missing.
 */
const timeTool = "/usr/bin/time";
async function timed(command, args, options) {
  const run = (cmd, argv) =>
    new Promise((resolve) => {
      const child = spawn(cmd, argv, { ...options, stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => {
        stdout += d;
      });
      child.stderr.on("data", (d) => {
        stderr += d;
      });
      child.on("error", (error) => resolve({ error, status: null, stdout, stderr }));
      child.on("close", (status) => resolve({ status, stdout, stderr }));
      child.stdin.end(options.input ?? "");
    });
  const wrapped = await run(timeTool, ["-f", "CPU %U %S", command, ...args]);
  if (wrapped.error) return { ...(await run(command, args)), cpu: undefined };
  const lines = wrapped.stderr.trimEnd().split("\n");
  const last = lines.at(-1)?.match(/^CPU ([\d.]+) ([\d.]+)$/);
  return {
    ...wrapped,
    stderr: last ? lines.slice(0, -1).join("\n") : wrapped.stderr,
    cpu: last ? Number(last[1]) + Number(last[2]) : undefined,
  };
}

/**
 * CPU seconds the PostgreSQL backends of `database` (and their parallel workers) use while it runs,
 * sampled from /proc every 50 ms (a backend's last < 50 ms are missed; the machine's other databases are
 * not counted). Linux only; elsewhere 0.
 */
function backendCpu(database) {
  const seen = new Map();
  const tick = Number(process.env.BENCH_CLK_TCK ?? 100);
  const sample = () => {
    let pids = [];
    try {
      pids = readdirSync("/proc").filter((p) => /^\d+$/.test(p));
    } catch {
      return;
    }
    const ours = new Set();
    const workers = [];
    for (const pid of pids) {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
        if (!cmd.startsWith("postgres:")) continue;
        if (cmd.includes(` ${database} `)) ours.add(pid);
        const leader = cmd.match(/parallel worker for PID (\d+)/);
        if (leader) workers.push([pid, leader[1]]);
      } catch {}
    }
    for (const [pid, leader] of workers) if (ours.has(leader)) ours.add(pid);
    for (const pid of ours) {
      try {
        const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
        const ticks = Number(fields[11]) + Number(fields[12]);
        seen.set(pid, Math.max(seen.get(pid) ?? 0, ticks));
      } catch {}
    }
  };
  const before = new Map();
  sample();
  for (const [pid, t] of seen) before.set(pid, t);
  const timer = setInterval(sample, 50);
  return () => {
    clearInterval(timer);
    sample();
    let total = 0;
    for (const [pid, t] of seen) total += t - (before.get(pid) ?? 0);
    return total / tick;
  };
}

async function admin(sql, database = "postgres") {
  const client = new pg.Client({ connectionString: `${server}/${database}` });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

async function pgPreload(database) {
  await admin(
    `DROP TABLE IF EXISTS orders; CREATE TABLE orders (${columnDefs}, ${sluiceCols}, PRIMARY KEY (order_id));
     INSERT INTO orders (${dataCols}) SELECT i, 'cust_' || (i % 100000), 'user' || (i % 50000) || '@example.com',
       round(((i * 7919) % 100000) / 100.0 + 1, 2), date '2022-01-01' + (i % 1095)::int,
       (ARRAY['NEW','SHIPPED','CANCELLED'])[1 + (i % 3)], 'old note ' || i, timestamp '2023-01-01' + i * interval '1 second'
     FROM generate_series(${from}::bigint, ${to}::bigint) i`,
    database,
  );
  await admin("VACUUM ANALYZE orders", database);
  await admin("CHECKPOINT", database);
}

async function psql(database, script) {
  const url = new URL(`${server}/${database}`);
  const result = await timed(
    "psql",
    [
      "-X",
      "-q",
      "-v",
      "ON_ERROR_STOP=1",
      "-h",
      url.hostname,
      "-p",
      url.port || "5432",
      "-U",
      url.username || "postgres",
      "-d",
      database,
    ],
    { input: script, encoding: "utf8" },
  );
  if (result.status !== 0) throw new Error(`psql failed: ${result.stderr}`);
  return { cpu: result.cpu };
}

async function sluiceRun(dir, env = {}, entry = cli) {
  const result = await timed(process.execPath, [entry, "run", "--json"], {
    cwd: dir,
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
  const report = JSON.parse(result.stdout || "{}");
  if (result.status !== 0) throw new Error(`sluice run failed: ${result.stdout}${result.stderr}`);
  return { ...report.runs?.[0], cpu: result.cpu };
}

/**
 * Where a run's time went, from its run log: process start to the first log line, the read of the files
 * into DuckDB (run started → last file staged), then the publish (and the profile inside or beside it).
 */
function stages(dir, report, startedAt) {
  if (!report?.log) return "";
  const lines = readFileSync(join(dir, "landing", report.log), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  const at = (msg, last = false) => {
    const hits = lines.filter((l) => l.msg === msg);
    const hit = last ? hits.at(-1) : hits[0];
    return hit ? { t: Date.parse(hit.time), ms: hit.ms } : undefined;
  };
  const started = at("run started");
  // A single pass stages nothing: its files are planned, then read by the publish itself.
  const staged = at("staged", true) ?? at("planned", true);
  const published = at("published");
  const profiled = at("profiled");
  const s = (ms) => (ms === undefined ? "?" : `${(ms / 1000).toFixed(2)} s`);
  const read = at("staged") ? "read into DuckDB" : "planned (single pass)";
  return `  stages: start ${s(started && started.t - startedAt)}, ${read} ${s(staged && started && staged.t - started.t)}, publish ${s(published?.ms)} (profile ${s(profiled?.ms)}), after ${s(published && Date.parse(lines.at(-1).time) - published.t)}`;
}

function project(warehouse, target = "{ table: orders, mode: merge, keys: [order_id] }", columns = true) {
  const dir = mkdtempSync(join(tmpdir(), "sluice-bench-wh-"));
  mkdirSync(join(dir, "landing/in"), { recursive: true });
  copyFileSync(csv, join(dir, "landing/in/orders.csv"));
  writeFileSync(
    join(dir, "sluice.yaml"),
    `warehouse: "${warehouse}"\npipelines:\n  orders:\n    source: { path: "in/*.csv" }\n${columns ? `    columns: { amount: { type: "decimal(12,2)" } }\n` : ""}    target: ${target}\n`,
  );
  return dir;
}

/** The data columns as Sluice creates them for the CSV when no types are declared. */
const inferredDefs =
  "order_id bigint, customer text, email text, amount double precision, order_date date, status text, note text, updated_at timestamp";

async function benchPostgresAppend() {
  console.log(`PostgreSQL append of ${rows} CSV rows into a new table`);
  const database = `sluice_bench_${process.pid}`;
  await admin(`CREATE DATABASE ${database}`);
  try {
    const escaped = csv.replaceAll("'", "''");
    const copies = [];
    const ourTimes = [];
    const stagedTimes = [];
    const floorTimes = [];
    // CPU seconds (process + backends) per round: psql, sluice, staged way, floor.
    const cpu = { copy: [], ours: [], staged: [], floor: [] };
    for (let round = 1; round <= repeat; round++) {
      await admin("DROP TABLE IF EXISTS orders; DROP SCHEMA IF EXISTS sluice CASCADE", database);
      await admin("CHECKPOINT", database);
      const copy = await timeWithCpu(`[${round}] psql \\copy into a new logged table`, database, () =>
        psql(
          database,
          `CREATE TABLE orders (${inferredDefs});\n\\copy orders FROM '${escaped}' WITH (FORMAT csv, HEADER true)\n`,
        ),
      );
      copies.push(copy.seconds);
      cpu.copy.push(copy.cpu);
      await admin("DROP TABLE IF EXISTS orders; DROP SCHEMA IF EXISTS sluice CASCADE", database);
      await admin("CHECKPOINT", database);
      const dir = project(`${server}/${database}`, "{ table: orders, mode: append }", false);
      let startedAt = 0;
      const ours = await timeWithCpu(
        `[${round}] sluice run (append into a new PostgreSQL table)`,
        database,
        () => {
          startedAt = Date.now();
          return sluiceRun(dir);
        },
      );
      console.log(
        `  sluice load: ${JSON.stringify(ours.result?.load)} reconciliation ok: ${ours.result?.reconciliation?.ok}; round ratio ${(ours.seconds / copy.seconds).toFixed(3)}`,
      );
      console.log(stages(dir, ours.result, startedAt));
      rmSync(dir, { recursive: true, force: true });
      ourTimes.push(ours.seconds);
      cpu.ours.push(ours.cpu);
      // The staged way (read into DuckDB, then COPY out) in the same round, for comparison; or, with
      // BENCH_PG_APPEND_OTHER_CLI, another build's run (a baseline build) in its place.
      await admin("DROP TABLE IF EXISTS orders; DROP SCHEMA IF EXISTS sluice CASCADE", database);
      await admin("CHECKPOINT", database);
      const stagedDir = project(`${server}/${database}`, "{ table: orders, mode: append }", false);
      const staged = await timeWithCpu(
        otherAppendCli
          ? `[${round}] sluice run, other build (${otherAppendCli})`
          : `[${round}] sluice run, staged way (SLUICE_SINGLE_PASS=0)`,
        database,
        () => {
          startedAt = Date.now();
          return otherAppendCli
            ? sluiceRun(stagedDir, {}, otherAppendCli)
            : sluiceRun(stagedDir, { SLUICE_SINGLE_PASS: "0" });
        },
      );
      console.log(`  round ratio ${(staged.seconds / copy.seconds).toFixed(3)}`);
      console.log(stages(stagedDir, staged.result, startedAt));
      rmSync(stagedDir, { recursive: true, force: true });
      stagedTimes.push(staged.seconds);
      cpu.staged.push(staged.cpu);
      // The floor: a process doing nothing but DuckDB's read of the file streamed into COPY.
      await admin("DROP TABLE IF EXISTS orders; DROP SCHEMA IF EXISTS sluice CASCADE", database);
      await admin("CHECKPOINT", database);
      const floor = await timeWithCpu(
        `[${round}] DuckDB read -> COPY into a new table, nothing else`,
        database,
        async () => {
          const result = await timed(process.execPath, [floorScript, `${server}/${database}`, csv], {});
          if (result.status !== 0) throw new Error(`pg-copy-floor failed: ${result.stderr}`);
          return result;
        },
      );
      console.log(`  round ratio ${(floor.seconds / copy.seconds).toFixed(3)}`);
      floorTimes.push(floor.seconds);
      cpu.floor.push(floor.cpu);
    }
    console.log(
      `  medians: psql \\copy ${median(copies).toFixed(2)} s, sluice ${median(ourTimes).toFixed(2)} s, ${otherAppendCli ? "other build" : "staged way"} ${median(stagedTimes).toFixed(2)} s, floor ${median(floorTimes).toFixed(2)} s`,
    );
    console.log(
      `  medians (CPU, process + backends): psql \\copy ${median(cpu.copy).toFixed(2)} s, sluice ${median(cpu.ours).toFixed(2)} s, ${otherAppendCli ? "other build" : "staged way"} ${median(cpu.staged).toFixed(2)} s, floor ${median(cpu.floor).toFixed(2)} s`,
    );
    reportRatio("pg_append_vs_copy", median(ourTimes) / median(copies), 1.25);
    reportRatio("pg_append_cpu_vs_copy", median(cpu.ours) / median(cpu.copy));
    const second = otherAppendCli ? "other" : "staged";
    reportRatio(`pg_append_${second}_cpu_vs_copy`, median(cpu.staged) / median(cpu.copy));
    reportRatio("pg_append_floor_cpu_vs_copy", median(cpu.floor) / median(cpu.copy));
    reportRatio(`pg_append_${second}_vs_copy`, median(stagedTimes) / median(copies));
    reportRatio("pg_append_floor_vs_copy", median(floorTimes) / median(copies));
  } finally {
    await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  }
}

/**
 * `time` plus CPU: of the process `fn` runs (its result's `cpu`) and of the PostgreSQL backends of
 * `database` meanwhile. Prints the CPU beside the time.
 */
async function timeWithCpu(label, database, fn) {
  const stop = backendCpu(database);
  const timedRun = await time(label, fn);
  const server = stop();
  const own = timedRun.result?.cpu;
  console.log(`    CPU: process ${own?.toFixed(2) ?? "?"} s, PostgreSQL backends ${server.toFixed(2)} s`);
  return { ...timedRun, cpu: (own ?? Number.NaN) + server };
}

const floorMergeScript = new URL("./pg-merge-floor.mjs", import.meta.url).pathname;

async function benchPostgres() {
  console.log(`PostgreSQL merge of ${rows} CSV rows into ${rows} existing rows (50% overlap)`);
  const database = `sluice_bench_${process.pid}`;
  await admin(`CREATE DATABASE ${database}`);
  try {
    const escaped = csv.replaceAll("'", "''");
    await pgPreload(database);
    const copy = await time("psql \\copy into a temporary table", () =>
      psql(
        database,
        `CREATE TEMP TABLE stage (${columnDefs});\n\\copy stage FROM '${escaped}' WITH (FORMAT csv, HEADER true)\n`,
      ),
    );
    const updates = assignments("EXCLUDED");
    // Per way: wall seconds and CPU seconds (process + backends) of each round.
    const ways = { hand: [[], []], single: [[], []], staged: [[], []], floor: [[], []] };
    const keep = (way, measured) => {
      ways[way][0].push(measured.seconds);
      ways[way][1].push(measured.cpu);
    };
    const sluiceWay = async (round, way, env) => {
      await pgPreload(database);
      await admin("DROP SCHEMA IF EXISTS sluice CASCADE", database);
      const dir = project(`${server}/${database}`);
      let startedAt = 0;
      const label =
        way === "single"
          ? "sluice run (merge into PostgreSQL)"
          : "sluice run, staged way (SLUICE_SINGLE_PASS=0)";
      const ours = await timeWithCpu(`[${round}] ${label}`, database, () => {
        startedAt = Date.now();
        return sluiceRun(dir, env);
      });
      console.log(
        `  sluice load: ${JSON.stringify(ours.result?.load)} reconciliation ok: ${ours.result?.reconciliation?.ok}`,
      );
      console.log(stages(dir, ours.result, startedAt));
      rmSync(dir, { recursive: true, force: true });
      keep(way, ours);
    };
    for (let round = 1; round <= repeat; round++) {
      await pgPreload(database);
      const hand = await timeWithCpu(
        `[${round}] psql \\copy + INSERT ... ON CONFLICT DO UPDATE`,
        database,
        () =>
          psql(
            database,
            `CREATE TEMP TABLE stage (${columnDefs});\n\\copy stage FROM '${escaped}' WITH (FORMAT csv, HEADER true)\nINSERT INTO orders (${dataCols}) SELECT ${dataCols} FROM stage ON CONFLICT (order_id) DO UPDATE SET ${updates};\n`,
          ),
      );
      keep("hand", hand);
      // Alternating the order of the two Sluice ways from round to round.
      const order = round % 2 === 1 ? ["single", "staged"] : ["staged", "single"];
      for (const way of order)
        await sluiceWay(round, way, way === "staged" ? { SLUICE_SINGLE_PASS: "0" } : {});
      // The floor: DuckDB's read streamed into COPY into a stage, then ON CONFLICT, nothing else.
      await pgPreload(database);
      const floor = await timeWithCpu(
        `[${round}] DuckDB read -> COPY -> ON CONFLICT, nothing else`,
        database,
        async () => {
          const result = await timed(
            process.execPath,
            [floorMergeScript, `${server}/${database}`, csv, columnDefs, dataCols, updates],
            {},
          );
          if (result.status !== 0) throw new Error(`pg-merge-floor failed: ${result.stderr}`);
          return result;
        },
      );
      keep("floor", floor);
    }
    const m = (way, i) => median(ways[way][i]);
    console.log(
      `  medians (wall): psql ${m("hand", 0).toFixed(2)} s, sluice ${m("single", 0).toFixed(2)} s, staged way ${m("staged", 0).toFixed(2)} s, floor ${m("floor", 0).toFixed(2)} s`,
    );
    console.log(
      `  medians (CPU, process + backends): psql ${m("hand", 1).toFixed(2)} s, sluice ${m("single", 1).toFixed(2)} s, staged way ${m("staged", 1).toFixed(2)} s, floor ${m("floor", 1).toFixed(2)} s`,
    );
    reportRatio("pg_merge_vs_psql", m("single", 0) / m("hand", 0), 1.2);
    reportRatio("pg_merge_staged_vs_psql", m("staged", 0) / m("hand", 0));
    reportRatio("pg_merge_floor_vs_psql", m("floor", 0) / m("hand", 0));
    reportRatio("pg_merge_cpu_vs_psql", m("single", 1) / m("hand", 1));
    reportRatio("pg_merge_staged_cpu_vs_psql", m("staged", 1) / m("hand", 1));
    reportRatio("pg_merge_floor_cpu_vs_psql", m("floor", 1) / m("hand", 1));
    reportRatio("psql_merge_vs_copy", m("hand", 0) / copy.seconds);
  } finally {
    await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  }
}

async function duckPreload(file) {
  rmSync(file, { force: true });
  const instance = await DuckDBInstance.create(file, duckdbFileOptions);
  const con = await instance.connect();
  await con.run(`CREATE TABLE orders AS SELECT i::BIGINT AS order_id, 'cust_' || (i % 100000) AS customer,
      'user' || (i % 50000) || '@example.com' AS email, CAST(round((i * 7919 % 100000) / 100.0 + 1, 2) AS DECIMAL(12,2)) AS amount,
      DATE '2022-01-01' + (i % 1095)::INT AS order_date, ['NEW','SHIPPED','CANCELLED'][1 + (i % 3)::INT] AS status,
      'old note ' || i AS note, TIMESTAMP '2023-01-01 00:00:00' + to_seconds(i) AS updated_at,
      NULL::VARCHAR AS _sluice_run_id, NULL::VARCHAR AS _sluice_source_file, NULL::TIMESTAMPTZ AS _sluice_loaded_at
    FROM range(${from}, ${to + 1}) t(i)`);
  await con.run("CHECKPOINT");
  con.closeSync();
  instance.closeSync();
}
/** The raw `MERGE INTO ... USING read_csv` on `file`, in this process; CPU from process.cpuUsage. */
async function rawDuckMerge(file) {
  const cpu0 = process.cpuUsage();
  const instance = await DuckDBInstance.create(file, duckdbFileOptions);
  const con = await instance.connect();
  await con.run(`MERGE INTO orders t USING (SELECT * FROM read_csv('${csv.replaceAll("'", "''")}', header = true,
      columns = {'order_id': 'BIGINT', 'customer': 'VARCHAR', 'email': 'VARCHAR', 'amount': 'DECIMAL(12,2)', 'order_date': 'DATE',
                 'status': 'VARCHAR', 'note': 'VARCHAR', 'updated_at': 'TIMESTAMP'})) s
    ON (t.order_id = s.order_id) WHEN MATCHED THEN UPDATE SET ${assignments("s")}
    WHEN NOT MATCHED THEN INSERT (${dataCols}) VALUES (${dataCols
      .split(", ")
      .map((c) => `s.${c}`)
      .join(", ")})`);
  await con.run("CHECKPOINT");
  con.closeSync();
  instance.closeSync();
  const used = process.cpuUsage(cpu0);
  return { cpu: (used.user + used.system) / 1e6 };
}

/**
 * The floor of a merge that keeps before-images, in this process: the file read once into a temporary
 * table, the changed target rows saved into an undo table (one join), then the raw statement's `MERGE`
 * from that table (`write` "merge"), or an `UPDATE ... FROM` of the changed rows and an `INSERT` of the
 * new ones (`write` "update"), in one transaction. No ledger, key checks, profile, lineage columns or
 * process start.
 */
async function floorDuckMerge(file, write = "merge") {
  const cpu0 = process.cpuUsage();
  const instance = await DuckDBInstance.create(file, duckdbFileOptions);
  const con = await instance.connect();
  const cols = dataCols.split(", ");
  const changed = cols
    .slice(1)
    .map((c) => `t.${c} IS DISTINCT FROM s.${c}`)
    .join(" OR ");
  await con.run("CREATE TABLE undo AS SELECT NULL::VARCHAR AS undo_run, * FROM orders WHERE false");
  await con.run("BEGIN TRANSACTION");
  await con.run(`CREATE TEMP TABLE stage AS SELECT * FROM read_csv('${csv.replaceAll("'", "''")}', header = true,
      columns = {'order_id': 'BIGINT', 'customer': 'VARCHAR', 'email': 'VARCHAR', 'amount': 'DECIMAL(12,2)', 'order_date': 'DATE',
                 'status': 'VARCHAR', 'note': 'VARCHAR', 'updated_at': 'TIMESTAMP'})`);
  await con.run(
    `INSERT INTO undo SELECT 'r', t.* FROM orders t JOIN stage s ON t.order_id = s.order_id WHERE ${changed}`,
  );
  if (write === "merge") {
    await con.run(`MERGE INTO orders t USING stage s ON (t.order_id = s.order_id) WHEN MATCHED AND (${changed}) THEN UPDATE SET ${assignments("s")}
    WHEN NOT MATCHED THEN INSERT (${dataCols}) VALUES (${cols.map((c) => `s.${c}`).join(", ")})`);
  } else {
    // DuckDB's MERGE from a table costs more than an UPDATE plus an INSERT of the same rows.
    await con.run(
      `UPDATE orders t SET ${assignments("s")} FROM stage s WHERE t.order_id = s.order_id AND (${changed})`,
    );
    await con.run(
      `INSERT INTO orders (${dataCols}) SELECT ${cols.map((c) => `s.${c}`).join(", ")} FROM stage s ANTI JOIN orders t ON t.order_id = s.order_id`,
    );
  }
  await con.run("COMMIT");
  await con.run("CHECKPOINT");
  con.closeSync();
  instance.closeSync();
  const used = process.cpuUsage(cpu0);
  return { cpu: (used.user + used.system) / 1e6 };
}

/**
 * DuckDB merge: the raw statement against Sluice, alternating, wall and CPU (user + system: the raw
 * statement's from this process, Sluice's from /usr/bin/time). BENCH_DUCKDB_OTHER_CLI names a second
 * build of the CLI (e.g. the one before a change) run in the same rounds, its order swapped each round.
 */
async function benchDuckdb() {
  console.log(`DuckDB merge of ${rows} CSV rows into ${rows} existing rows (50% overlap)`);
  const duckDir = mkdtempSync(join(tmpdir(), "sluice-bench-duck-"));
  const other = process.env.BENCH_DUCKDB_OTHER_CLI;
  const ways = { raw: [[], []], floor: [[], []], floor2: [[], []], ours: [[], []], other: [[], []] };
  const keep = (way, run, cpu) => {
    ways[way][0].push(run.seconds);
    ways[way][1].push(cpu);
    console.log(`    CPU ${cpu?.toFixed(2) ?? "?"} s`);
  };
  const sluiceWay = async (round, way, entry) => {
    const dir = project("duckdb:warehouse.duckdb");
    await duckPreload(join(dir, "warehouse.duckdb"));
    let startedAt = 0;
    const label = way === "ours" ? "sluice run (merge into DuckDB)" : "other build (merge into DuckDB)";
    const run = await time(`[${round}] ${label}`, () => {
      startedAt = Date.now();
      return sluiceRun(dir, {}, entry);
    });
    console.log(`  sluice load: ${JSON.stringify(run.result?.load)}`);
    console.log(stages(dir, run.result, startedAt));
    rmSync(dir, { recursive: true, force: true });
    keep(way, run, run.result?.cpu);
  };
  try {
    const rawFile = join(duckDir, "raw.duckdb");
    for (let round = 1; round <= repeat; round++) {
      await duckPreload(rawFile);
      const raw = await time(`[${round}] DuckDB MERGE INTO ... USING read_csv`, () => rawDuckMerge(rawFile));
      keep("raw", raw, raw.result.cpu);
      await duckPreload(rawFile);
      const floor = await time(`[${round}] floor: before-images, then the raw MERGE`, () =>
        floorDuckMerge(rawFile),
      );
      keep("floor", floor, floor.result.cpu);
      await duckPreload(rawFile);
      const floor2 = await time(`[${round}] floor: before-images, then UPDATE and INSERT`, () =>
        floorDuckMerge(rawFile, "update"),
      );
      keep("floor2", floor2, floor2.result.cpu);
      const order = other && round % 2 === 0 ? ["other", "ours"] : ["ours", "other"];
      for (const way of order) {
        if (way === "ours") await sluiceWay(round, "ours", cli);
        else if (other) await sluiceWay(round, "other", other);
      }
    }
    const m = (way, i) => median(ways[way][i]);
    console.log(
      `  medians: raw MERGE ${m("raw", 0).toFixed(2)} s (CPU ${m("raw", 1).toFixed(2)} s), floor ${m("floor", 0).toFixed(2)} s (CPU ${m("floor", 1).toFixed(2)} s), floor with UPDATE and INSERT ${m("floor2", 0).toFixed(2)} s (CPU ${m("floor2", 1).toFixed(2)} s), sluice ${m("ours", 0).toFixed(2)} s (CPU ${m("ours", 1).toFixed(2)} s)${other ? `, other build ${m("other", 0).toFixed(2)} s (CPU ${m("other", 1).toFixed(2)} s)` : ""}; load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")}`,
    );
    reportRatio("duckdb_merge_vs_raw", m("ours", 0) / m("raw", 0), 1.8);
    reportRatio("duckdb_merge_cpu_vs_raw", m("ours", 1) / m("raw", 1));
    reportRatio("duckdb_merge_floor_vs_raw", m("floor", 0) / m("raw", 0));
    reportRatio("duckdb_merge_floor_cpu_vs_raw", m("floor", 1) / m("raw", 1));
    reportRatio("duckdb_merge_floor_update_vs_raw", m("floor2", 0) / m("raw", 0));
    reportRatio("duckdb_merge_floor_update_cpu_vs_raw", m("floor2", 1) / m("raw", 1));
    if (other) {
      reportRatio("duckdb_merge_other_vs_raw", m("other", 0) / m("raw", 0));
      reportRatio("duckdb_merge_other_cpu_vs_raw", m("other", 1) / m("raw", 1));
    }
  } finally {
    rmSync(duckDir, { recursive: true, force: true });
  }
}

const all = ["pg_append", "pg_merge", "duckdb_merge"];
const aliases = { postgres: ["pg_append", "pg_merge"], duckdb: ["duckdb_merge"] };
const wanted = new Set(
  (process.env.BENCH_WAREHOUSE ?? all.join(","))
    .split(",")
    .map((w) => w.trim())
    .flatMap((w) => aliases[w] ?? [w]),
);
if (wanted.has("pg_append")) await benchPostgresAppend();
if (wanted.has("pg_merge")) await benchPostgres();
if (wanted.has("duckdb_merge")) await benchDuckdb();
