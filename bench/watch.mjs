// Watch latency: a `sluice watch` daemon on a local landing zone; ten 10 MB CSV files are written one
// after another; latency = from the end of a file's last write until the daemon reports the run that
// committed its rows (they are queryable from then on). Target: p50 - stable_for <= 1 s.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ordersCsv, reportRatio } from "./data.mjs";

const cli = new URL("../dist/sluice.js", import.meta.url).pathname;
const STABLE_FOR_S = 2;
const FILES = Number(process.env.BENCH_WATCH_FILES ?? 10);

const base = readFileSync(await ordersCsv(85_000)); // ~10 MB
const dir = mkdtempSync(join(tmpdir(), "sluice-bench-watch-"));
mkdirSync(join(dir, "landing", "in"), { recursive: true });
writeFileSync(
  join(dir, "sluice.yaml"),
  `pipelines:\n  orders:\n    source: { path: "in/*.csv", stable_for: ${STABLE_FOR_S}s }\n    target: { table: orders }\n`,
);
const daemon = spawn(process.execPath, [cli, "watch", "--json"], {
  cwd: dir,
  stdio: ["ignore", "pipe", "pipe"],
});
const waiters = new Map();
let buffer = "";
let stderr = "";
daemon.stderr.on("data", (d) => {
  stderr += d;
});
daemon.stdout.on("data", (d) => {
  buffer += d;
  let nl = buffer.indexOf("\n");
  while (nl !== -1) {
    const report = JSON.parse(buffer.slice(0, nl));
    buffer = buffer.slice(nl + 1);
    for (const file of report.files) waiters.get(file.path)?.(report);
    nl = buffer.indexOf("\n");
  }
});
try {
  while (!/watching /.test(stderr)) await new Promise((r) => setTimeout(r, 50));
  console.log(`watch: ${FILES} files of ${(base.length / 1e6).toFixed(1)} MB, stable_for ${STABLE_FOR_S}s`);
  const latencies = [];
  for (let i = 0; i < FILES; i++) {
    const path = `in/orders_${i}.csv`;
    const done = new Promise((resolve) => waiters.set(path, resolve));
    writeFileSync(
      join(dir, "landing", path),
      Buffer.concat([
        base,
        Buffer.from(`${90_000_000 + i},c,e@x.io,1,2024-01-01,NEW,n,2024-01-01 00:00:00\n`),
      ]),
    );
    const written = performance.now();
    const writtenAt = Date.now();
    if (process.env.BENCH_DEBUG) console.log(`  wrote ${path} at ${new Date().toISOString()}`);
    const report = await done;
    const seconds = (performance.now() - written) / 1000;
    if (report.status !== "succeeded") throw new Error(`run failed: ${report.error}`);
    latencies.push(seconds);
    const detect = (Date.parse(report.started_at) - writtenAt) / 1000 - STABLE_FOR_S;
    const run = (Date.parse(report.finished_at) - Date.parse(report.started_at)) / 1000;
    console.log(
      `  ${path}: ${seconds.toFixed(2)} s (stable_for + ${detect.toFixed(2)} s to start the run, run ${run.toFixed(2)} s)`,
    );
  }
  latencies.sort((a, b) => a - b);
  const p50 = (latencies[FILES / 2 - 1] + latencies[FILES / 2]) / 2;
  console.log(`  p50 ${p50.toFixed(2)} s`);
  reportRatio("watch_p50_minus_stable_for_seconds", p50 - STABLE_FOR_S, 1);
} finally {
  if (process.env.BENCH_DEBUG) console.log(stderr);
  daemon.kill("SIGTERM");
  await new Promise((r) => daemon.once("exit", r));
  rmSync(dir, { recursive: true, force: true });
}
