import { readdirSync } from "node:fs";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { makeProject, sluice } from "../support/cli.js";
import { startWorker, waitFor } from "../support/stream-worker.js";
import {
  eventPayloads,
  natsAvailable,
  natsTestStream,
  natsUrl,
  publishNats,
  streamAroundTests,
} from "../support/streams.js";

const available = await natsAvailable();
const { stream: STREAM, subject: SUBJECT } = natsTestStream("WORKERTEST");

function projectYaml(durable: string, extra = "", maxRows = 500): string {
  return `warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  events:
    source:
      stream: { kind: nats, url: "${natsUrl}", stream: ${STREAM}, subject: "${SUBJECT}.${durable}", durable: ${durable}, ack_wait: 2s }
      batch: { max_rows: ${maxRows}, max_wait: 300ms }
${extra}
    columns:
      id: { type: bigint }
    checks:
      - { rule: not_null, columns: [id] }
    target: { table: events }
`;
}

async function query<T>(dir: string, sql: string): Promise<T[]> {
  const r = await sluice(["query", sql, "--json"], dir, { env: { SLUICE_LOCK_WAIT: "30s" } });
  expect(r.code, r.stderr).toBe(0);
  return r.json<T[]>();
}

describe.skipIf(!available)("sluice worker on NATS JetStream", () => {
  streamAroundTests(STREAM, SUBJECT);

  it("loads every good message once, quarantines poison with its origin, archives each batch", async () => {
    const dir = makeProject(projectYaml("basic", `      dead_letter: { subject: "${SUBJECT}.dead" }`));
    await publishNats(`${SUBJECT}.basic`, [
      ...eventPayloads(1_200, 100),
      "[1, 2]",
      '[{"id": 5001}, {"id": 5002}]',
    ]);
    const r = await sluice(["worker", "--exit-when-idle", "1s", "--json"], dir);
    expect(r.code, r.stderr).toBe(0);
    const runs = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { status: string; worker?: string; stream: { messages: number } });
    expect(runs.every((run) => run.status === "succeeded")).toBe(true);
    // Each batch's run names the worker process that published it, as `sluice runs` shows.
    const worker = runs[0]?.worker;
    expect(worker).toMatch(/^.+-\d+-[0-9a-f]{6}$/);
    expect(runs.every((run) => run.worker === worker)).toBe(true);
    const listed = await sluice(["runs"], dir);
    expect(listed.stdout.split("\n")[0]).toMatch(/\bworker\b/);
    expect(listed.stdout).toContain(worker!);
    expect(runs.reduce((n, run) => n + run.stream.messages, 0)).toBe(1_202);
    const [counts] = await query<{ n: number; ids: number }>(
      dir,
      "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM events",
    );
    expect(counts).toEqual({ n: 1_188 + 2, ids: 1_188 + 2 });
    const q = await sluice(["quarantine", "events", "--json"], dir);
    const rows = q.json<{ raw: string }[]>();
    expect(rows).toHaveLength(13);
    const origin = JSON.parse(
      rows.find((row) => row.raw.includes(`"payload":"not json #100"`))!.raw.replace(/^#sluice-poison /, ""),
    );
    expect(origin).toMatchObject({ subject: `${SUBJECT}.basic`, payload: "not json #100" });
    expect(origin.position).toMatch(/^\d+$/);
    expect(origin.reason).toMatch(/not JSON/);
    const archived = readdirSync(join(dir, "landing/archive/events"), { recursive: true }).filter((f) =>
      String(f).endsWith(".jsonl"),
    );
    expect(archived.length).toBe(runs.length);
    // The dead letter got each poison message once, with its origin in headers.
    const nc = await connect({ servers: natsUrl });
    try {
      const jsm = await jetstreamManager(nc);
      const dead = `${SUBJECT}.dead`;
      const info = await jsm.streams.info(STREAM, { subjects_filter: dead });
      expect(info.state.subjects?.[dead]).toBe(13);
      const last = await jsm.streams.getMessage(STREAM, { last_by_subj: dead });
      expect(last?.header.get("Sluice-Subject")).toBe(`${SUBJECT}.basic`);
      expect(last?.header.get("Sluice-Position")).toMatch(/^\d+$/);
      expect(last?.header.get("Sluice-Reason")).not.toBe("");
    } finally {
      await nc.close();
    }
    for (const f of archived) expect(String(f)).toMatch(/^\d{4}\/\d{2}\/[\w-]+_\d{14}\.jsonl$/);
    // A second worker finds nothing new.
    const again = await sluice(["worker", "--exit-when-idle", "500ms", "--json"], dir);
    expect(again.stdout.trim()).toBe("");
  });

  it("a record DuckDB reads otherwise than JavaScript (a lone surrogate escape) is quarantined, its batch published", async () => {
    const dir = makeProject(projectYaml("edge"));
    // JSON.parse takes "\ud800" (no poison); DuckDB's one-pass read of the batch refuses it, and the batch
    // is staged the file way, which quarantines that line alone.
    await publishNats(`${SUBJECT}.edge`, [
      ...eventPayloads(200),
      '{"id": 9001, "name": "\\ud800"}',
      ...eventPayloads(200, 0, 201),
    ]);
    const r = await sluice(["worker", "--exit-when-idle", "1s", "--json"], dir);
    expect(r.code, r.stderr).toBe(0);
    const runs = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { status: string });
    expect(runs.every((run) => run.status === "succeeded")).toBe(true);
    const [counts] = await query<{ n: number; ids: number }>(
      dir,
      "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM events",
    );
    expect(counts).toEqual({ n: 400, ids: 400 });
    const rows = (await sluice(["quarantine", "events", "--json"], dir)).json<
      { raw: string; line: number; rules: string[] }[]
    >();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.raw).toContain("9001");
    expect(rows[0]!.rules).toEqual(["malformed"]);
  });

  it("stops on SIGTERM with exit 0, losing nothing", async () => {
    const dir = makeProject(projectYaml("term"));
    await publishNats(`${SUBJECT}.term`, eventPayloads(3_000));
    const worker = startWorker(dir);
    // Signalled while batches flow (a first one published), not while the process still starts.
    await waitFor(() => worker.reports() > 0, "a first published batch");
    worker.child.kill("SIGTERM");
    expect(await worker.exited, worker.stderr()).toBe(0);
    const rest = await sluice(["worker", "--exit-when-idle", "3s"], dir, { timeoutMs: 120_000 });
    expect(rest.code, rest.stderr).toBe(0);
    const [counts] = await query<{ n: number; ids: number }>(
      dir,
      "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM events",
    );
    expect(counts).toEqual({ n: 3_000, ids: 3_000 });
  });

  it("names an unreachable server without printing the password of its URL", async () => {
    const dir = makeProject(
      projectYaml("gone").replace(`url: "${natsUrl}"`, 'url: "nats://sluice:hunter2-secret@127.0.0.1:1"'),
    );
    const r = await sluice(["worker", "--exit-when-idle", "1s"], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nats:\/\/\*\*\*@127\.0\.0\.1:1/);
    expect(r.stderr).toMatch(/cannot connect/);
    expect(`${r.stdout}${r.stderr}`).not.toContain("hunter2");
  });
});
