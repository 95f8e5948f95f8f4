// Database source benchmark: extract BENCH_SOURCE_ROWS (default 1M) rows into the embedded (DuckDB)
// warehouse, Sluice versus the plain client piped into DuckDB in the same run:
//   PostgreSQL: `psql -c "\copy (select ...) to stdout (format csv)"` | DuckDB read_csv('/dev/stdin')
//   MariaDB:    `mariadb --batch --raw -e "select ..."` | DuckDB read_csv('/dev/stdin', delim = '\t')
// Prints RATIO pg_extract_vs_psql (target <= 1.3, wall time), the same ratio in CPU time (user + sys
// of every process of each side, by /usr/bin/env time: on a shared machine the steadier figure) and
// rows/s of both MariaDB paths, RATIO mysql_extract_vs_client (informational), and Sluice's peak RSS. Baseline and Sluice alternate
// BENCH_REPEAT times (default 3); the ratios are of the medians. BENCH_PG / BENCH_MYSQL name the servers;
// BENCH_SOURCES=postgres (or mysql) runs one of the two. Peak RSS at 1M vs 10M rows (should be close):
// BENCH_SOURCE_ROWS=10000000 BENCH_REPEAT=1 (long: several minutes per side on a 2-core machine).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { duckdbFileOptions, median, repeat, reportRatio, time } from "./data.mjs";

const rows = Number(process.env.BENCH_SOURCE_ROWS ?? 1_000_000);
const pgServer = process.env.BENCH_PG ?? "postgres://postgres@127.0.0.1:5432";
const mysqlServer = process.env.BENCH_MYSQL ?? "mysql://root@127.0.0.1:3306";
const database = "sluice_bench_source";
const select = "select id, customer, amount, ordered_on, status, updated_at from orders";

