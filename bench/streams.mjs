// Stream ingestion: ~200-byte JSON messages from NATS JetStream (and Redis Streams) into DuckDB through
// `sluice worker` (3 checks) vs a minimal hand-written consumer in the same run (fetch a batch → one bulk
// insert from a JSONL chunk → ack, no checks). Throughput in messages/s and the ratio.
// BENCH_STREAM_MESSAGES (default 100000). Needs NATS at 127.0.0.1:4222 and Redis at 127.0.0.1:6379.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Redis } from "ioredis";

const N = Number(process.env.BENCH_STREAM_MESSAGES ?? 100_000);
const cli = new URL("../dist/sluice.js", import.meta.url).pathname;
const tag = `bench_${process.pid}`;
const payload = (id) =>
  JSON.stringify({
    id,
    customer: `customer-${id % 5000}`,
    amount: (id % 997) * 1.25,
    status: "NEW",
    note: "x".repeat(100),
  });

async function publishNats(stream, subject) {
  const nc = await connect({ servers: "nats://127.0.0.1:4222" });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(stream).catch(() => undefined);
  await jsm.streams.add({ name: stream, subjects: [`${subject}.>`] });
  const js = jetstream(nc);
  for (let i = 0; i < N; i += 2000) {
    const batch = [];
    for (let id = i + 1; id <= Math.min(N, i + 2000); id++)
      batch.push(js.publish(`${subject}.a`, payload(id)));
    await Promise.all(batch);
  }
  await nc.drain();
}

async function publishRedis(key) {
  const r = new Redis();
  await r.del(key);
  for (let i = 0; i < N; i += 2000) {
    const p = r.pipeline();
    for (let id = i + 1; id <= Math.min(N, i + 2000); id++) p.xadd(key, "*", "data", payload(id));
    await p.exec();
  }
  r.disconnect();
}

/** `sluice worker` until idle: messages/s from its start to its last batch's commit. */
function sluiceWorker(source) {
  const dir = mkdtempSync(join(tmpdir(), "sluice-bench-streams-"));
  writeFileSync(
    join(dir, "sluice.yaml"),
    `pipelines:
  events:
    source:
      stream: ${source}
      batch: { max_rows: 10000, max_wait: 500ms }
    checks:
      - { rule: not_null, columns: [id, customer] }
      - { rule: range, column: amount, min: 0 }
      - { rule: accepted_values, column: status, values: [NEW, SHIPPED] }
    target: { table: events }
`,
  );
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, "worker", "--exit-when-idle", "2s", "--json"], { cwd: dir });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(err));
      const runs = out
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      const loaded = runs.reduce((n, r) => n + r.rows.loaded, 0);
      const last = Math.max(...runs.map((r) => Date.parse(r.finished_at)));
      resolve({ loaded, seconds: (last - started) / 1000 });
    });
  });
}

/** The minimal consumer: fetch → one bulk insert from a JSONL chunk → ack. */
async function handNats(stream, subject) {
  const started = Date.now();
  const db = await DuckDBInstance.create(join(mkdtempSync(join(tmpdir(), "hand-")), "w.duckdb"));
  const con = await db.connect();
  const nc = await connect({ servers: "nats://127.0.0.1:4222" });
  const jsm = await jetstreamManager(nc);
  await jsm.consumers.add(stream, {
    durable_name: "hand",
    ack_policy: "explicit",
    filter_subject: `${subject}.>`,
    max_ack_pending: 50_000,
  });
  const consumer = await jetstream(nc).consumers.get(stream, "hand");
  const file = join(tmpdir(), `${tag}-hand.jsonl`);
  let loaded = 0;
  let created = false;
  const dec = new TextDecoder();
  while (loaded < N) {
    const msgs = [];
    for await (const m of await consumer.fetch({ max_messages: 10_000, expires: 1000 })) msgs.push(m);
    if (msgs.length === 0) continue;
    writeFileSync(file, `${msgs.map((m) => dec.decode(m.data)).join("\n")}\n`);
    await con.run(
      created
        ? `INSERT INTO events SELECT * FROM read_json('${file}')`
        : `CREATE TABLE events AS SELECT * FROM read_json('${file}')`,
    );
    created = true;
    for (const m of msgs) m.ack();
    await nc.flush();
    loaded += msgs.length;
  }
  await nc.drain();
  con.closeSync();
  return { loaded, seconds: (Date.now() - started) / 1000 };
}

async function handRedis(key) {
  const started = Date.now();
  const db = await DuckDBInstance.create(join(mkdtempSync(join(tmpdir(), "hand-")), "w.duckdb"));
  const con = await db.connect();
  const r = new Redis();
  await r.xgroup("CREATE", key, "hand", "0").catch(() => undefined);
  const file = join(tmpdir(), `${tag}-hand-redis.jsonl`);
  let loaded = 0;
  let created = false;
  while (loaded < N) {
    const reply = await r.call(
      "XREADGROUP",
      "GROUP",
      "hand",
      "c",
      "COUNT",
      "10000",
      "BLOCK",
      "1000",
      "STREAMS",
      key,
      ">",
    );
    const entries = reply ? (typeof reply[0] === "string" ? reply[1] : reply[0][1]) : [];
    if (entries.length === 0) continue;
    writeFileSync(file, `${entries.map(([, f]) => f[1]).join("\n")}\n`);
    await con.run(
      created
        ? `INSERT INTO events SELECT * FROM read_json('${file}')`
        : `CREATE TABLE events AS SELECT * FROM read_json('${file}')`,
    );
    created = true;
    await r.xack(key, "hand", ...entries.map(([id]) => id));
    loaded += entries.length;
  }
  r.disconnect();
  con.closeSync();
  return { loaded, seconds: (Date.now() - started) / 1000 };
}

function report(name, sluice, hand) {
  const rate = (x) => Math.round(x.loaded / x.seconds);
  console.log(
    `${name}: sluice worker ${rate(sluice)} msg/s (${sluice.loaded} in ${sluice.seconds.toFixed(2)} s), hand-written ${rate(hand)} msg/s (${hand.loaded} in ${hand.seconds.toFixed(2)} s)`,
  );
  console.log(
    `RATIO streams-${name} sluice/hand throughput ${(rate(sluice) / rate(hand)).toFixed(3)} (target >= 0.75)`,
  );
}

const stream = `BENCH${process.pid}`;
const subject = `bench${process.pid}`;
await publishNats(stream, subject);
const natsHand = await handNats(stream, subject);
const natsSluice = await sluiceWorker(
  `{ kind: nats, url: "nats://127.0.0.1:4222", stream: ${stream}, durable: sluice }`,
);
report("nats", natsSluice, natsHand);
{
  const nc = await connect({ servers: "nats://127.0.0.1:4222" });
  await (await jetstreamManager(nc)).streams.delete(stream).catch(() => undefined);
  await nc.close();
}
const key = `bench:${process.pid}`;
await publishRedis(key);
const redisHand = await handRedis(key);
const redisSluice = await sluiceWorker(
  `{ kind: redis, url: "redis://127.0.0.1:6379", key: "${key}", group: sluice }`,
);
report("redis", redisSluice, redisHand);
{
  const r = new Redis();
  await r.del(key);
  r.disconnect();
}
