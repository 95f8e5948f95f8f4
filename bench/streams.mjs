// Stream ingestion: ~200-byte JSON messages from NATS JetStream (and Redis Streams) into DuckDB through
// `sluice worker` (3 checks) vs a minimal hand-written consumer in the same run (fetch a batch → one bulk
// insert from a JSONL chunk → ack, no checks). Throughput in messages/s and the ratio. Then latency:
// messages published at BENCH_STREAM_RATE/s (default 5000) for BENCH_STREAM_SECONDS (default 20) into a
// running worker (`max_wait: 1s`); publish → queryable per message, p50/p99 against 2 × max_wait.
// BENCH_STREAM_MESSAGES (default 100000); BENCH_STREAM_PARTS=throughput or latency runs one part.
// Throughput alternates BENCH_REPEAT rounds (default 3) of each over the same published messages (new
// consumers each round), hand-written first in odd rounds; the ratio is of the medians. Each side is timed
// twice: from its start (the worker's process start included) and sustained, from its first batch's commit
// to its last (the messages of the first batch left out); the target is on the sustained ratio. Beside them
// a "floor" consumer (informational): the hand-written one plus only what a stream batch cannot drop for
// exactly once (its positions claimed under a primary key in the transaction of its rows, the raw batch
// archived after the commit, acks after the commit), no checks.
// Needs NATS at 127.0.0.1:4222 and Redis at 127.0.0.1:6379.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { median, repeat } from "./data.mjs";

const N = Number(process.env.BENCH_STREAM_MESSAGES ?? 100_000);
const RATE = Number(process.env.BENCH_STREAM_RATE ?? 5_000);
const SECONDS = Number(process.env.BENCH_STREAM_SECONDS ?? 20);
const MAX_WAIT_MS = 1_000;
const parts = (process.env.BENCH_STREAM_PARTS ?? "throughput,latency").split(",");
// BENCH_SLUICE_CLI runs another build (an earlier commit's dist/sluice.js) for a before/after.
const cli = process.env.BENCH_SLUICE_CLI ?? new URL("../dist/sluice.js", import.meta.url).pathname;
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
  const dir = streamProject(source, "{ max_rows: 10000, max_wait: 500ms }");
  const started = Date.now();
  // CPU seconds too (GNU time): on a machine shared with other work they vary less than wall time.
  const args = [cli, "worker", "--exit-when-idle", "2s", "--json"];
  const timed = existsSync("/usr/bin/time");
  return new Promise((resolve, reject) => {
    const child = timed
      ? spawn("/usr/bin/time", ["-f", "SLUICE_CPU %U %S", process.execPath, ...args], { cwd: dir })
      : spawn(process.execPath, args, { cwd: dir });
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
      const commits = runs.map((r) => Date.parse(r.finished_at)).sort((a, b) => a - b);
      const first = runs.find((r) => Date.parse(r.finished_at) === commits[0]);
      const cpu = /SLUICE_CPU ([\d.]+) ([\d.]+)/.exec(err);
      resolve({
        loaded,
        seconds: (commits[commits.length - 1] - started) / 1000,
        sustained: sustainedOf(loaded - first.rows.loaded, commits[0], commits[commits.length - 1]),
        cpu: cpu ? Number(cpu[1]) + Number(cpu[2]) : null,
      });
    });
  });
}

/** Messages per second between the first batch's commit and the last's (null with one batch). */
function sustainedOf(messages, firstCommit, lastCommit) {
  return lastCommit > firstCommit ? { messages, seconds: (lastCommit - firstCommit) / 1000 } : null;
}

/** A project with one stream pipeline (3 checks) into DuckDB. */
function streamProject(source, batch) {
  const dir = mkdtempSync(join(tmpdir(), "sluice-bench-streams-"));
  writeFileSync(
    join(dir, "sluice.yaml"),
    `pipelines:
  events:
    source:
      stream: ${source}
      batch: ${batch}
    checks:
      - { rule: not_null, columns: [id, customer] }
      - { rule: range, column: amount, min: 0 }
      - { rule: accepted_values, column: status, values: [NEW, SHIPPED] }
    target: { table: events }
`,
  );
  return dir;
}

/**
 * The minimal consumer's warehouse side: one bulk insert of a batch's JSONL chunk. With `floor`, also
 * what exactly once cannot drop: the batch's positions claimed under a primary key in the transaction
 * of its rows (as one literal list, as Sluice passes them), and the raw chunk archived after the commit.
 */