async function pgAdmin(sql, db = "postgres") {
  const client = new pg.Client({ connectionString: `${pgServer}/${db}` });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

function shell(script, cwd) {
  const result = spawnSync("bash", ["-c", script], {
    cwd,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (result.status !== 0) throw new Error(`failed: ${script}\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/**
 * Runs a shell script under /usr/bin/env time: CPU seconds (user + sys) of the script and every process
 * it waited for, and the peak RSS (MB) of the largest of them.
 */
function shellTimed(script, cwd) {
  const dir = mkdtempSync(join(tmpdir(), "sluice-bench-time-"));
  const out = join(dir, "time");
  try {
    shell(`/usr/bin/env time -f "%U %S %M" -o ${out} bash -c ${JSON.stringify(script)}`, cwd);
    const [user, sys, kb] = readFileSync(out, "utf8").trim().split("\n").at(-1).split(" ").map(Number);
    return { cpu: user + sys, peakMb: kb / 1024 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const cli = new URL("../dist/sluice.js", import.meta.url).pathname;

/** `sluice run` in a project folder: CPU seconds and peak RSS (MB) of the run's process. */
function sluiceRun(dir) {
  return shellTimed(`${JSON.stringify(process.execPath)} ${cli} run`, dir);
}

/** The DuckDB CLI is not installed everywhere: a node one-liner reading stdin with @duckdb/node-api. */
function duckdbFromStdin(dir, readCsv) {
  // The script lives in the round's temp folder: it imports the project's DuckDB client by its URL.
  const script = join(dir, "load-stdin.mjs");
  writeFileSync(
    script,
    `import { DuckDBInstance } from ${JSON.stringify(import.meta.resolve("@duckdb/node-api"))};
const db = await DuckDBInstance.create(${JSON.stringify(join(dir, "raw.duckdb"))}, ${JSON.stringify(duckdbFileOptions)});
const con = await db.connect();
await con.run(${JSON.stringify(`CREATE OR REPLACE TABLE orders AS SELECT * FROM ${readCsv}`)});
con.closeSync(); db.closeSync();`,
  );
  return `node ${script}`;
}

function project(url) {
  const dir = mkdtempSync(join(tmpdir(), "sluice-bench-source-"));
  writeFileSync(
    join(dir, "sluice.yaml"),
    `pipelines:\n  orders:\n    source: { database: "${url}", table: orders }\n    target: { table: orders, mode: replace }\n`,
  );
  return dir;
}

async function benchPostgres() {
  await pgAdmin(`DROP DATABASE IF EXISTS ${database}`);
  await pgAdmin(`CREATE DATABASE ${database}`);
  await pgAdmin(
    `CREATE TABLE orders (id bigint PRIMARY KEY, customer text, amount numeric(12,2), ordered_on date, status text, updated_at timestamptz);
     INSERT INTO orders SELECT i, 'cust_' || (i % 100000), round(((i * 7919) % 100000) / 100.0 + 1, 2),
       date '2022-01-01' + (i % 1095)::int, (ARRAY['NEW','SHIPPED','CANCELLED'])[1 + (i % 3)],
       timestamptz '2023-01-01' + i * interval '1 second' FROM generate_series(1::bigint, ${rows}) i`,
    database,
  );
  await pgAdmin("VACUUM ANALYZE orders", database);
  const url = new URL(`${pgServer}/${database}`);
  const raw = [];
  const ours = [];
  const rawCpu = [];
  const oursCpu = [];
  let peak = 0;
  for (let round = 0; round < repeat; round++) {
    const dir = mkdtempSync(join(tmpdir(), "sluice-bench-psql-"));
    const read = `read_csv('/dev/stdin', header = false, columns = {'id': 'BIGINT', 'customer': 'VARCHAR', 'amount': 'DECIMAL(12,2)', 'ordered_on': 'DATE', 'status': 'VARCHAR', 'updated_at': 'TIMESTAMPTZ'})`;
    const psql = `psql -X -q -h ${url.hostname} -p ${url.port || 5432} -U ${url.username || "postgres"} -d ${database} -c "\\copy (${select}) to stdout (format csv)"`;
    const baseline = await time("psql | DuckDB read_csv", async () =>
      shellTimed(`${psql} | ${duckdbFromStdin(dir, read)}`),
    );
    raw.push(baseline.seconds);
    rawCpu.push(baseline.result.cpu);
    rmSync(dir, { recursive: true, force: true });
    const sluiceDir = project(`${pgServer}/${database}`);
    const { seconds, result } = await time("sluice run (postgres source)", async () => sluiceRun(sluiceDir));
    ours.push(seconds);
    oursCpu.push(result.cpu);
    peak = Math.max(peak, result.peakMb);
    console.log(
      `    CPU: psql | DuckDB ${baseline.result.cpu.toFixed(2)} s, sluice ${result.cpu.toFixed(2)} s`,
    );
    rmSync(sluiceDir, { recursive: true, force: true });
  }
  reportRatio("pg_extract_vs_psql", median(ours) / median(raw), 1.3);
  reportRatio("pg_extract_vs_psql_cpu", median(oursCpu) / median(rawCpu));
  console.log(`PEAK sources_pg_rss_mb ${peak.toFixed(0)}`);
  await pgAdmin(`DROP DATABASE IF EXISTS ${database}`);
}

async function benchMysql() {
  const url = new URL(mysqlServer);
  const client = `mariadb -h ${url.hostname} -P ${url.port || 3306} -u ${url.username || "root"}`;
  shell(`${client} -e "DROP DATABASE IF EXISTS ${database}; CREATE DATABASE ${database}"`);
  shell(
    `${client} ${database} -e "CREATE TABLE orders (id bigint PRIMARY KEY, customer varchar(40), amount decimal(12,2), ordered_on date, status varchar(20), updated_at datetime(6));
     INSERT INTO orders SELECT seq, concat('cust_', seq % 100000), round(((seq * 7919) % 100000) / 100.0 + 1, 2),
       date '2022-01-01' + interval (seq % 1095) day, elt(1 + seq % 3, 'NEW', 'SHIPPED', 'CANCELLED'),
       timestamp '2023-01-01 00:00:00' + interval seq second FROM seq_1_to_${rows}"`,
  );
  const raw = [];
  const ours = [];
  let peak = 0;
  for (let round = 0; round < repeat; round++) {
    const dir = mkdtempSync(join(tmpdir(), "sluice-bench-mariadb-"));
    const read = `read_csv('/dev/stdin', header = true, delim = '\\t', quote = '', escape = '', columns = {'id': 'BIGINT', 'customer': 'VARCHAR', 'amount': 'DECIMAL(12,2)', 'ordered_on': 'DATE', 'status': 'VARCHAR', 'updated_at': 'TIMESTAMP'})`;
    raw.push(
      (
        await time("mariadb --batch | DuckDB read_csv", async () =>
          shell(`${client} ${database} --batch --raw -e "${select}" | ${duckdbFromStdin(dir, read)}`),
        )
      ).seconds,
    );
    rmSync(dir, { recursive: true, force: true });
    const sluiceDir = project(`${mysqlServer}/${database}`);
    const { seconds, result } = await time("sluice run (mysql source)", async () => sluiceRun(sluiceDir));
    ours.push(seconds);
    peak = Math.max(peak, result.peakMb);
    rmSync(sluiceDir, { recursive: true, force: true });
  }
  console.log(`PEAK sources_mysql_rss_mb ${peak.toFixed(0)}`);
  console.log(
    `  rows/s: mariadb client ${(rows / median(raw)).toFixed(0)}, sluice ${(rows / median(ours)).toFixed(0)}`,
  );
  reportRatio("mysql_extract_vs_client", median(ours) / median(raw));
  shell(`${client} -e "DROP DATABASE IF EXISTS ${database}"`);
}

const kinds = (process.env.BENCH_SOURCES ?? "postgres,mysql").split(",");
if (kinds.includes("postgres")) await benchPostgres();
if (kinds.includes("mysql")) await benchMysql();
