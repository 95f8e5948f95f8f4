// Storage benchmark: `sluice run` of the orders CSV (~600 MB) from an S3 landing zone (a local
// s3rver) versus the same file from a local landing zone, alternating BENCH_REPEAT rounds (default 3)
// in the same run; the ratio is of the medians (target <= 1.5). The uploads to the S3 server are not
// timed; the S3 run streams the object to disk while hashing it.
import { spawn } from "node:child_process";
import { copyFileSync, createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median, ordersCsv, repeat, reportRatio, time } from "./data.mjs";

// The AWS SDK's Node 20 support notice is noise here (the SDK reads this before its first client).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const root = new URL("../", import.meta.url).pathname;
const cli = join(root, "dist/sluice.js");
const { s3Storage } = await import(join(root, "dist/storage/s3-storage.js"));
const credentials = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

function runCli(args, cwd, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let stdout = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, stdout }));
  });
}

function startS3(directory) {
  const child = spawn(
    process.execPath,
    [
      "--openssl-legacy-provider",
      join(root, "test/support/s3-server-child.mjs"),
      JSON.stringify({ directory, buckets: ["bench"] }),
    ],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("\n")) resolve({ child, port: JSON.parse(out.split("\n")[0]).port });
    });
    child.on("exit", (code) => reject(new Error(`s3rver exited with ${code}`)));
  });
}

const csv = await ordersCsv();
const work = mkdtempSync(join(tmpdir(), "sluice-bench-storage-"));
const s3 = await startS3(join(work, "s3rver"));
try {
  const endpoint = `http://127.0.0.1:${s3.port}`;
  const pipeline = `pipelines:\n  orders:\n    source: { path: "in/*.csv" }\n    target: { table: orders, mode: append }\n`;
  const env = {
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
  };
  const locals = [];
  const remotes = [];
  for (let round = 1; round <= repeat; round++) {
    // Each round a fresh project on each side: its own warehouse, its file waiting in in/.
    const local = join(work, `local${round}`);
    mkdirSync(join(local, "landing", "in"), { recursive: true });
    writeFileSync(join(local, "sluice.yaml"), `landing: landing\n${pipeline}`);
    copyFileSync(csv, join(local, "landing", "in", "orders.csv"));
    const remote = join(work, `remote${round}`);
    mkdirSync(remote, { recursive: true });
    const prefix = `landing${round}`;
    writeFileSync(
      join(remote, "sluice.yaml"),
      `landing: s3://bench/${prefix}\ns3: { endpoint: "${endpoint}", region: us-east-1, force_path_style: true }\n${pipeline}`,
    );
    const storage = s3Storage({
      endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials,
      bucket: "bench",
      prefix,
    });
    await time(`[${round}] upload to the S3 server (not compared)`, () =>
      storage.writeFile("in/orders.csv", createReadStream(csv)),
    );
    storage.close();

    const fromLocal = await time(`[${round}] sluice run, local landing`, () =>
      runCli(["run", "--json"], local),
    );
    const fromS3 = await time(`[${round}] sluice run, S3 landing`, () =>
      runCli(["run", "--json"], remote, env),
    );
    for (const [name, r] of [
      ["local", fromLocal],
      ["s3", fromS3],
    ]) {
      if (r.result.code !== 0) throw new Error(`${name} run failed: ${r.result.stdout}`);
      const loaded = JSON.parse(r.result.stdout).runs[0].rows.loaded;
      if (round === 1) console.log(`  ${name}: loaded ${loaded} rows`);
    }
    locals.push(fromLocal.seconds);
    remotes.push(fromS3.seconds);
    rmSync(local, { recursive: true, force: true });
    rmSync(remote, { recursive: true, force: true });
  }
  console.log(`  medians: local ${median(locals).toFixed(2)} s, S3 ${median(remotes).toFixed(2)} s`);
  reportRatio("s3_vs_local", median(remotes) / median(locals), 1.5);
} finally {
  s3.child.stdin.end();
  s3.child.kill("SIGTERM");
  rmSync(work, { recursive: true, force: true });
}