async function chunkWriter(name, floor) {
  const root = mkdtempSync(join(tmpdir(), "hand-"));
  const db = await DuckDBInstance.create(join(root, "w.duckdb"));
  const con = await db.connect();
  const file = join(tmpdir(), `${tag}-${name}.jsonl`);
  if (floor) {
    mkdirSync(join(root, "archive"));
    await con.run(
      "CREATE TABLE claims (pipeline VARCHAR, position VARCHAR, batch VARCHAR, PRIMARY KEY (pipeline, position))",
    );
  }
  let batches = 0;
  return {
    async write(text, positions) {
      writeFileSync(file, text);
      const insert = batches
        ? `INSERT INTO events SELECT * FROM read_json('${file}')`
        : `CREATE TABLE events AS SELECT * FROM read_json('${file}')`;
      batches++;
      if (!floor) return con.run(insert);
      await con.run("BEGIN TRANSACTION");
      await con.run(insert);
      await con.run(
        `INSERT INTO claims SELECT 'events', t.position, 'b${batches}' FROM unnest(string_to_array('${positions.join(",")}', ',')) t(position)`,
      );
      await con.run("COMMIT");
      writeFileSync(join(root, "archive", `b${batches}.jsonl`), text);
    },
    close: () => con.closeSync(),
  };
}

/** Timing of a consumer: from its start, and sustained (from its first batch's commit to its last). */
function clock() {
  const started = Date.now();
  const cpu = process.cpuUsage();
  let first;
  let firstMessages = 0;
  let last;
  return {
    committed(messages) {
      last = Date.now();
      if (first === undefined) [first, firstMessages] = [last, messages];
    },
    result(loaded) {
      return {
        loaded,
        seconds: (last - started) / 1000,
        sustained: sustainedOf(loaded - firstMessages, first, last),
        cpu: cpuSeconds(process.cpuUsage(cpu)),
      };
    },
  };
}

/** The minimal consumer: fetch → one bulk insert from a JSONL chunk → ack (`floor`: see chunkWriter). */
async function handNats(stream, subject, durable = "hand", floor = false) {
  const time = clock();
  const writer = await chunkWriter(durable, floor);
  const nc = await connect({ servers: "nats://127.0.0.1:4222" });
  const jsm = await jetstreamManager(nc);
  await jsm.consumers.add(stream, {
    durable_name: durable,
    ack_policy: "explicit",
    filter_subject: `${subject}.>`,
    max_ack_pending: 50_000,
  });
  const consumer = await jetstream(nc).consumers.get(stream, durable);
  let loaded = 0;
  const dec = new TextDecoder();
  while (loaded < N) {
    const msgs = [];
    for await (const m of await consumer.fetch({ max_messages: 10_000, expires: 1000 })) msgs.push(m);
    if (msgs.length === 0) continue;
    const text = `${msgs.map((m) => dec.decode(m.data)).join("\n")}\n`;
    await writer.write(text, floor ? msgs.map((m) => m.seq) : []);
    time.committed(msgs.length);
    for (const m of msgs) m.ack();
    await nc.flush();
    loaded += msgs.length;
  }
  await nc.drain();
  writer.close();
  return time.result(loaded);
}

