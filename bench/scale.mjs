// Scale-out (`sluice worker` on a PostgreSQL job queue): throughput with 1, 2 and 4 worker processes for
// (a) many small files (BENCH_SCALE_FILES, default 500, of 40 rows; grouped 10 per unit of work) and
// (b) PostgreSQL-bound merges (BENCH_SCALE_MERGE_FILES, default 24, of 40,000 rows into one keyed table,
//     half of each file's keys written by the file before; one file per unit, so each run merges into
//     what earlier runs wrote).
// A trial starts the workers on a fresh database and stops the clock when the ledger holds every file
// (worker start-up and the first discovery included; files are all present at the start, so discovery
// runs at its default interval). Also measures the queue's own cost per unit
// (send + claim + complete through pg-boss, one at a time) for the on-paper curve of N machines.
// CPU: the workers' own (from /proc), PostgreSQL's (the server processes of the trial's database, found in
// pg_stat_activity and read from /proc, so on a server on this machine only) and the whole machine's (from
// /proc/stat) during each trial, so that a flat curve can be told apart: workers waiting on PostgreSQL, or
// the machine out of cores.
// RATIO scale_small_t2_over_t1 (target <= 0.625, i.e. 2 workers >= 1.6x one), the others informational.
// PostgreSQL from BENCH_PG (default postgres://postgres@127.0.0.1:5432); BENCH_SCALE_KINDS=small or merge runs one
// workload only.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { median, reportRatio } from "./data.mjs";

const server = process.env.BENCH_PG ?? "postgres://postgres@127.0.0.1:5432";
const cli = new URL("../dist/sluice.js", import.meta.url).pathname;
const smallFiles = Number(process.env.BENCH_SCALE_FILES ?? 500);
const mergeFiles = Number(process.env.BENCH_SCALE_MERGE_FILES ?? 24);
const mergeRows = 40_000;
const counts = (process.env.BENCH_SCALE_WORKERS ?? "1,2,4").split(",").map(Number);
const kinds = (process.env.BENCH_SCALE_KINDS ?? "small,merge").split(",");
const TICK = 100; // USER_HZ on Linux

async function admin(sql, database = "postgres") {
  const client = new pg.Client({ connectionString: `${server}/${database}` });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

function machineCpu() {
  const [, ...fields] = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).map(Number);
  const idle = fields[3] + fields[4];
  return { busy: fields.reduce((s, x) => s + x, 0) - idle, idle };
}

function processCpu(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(rest[11]) + Number(rest[12])) / TICK;
  } catch {
    return 0;
  }
}

function project(kind) {
  const dir = mkdtempSync(join(tmpdir(), "sluice-bench-scale-"));
  mkdirSync(join(dir, "landing/in"), { recursive: true });
  const files = kind === "small" ? smallFiles : mergeFiles;
  for (let f = 0; f < files; f++) {
    const rows = kind === "small" ? 40 : mergeRows;
    // merge: file f holds keys [f*rows/2, f*rows/2 + rows): half of them the file before already wrote.
    const first = kind === "small" ? f * rows : (f * rows) / 2;
    const lines = Array.from({ length: rows }, (_, i) => `${first + i},name ${f}-${i},${(i % 997) / 4}`);
    writeFileSync(
      join(dir, `landing/in/f${String(f).padStart(4, "0")}.csv`),
      `id,name,amount\n${lines.join("\n")}\n`,
    );
  }
  return { dir, files };
}

/** CPU seconds of the server processes serving `database` (sampled: a backend's last moments are missed). */
async function sampleServerCpu(client, database, seen) {
  const { rows } = await client
    .query("SELECT pid FROM pg_stat_activity WHERE datname = $1", [database])
    .catch(() => ({ rows: [] }));
  for (const { pid } of rows) seen.set(pid, Math.max(seen.get(pid) ?? 0, processCpu(pid)));
}

/** Shares of the workers' wall time (`workerSeconds`: workers x trial) spent waiting for and holding the locks. */
function lockShares(file, workerSeconds) {
  let lines = [];
  try {
    lines = readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  } catch {}
  const sum = (field) => lines.reduce((s, l) => s + l[field], 0) / 1000;
  return {
    wait: sum("wait_ms") / workerSeconds,
    held: sum("held_ms") / workerSeconds,
    publishes: lines.length,
  };
}

