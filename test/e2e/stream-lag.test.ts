import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeProject, sluice } from "../support/cli.js";
import { type ServedDashboard, startServed } from "../support/dashboard.js";
import {
  createNatsStream,
  deleteNatsStream,
  eventPayloads,
  natsAvailable,
  natsTestStream,
  natsUrl,
  publishNats,
} from "../support/streams.js";

const available = await natsAvailable();
const { stream: STREAM, subject: SUBJECT } = natsTestStream("LAGTEST");
const TOTAL = 3_000;
const WAITED_MS = 1_200;

interface StreamRun {
  run_id: string;
  pipeline: string;
  stream?: { pending: number | null; oldest_age_ms: number | null; first_position: string };
}

describe.skipIf(!available)("stream lag: sluice runs, /metrics and the dashboard", () => {
  let dir: string;
  let runs: StreamRun[];
  let served: ServedDashboard | undefined;

  beforeAll(async () => {
    await createNatsStream(STREAM, SUBJECT);
    dir = makeProject(`warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  events:
    source:
      stream: { kind: nats, url: "${natsUrl}", stream: ${STREAM}, subject: "${SUBJECT}.lag", durable: lag }
      batch: { max_rows: 500, max_wait: 300ms }
    target: { table: events }
  orders:
    source: { path: "in/orders/*.csv" }
    target: { table: orders }
`);
    // A backlog that has waited: the first batch finds it all pending, its oldest message this old at least.
    await publishNats(`${SUBJECT}.lag`, eventPayloads(TOTAL));
    await sleep(WAITED_MS);
    const worker = await sluice(["worker", "--exit-when-idle", "1s"], dir, { timeoutMs: 120_000 });
    expect(worker.code, worker.stderr).toBe(0);
    runs = (await sluice(["runs", "--limit", "100", "--json"], dir)).json<{ runs: StreamRun[] }>().runs;
  }, 180_000);
  afterAll(async () => {
    if (served) expect((await served.stop()).code).toBe(0);
    await deleteNatsStream(STREAM);
  });

  it("each batch's run records the lag right before it is published: the backlog shrinks batch by batch", () => {
    const batches = runs
      .filter((r) => r.pipeline === "events")
      .sort((a, b) => Number(a.stream!.first_position) - Number(b.stream!.first_position));
    expect(batches.length).toBeGreaterThanOrEqual(TOTAL / 500);
    const pending = batches.map((r) => r.stream!.pending!);
    // The first pull saw every message unacknowledged; each later one fewer; the last only its own batch.
    expect(pending[0]).toBe(TOTAL);
    for (let i = 1; i < pending.length; i++) expect(pending[i]).toBeLessThan(pending[i - 1]!);
    expect(pending.at(-1)).toBeLessThanOrEqual(500);
    expect(batches[0]!.stream!.oldest_age_ms).toBeGreaterThanOrEqual(WAITED_MS);
  });

  it("sluice runs prints the lag of stream runs; runs <id> says it with the positions", async () => {
    const table = await sluice(["runs", "--limit", "100"], dir);
    expect(table.code, table.stderr).toBe(0);
    const [header, , ...lines] = table.stdout.trimEnd().split("\n");
    expect(header).toMatch(/\blag\b/);
    const first = runs
      .filter((r) => r.pipeline === "events")
      .sort((a, b) => Number(a.stream!.first_position) - Number(b.stream!.first_position))[0]!;
    const line = lines.find((l) => l.startsWith(first.run_id));
    expect(line).toMatch(new RegExp(`\\b${TOTAL} pending, oldest \\d+(\\.\\d)? s\\b`));
    const one = await sluice(["runs", first.run_id], dir);
    expect(one.stdout).toMatch(
      new RegExp(
        `stream: \\d+ message\\(s\\) ${first.stream!.first_position}\\.\\.\\d+ from nats .*; lag ${TOTAL} pending, oldest`,
      ),
    );
    // A file pipeline's runs have no lag: the column is absent when no listed run is a stream batch.
    const files = await sluice(["runs", "--pipeline", "orders"], dir);
    expect(files.stdout).not.toMatch(/\blag\b/);
  });

  it("/metrics exports the last batch's lag per stream pipeline; the runs page and run detail show it", async () => {
    served = await startServed(dir, ["serve", "--port", "0"]);
    const last = runs.find((r) => r.pipeline === "events")!;
    const metrics = await (await fetch(`${served.url}/metrics`)).text();
    expect(metrics).toContain(`sluice_stream_pending_messages{pipeline="events"} ${last.stream!.pending}`);
    expect(metrics).toContain(
      `sluice_stream_oldest_age_seconds{pipeline="events"} ${last.stream!.oldest_age_ms! / 1000}`,
    );
    expect(metrics).toMatch(/sluice_stream_lag_timestamp_seconds\{pipeline="events"\} \d+/);
    // Only stream pipelines have lag.
    expect(metrics).not.toMatch(/sluice_stream_pending_messages\{pipeline="orders"\}/);

    const api = (await (await fetch(`${served.url}/api/streams`)).json()) as { streams: unknown[] };
    expect(api.streams).toEqual([
      {
        pipeline: "events",
        run_id: last.run_id,
        measured_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        pending: last.stream!.pending,
        oldest_age_ms: last.stream!.oldest_age_ms,
      },
    ]);

    const page = await (await fetch(`${served.url}/runs`)).text();
    expect(page).toMatch(
      new RegExp(`<table id="stream-lag">.*<td>events</td><td class="num">${last.stream!.pending}</td>`, "s"),
    );
    expect(page).toContain("<th>lag</th>");
    expect(page).toMatch(new RegExp(`<td class="lag">${last.stream!.pending} pending, oldest [^<]+</td>`));
    const detail = await (await fetch(`${served.url}/runs/${last.run_id}`)).text();
    expect(detail).toContain(`<td class="num" id="stream-pending">${last.stream!.pending}</td>`);
  });
});