async function handRedis(key, group = "hand", floor = false) {
  const time = clock();
  const writer = await chunkWriter(group, floor);
  const r = new Redis();
  await r.xgroup("CREATE", key, group, "0").catch(() => undefined);
  let loaded = 0;
  while (loaded < N) {
    const reply = await r.call(
      "XREADGROUP",
      "GROUP",
      group,
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
    const text = `${entries.map(([, f]) => f[1]).join("\n")}\n`;
    await writer.write(text, floor ? entries.map(([id]) => id) : []);
    time.committed(entries.length);
    await r.xack(key, group, ...entries.map(([id]) => id));
    loaded += entries.length;
  }
  r.disconnect();
  writer.close();
  return time.result(loaded);
}

/** Process CPU time (all threads, DuckDB's included) in seconds. */
function cpuSeconds(usage) {
  return (usage.user + usage.system) / 1e6;
}

/**
 * Rounds of the hand-written consumer, the floor and the worker over the same messages, alternating
 * which goes first; each round's consumers are new (`hand<r>`, `floor<r>`, `sluice<r>`).
 */
async function rounds(hand, sluice, floor) {
  const runs = { hand: [], sluice: [], floor: [] };
  const run = { hand, sluice, floor };
  for (let r = 1; r <= repeat; r++) {
    const order = r % 2 ? ["hand", "floor", "sluice"] : ["sluice", "floor", "hand"];
    for (const who of order) runs[who].push(await run[who](r));
  }
  return runs;
}

function report(name, { sluice, hand, floor }) {
  const rate = (x) => Math.round(x.loaded / x.seconds);
  const steady = (x) => (x.sustained ? Math.round(x.sustained.messages / x.sustained.seconds) : null);
  const perBatch = (x) => (x.cpu === null ? null : (x.cpu / x.loaded) * 10_000);
  for (let i = 0; i < sluice.length; i++) {
    const [s, h, f] = [sluice[i], hand[i], floor[i]];
    const cpu =
      s.cpu === null
        ? ""
        : `; CPU per 10,000: ${perBatch(s).toFixed(3)} s / ${perBatch(h).toFixed(3)} s / floor ${perBatch(f).toFixed(3)} s`;
    console.log(
      `${name} round ${i + 1}: sluice worker ${rate(s)} msg/s (${s.loaded} in ${s.seconds.toFixed(2)} s; sustained ${steady(s)}), hand-written ${rate(h)} msg/s (${h.loaded} in ${h.seconds.toFixed(2)} s; sustained ${steady(h)}), floor ${rate(f)} msg/s (sustained ${steady(f)})${cpu}`,
    );
  }
  const med = (xs, f) => Math.round(median(xs.map(f)));
  const [s, h] = [med(sluice, rate), med(hand, rate)];
  const [ss, hs, fs] = [med(sluice, steady), med(hand, steady), med(floor, steady)];
  console.log(
    `${name}: median from start: sluice worker ${s} msg/s, hand-written ${h} msg/s, floor ${med(floor, rate)} msg/s`,
  );
  console.log(
    `${name}: median sustained (first batch's commit to last): sluice worker ${ss} msg/s, hand-written ${hs} msg/s, floor ${fs} msg/s`,
  );
  if (sluice[0].cpu !== null) {
    const [sc, hc, fc] = [
      median(sluice.map(perBatch)),
      median(hand.map(perBatch)),
      median(floor.map(perBatch)),
    ];
    console.log(
      `${name}: median CPU per 10,000 messages: sluice worker ${sc.toFixed(3)} s (process start included), hand-written ${hc.toFixed(3)} s, floor ${fc.toFixed(3)} s; CPU ratio hand/sluice ${(hc / sc).toFixed(3)}`,
    );
  }
  console.log(
    `RATIO streams-${name} sluice/hand throughput ${(s / h).toFixed(3)} (from start; informational)`,
  );
  console.log(
    `RATIO streams-${name}-sustained sluice/hand throughput ${(ss / hs).toFixed(3)} (target >= 0.75)`,
  );
  console.log(
    `RATIO streams-${name}-floor floor/hand sustained throughput ${(fs / hs).toFixed(3)} (informational: what exactly once alone costs)`,
  );
}

/**
 * Publish → queryable under a steady flow: a worker runs (`max_wait: 1s`) while `publish(id)` is called
 * RATE times a second for SECONDS; it resolves to the message's position. A message is queryable once the
 * worker prints its batch's report (after the commit: an upper bound). Positions are compared by `order`.
 * The first second is left out (the worker's warehouse opens with the first batch).
 */
async function latency(source, open, order) {
  const dir = streamProject(source, `{ max_rows: 10000, max_wait: ${MAX_WAIT_MS}ms }`);
  const publisher = await open();
  const child = spawn(process.execPath, [cli, "worker", "--exit-when-idle", "3s", "--json"], { cwd: dir });
  let err = "";
  child.stderr.on("data", (d) => {
    err += d;
  });
  const batches = [];
  let buffered = "";
  child.stdout.on("data", (d) => {
    const now = Date.now();
    buffered += d;
    const lines = buffered.split("\n");
    buffered = lines.pop();
    for (const line of lines) {
      const r = JSON.parse(line);
      if (r.stream) batches.push({ first: r.stream.first_position, last: r.stream.last_position, at: now });
    }
  });
  const exited = new Promise((resolve, reject) =>
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(err)))),
  );
  while (!/consuming/.test(err)) await new Promise((r) => setTimeout(r, 50));
  const sent = [];
  const started = Date.now();
  const pending = [];
  for (let id = 1; ; ) {
    const elapsed = Date.now() - started;
    if (elapsed >= SECONDS * 1000) break;
    const due = Math.floor((elapsed / 1000) * RATE);
    for (; id <= due; id++) {
      const at = Date.now();
      pending.push(publisher.publish(id).then((position) => sent.push({ position, at })));
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all(pending);
  await publisher.close();
  await exited;
  const latencies = [];
  for (const m of sent) {
    if (m.at - started < 1000) continue;
    const b = batches.find((x) => order(x.first, m.position) <= 0 && order(m.position, x.last) <= 0);
    latencies.push(b ? b.at - m.at : Number.POSITIVE_INFINITY);
  }
  latencies.sort((a, b) => a - b);
  const pct = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return { messages: latencies.length, batches: batches.length, p50: pct(0.5), p99: pct(0.99) };
}

function reportLatency(name, l) {
  console.log(
    `${name} latency at ${RATE} msg/s for ${SECONDS} s: ${l.messages} messages in ${l.batches} batches, p50 ${l.p50} ms, p99 ${l.p99} ms (max_wait ${MAX_WAIT_MS} ms)`,
  );
  console.log(
    `RATIO streams-${name}-latency p99/(2*max_wait) ${(l.p99 / (2 * MAX_WAIT_MS)).toFixed(3)} (target <= 1)`,
  );
}

const bySequence = (a, b) => Number(a) - Number(b);
const byEntryId = (a, b) => {
  const [am, as] = a.split("-").map(Number);
  const [bm, bs] = b.split("-").map(Number);
  return am - bm || as - bs;
};

async function natsPublisher(stream, subject) {
  const nc = await connect({ servers: "nats://127.0.0.1:4222" });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(stream).catch(() => undefined);
  await jsm.streams.add({ name: stream, subjects: [`${subject}.>`] });
  const js = jetstream(nc);
  return {
    // A loaded machine answers slowly: the default 5 s wait for the server's answer is too short.
    publish: async (id) => String((await js.publish(`${subject}.a`, payload(id), { timeout: 60_000 })).seq),
    close: () => nc.drain(),
  };
}

async function redisPublisher(key) {
  const r = new Redis();
  await r.del(key);
  return {
    publish: (id) => r.xadd(key, "*", "data", payload(id)),
    close: async () => r.disconnect(),
  };
}

async function dropNats(stream) {
  const nc = await connect({ servers: "nats://127.0.0.1:4222" });
  await (await jetstreamManager(nc)).streams.delete(stream).catch(() => undefined);
  await nc.close();
}

async function dropRedis(key) {
  const r = new Redis();
  await r.del(key);
  r.disconnect();
}

const stream = `BENCH${process.pid}`;
const subject = `bench${process.pid}`;
const key = `bench:${process.pid}`;
const natsSourceFor = (durable) =>
  `{ kind: nats, url: "nats://127.0.0.1:4222", stream: ${stream}, durable: ${durable} }`;
const redisSourceFor = (group) =>
  `{ kind: redis, url: "redis://127.0.0.1:6379", key: "${key}", group: ${group} }`;
const natsSource = natsSourceFor("sluice");
const redisSource = redisSourceFor("sluice");
if (parts.includes("throughput")) {
  await publishNats(stream, subject);
  const nats = await rounds(
    (r) => handNats(stream, subject, `hand${r}`),
    (r) => sluiceWorker(natsSourceFor(`sluice${r}`)),
    (r) => handNats(stream, subject, `floor${r}`, true),
  );
  report("nats", nats);
  await dropNats(stream);
  await publishRedis(key);
  const redis = await rounds(
    (r) => handRedis(key, `hand${r}`),
    (r) => sluiceWorker(redisSourceFor(`sluice${r}`)),
    (r) => handRedis(key, `floor${r}`, true),
  );
  report("redis", redis);
  await dropRedis(key);
}
if (parts.includes("latency")) {
  reportLatency("nats", await latency(natsSource, () => natsPublisher(stream, subject), bySequence));
  await dropNats(stream);
  reportLatency("redis", await latency(redisSource, () => redisPublisher(key), byEntryId));
  await dropRedis(key);
}
