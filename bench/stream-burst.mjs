// A burst of small messages on NATS JetStream: does `sluice worker`'s memory stay bounded by its batch
// caps whatever the backlog? Publishes BENCH_BURST_MESSAGES (default 1,000,000) ~70-byte JSON messages,
// then runs the worker to idle (default batch caps: 10,000 rows, 16 MB) and samples its peak RSS
// (/proc/<pid>/status VmHWM). The baseline in the same run is a backlog a tenth of the size: bounded
// memory means the ratio stays near 1, not near 10. Needs NATS at 127.0.0.1:4222 (Linux /proc).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

const N = Number(process.env.BENCH_BURST_MESSAGES ?? 1_000_000);
const cli = new URL("../dist/sluice.js", import.meta.url).pathname;
const url = "nats://127.0.0.1:4222";

async function publish(stream, subject, count) {
  const nc = await connect({ servers: url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(stream).catch(() => undefined);
  await jsm.streams.add({ name: stream, subjects: [`${subject}.>`] });
  const js = jetstream(nc);
  const started = Date.now();
  for (let i = 0; i < count; i += 1000) {
    const acks = [];
    for (let id = i + 1; id <= Math.min(count, i + 1000); id++)
      acks.push(
        js.publish(`${subject}.a`, `{"id":${id},"kind":"click","page":${id % 97},"ok":true}`, {
          timeout: 60_000,
        }),
      );
    await Promise.all(acks);
  }
  await nc.drain();
  return (Date.now() - started) / 1000;
}

async function dropStream(stream) {
  const nc = await connect({ servers: url });
  await (await jetstreamManager(nc)).streams.delete(stream).catch(() => undefined);
  await nc.close();
}

/** Peak resident memory of a process so far, MB (VmHWM), or 0 once it is gone. */
function peakRssMb(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
    return kb / 1024;
  } catch {
    return 0;
  }
}

/** `sluice worker` to idle over the stream: messages loaded, seconds, peak RSS (MB). */
function worker(stream) {
  const dir = mkdtempSync(join(tmpdir(), "sluice-bench-burst-"));
  writeFileSync(
    join(dir, "sluice.yaml"),
    `pipelines:
  clicks:
    source:
      stream: { kind: nats, url: "${url}", stream: ${stream}, durable: burst, ack_wait: 60s }
    checks:
      - { rule: not_null, columns: [id] }
    target: { table: clicks }
`,
  );
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, "worker", "--exit-when-idle", "3s", "--json"], { cwd: dir });
    let loaded = 0;
    let peak = 0;
    let err = "";
    let partial = "";
    child.stdout.on("data", (d) => {
      const lines = (partial + d).split("\n");
      partial = lines.pop();
      for (const line of lines) if (line.trim()) loaded += JSON.parse(line).rows.loaded;
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    const sampler = setInterval(() => {
      peak = Math.max(peak, peakRssMb(child.pid));
    }, 100);
    child.on("exit", (code) => {
      clearInterval(sampler);
      if (code !== 0) return reject(new Error(err));
      resolve({ loaded, seconds: (Date.now() - started) / 1000, peak });
    });
  });
}

async function burst(count) {
  const stream = `BURST${process.pid}_${count}`;
  const subject = `burst${process.pid}_${count}`;
  const published = await publish(stream, subject, count);
  try {
    const r = await worker(stream);
    if (r.loaded !== count) throw new Error(`loaded ${r.loaded} of ${count} messages`);
    console.log(
      `stream-burst ${count} messages: published in ${published.toFixed(1)} s; worker ${r.seconds.toFixed(1)} s (${Math.round(count / r.seconds)} msg/s), peak RSS ${r.peak.toFixed(0)} MB`,
    );
    return r;
  } finally {
    await dropStream(stream);
  }
}

const small = await burst(Math.round(N / 10));
const big = await burst(N);
console.log(
  `RATIO stream-burst peak RSS ${N} / ${Math.round(N / 10)} messages ${(big.peak / small.peak).toFixed(3)} (target <= 1.5: bounded by the batch caps, not the backlog)`,
);