async function trial(kind, workers) {
  const database = `sluice_bench_scale_${process.pid}`;
  await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await admin(`CREATE DATABASE ${database}`);
  const { dir, files } = project(kind);
  const url = `${server}/${database}`;
  // Each publish appends its wait for and hold of the pipeline/table locks here (see publish-lock-timing).
  const lockLog = join(dir, "locks.jsonl");
  writeFileSync(
    join(dir, "sluice.yaml"),
    `warehouse: "${url}"\npipelines:\n  events:\n    source: { path: "in/*.csv" }\n    target: ${
      kind === "small" ? "{ table: events, mode: append }" : "{ table: events, mode: merge, keys: [id] }"
    }\n`,
  );
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const cpu0 = machineCpu();
  const t0 = performance.now();
  const children = Array.from({ length: workers }, () =>
    spawn(process.execPath, [cli, "worker", "--group", kind === "small" ? "10" : "1"], {
      cwd: dir,
      stdio: "ignore",
      env: { ...process.env, SLUICE_LOCK_TIMING: lockLog },
    }),
  );
  let done = 0;
  let workerCpu = 0;
  const serverCpu = new Map();
  while (done < files) {
    await new Promise((r) => setTimeout(r, 200));
    await sampleServerCpu(client, database, serverCpu);
    done = Number(
      (
        await client
          .query("SELECT count(*) AS n FROM sluice.files WHERE status = 'loaded'")
          .catch(() => ({ rows: [{ n: 0 }] }))
      ).rows[0].n,
    );
    workerCpu = children.reduce((s, c) => s + processCpu(c.pid), 0);
    if (children.every((c) => c.exitCode !== null || c.signalCode !== null)) {
      throw new Error(`${kind} x${workers}: every worker exited with ${done} of ${files} files loaded`);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = machineCpu();
  await client.end();
  await Promise.all(
    children.map(
      (c) =>
        new Promise((r) => {
          if (c.exitCode !== null || c.signalCode !== null) return r();
          c.once("close", r);
          c.kill("SIGTERM");
        }),
    ),
  );
  const locks = lockShares(lockLog, workers * seconds);
  rmSync(dir, { recursive: true, force: true });
  await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  const busy = (cpu1.busy - cpu0.busy) / TICK;
  const total = busy + (cpu1.idle - cpu0.idle) / TICK;
  const pgCpu = [...serverCpu.values()].reduce((s, x) => s + x, 0);
  console.log(
    `  ${kind} x${workers}: ${files} files in ${seconds.toFixed(2)} s = ${(files / seconds).toFixed(1)} files/s; ` +
      `worker CPU ${workerCpu.toFixed(1)} s, PostgreSQL CPU ${pgCpu.toFixed(1)} s, machine busy ${((busy / total) * 100).toFixed(0)}% (${busy.toFixed(1)} of ${total.toFixed(1)} core-s); ` +
      `of the workers' time: waiting for the publish locks ${(locks.wait * 100).toFixed(0)}%, holding them ${(locks.held * 100).toFixed(0)}% (${locks.publishes} publishes)`,
  );
  return { seconds, workerCpu, pgCpu, busyShare: busy / total, lockWait: locks.wait, lockHeld: locks.held };
}

async function queueCost() {
  const database = `sluice_bench_queue_${process.pid}`;
  await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await admin(`CREATE DATABASE ${database}`);
  const { openWorkQueue, FILES_QUEUE } = await import("../dist/scale/work-queue.js");
  const queue = await openWorkQueue(`${server}/${database}`, {
    leaseSeconds: 30,
    supervise: false,
    concurrency: 1,
  });
  const n = 300;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    await queue.boss.send(FILES_QUEUE, {
      pipeline: "p",
      files: [`in/${i}.csv`],
      bytes: 1,
      keys: [`p|in/${i}.csv|1|0`],
    });
  }
  for (let i = 0; i < n; i++) {
    const [job] = await queue.boss.fetch(FILES_QUEUE, { batchSize: 1 });
    await queue.boss.complete(FILES_QUEUE, job.id);
  }
  const ms = (performance.now() - t0) / n;
  await queue.close();
  await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  console.log(`  queue cost: ${ms.toFixed(2)} ms per unit (send + claim + complete, one connection, serial)`);
  return ms;
}

const queueMs = await queueCost();
// Rounds alternate the order of the worker counts (1,2,4 then 4,2,1, ...): the machine may be shared and
// its load drifts; each figure is the median of its rounds.
const rounds = Math.max(1, Number(process.env.BENCH_REPEAT ?? 2));
const samples = {};
for (const kind of kinds) {
  for (let r = 0; r < rounds; r++) {
    for (const n of r % 2 === 0 ? counts : [...counts].reverse()) {
      const key = `${kind}${n}`;
      samples[key] = [...(samples[key] ?? []), await trial(kind, n)];
    }
  }
}
const of = (key, field) => median(samples[key].map((t) => t[field]));
const filesOf = { small: smallFiles, merge: mergeFiles };
const perUnit = { small: 10, merge: 1 };
for (const kind of kinds) {
  const base = of(`${kind}1`, "seconds");
  for (const n of counts) {
    const seconds = of(`${kind}${n}`, "seconds");
    const files = filesOf[kind];
    // Per file: what one worker process and the server each spend, whatever the wall time.
    console.log(
      `  ${kind} x${n}: ${(files / seconds).toFixed(1)} files/s (${(base / seconds).toFixed(2)}x one worker); per file: ` +
        `worker CPU ${((of(`${kind}${n}`, "workerCpu") / files) * 1000).toFixed(0)} ms, PostgreSQL CPU ${((of(`${kind}${n}`, "pgCpu") / files) * 1000).toFixed(0)} ms; ` +
        `machine busy ${(of(`${kind}${n}`, "busyShare") * 100).toFixed(0)}%; ` +
        `lock wait ${(of(`${kind}${n}`, "lockWait") * 100).toFixed(0)}%, held ${(of(`${kind}${n}`, "lockHeld") * 100).toFixed(0)}% of the workers' time`,
    );
    if (n > 1) {
      reportRatio(
        `scale_${kind}_t${n}_over_t1`,
        seconds / base,
        kind === "small" && n === 2 ? 0.625 : undefined,
      );
    }
  }
}
const unitsPerSecond = 1000 / queueMs;
console.log(
  `  on paper: the queue alone handles ~${unitsPerSecond.toFixed(0)} units/s (${(unitsPerSecond * perUnit.small).toFixed(0)} small files/s at ${perUnit.small} per unit, ${(queueMs / perUnit.small).toFixed(1)} ms per file); ` +
    `N machines give min(N x one machine, that) until PostgreSQL's serialized publish per pipeline binds first`,
);
