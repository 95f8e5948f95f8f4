import { setTimeout as sleep } from "node:timers/promises";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { makeProject, sluice } from "../support/cli.js";
import { queryRows, startWorker, waitFor } from "../support/stream-worker.js";
import {
  createNatsStream,
  deleteNatsStream,
  eventPayloads,
  natsAvailable,
  natsTestStream,
  natsUrl,
  publishNats,
  streamAroundTests,
} from "../support/streams.js";

const available = await natsAvailable();
const { stream: STREAM, subject: SUBJECT } = natsTestStream("DELETEDCONSUMER");

function projectYaml(durable: string): string {
  return `warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  events:
    source:
      stream: { kind: nats, url: "${natsUrl}", stream: ${STREAM}, subject: "${SUBJECT}.${durable}", durable: ${durable}, ack_wait: 3s }
      batch: { max_rows: 500, max_wait: 300ms }
    columns:
      id: { type: bigint }
    target: { table: events }
`;
}

/** Deletes a durable consumer, as an operator would (`nats consumer rm`). */
async function deleteConsumer(durable: string): Promise<void> {
  const nc = await connect({ servers: natsUrl });
  try {
    await (await jetstreamManager(nc)).consumers.delete(STREAM, durable);
  } finally {
    await nc.close();
  }
}

async function counts(dir: string) {
  const [c] = await queryRows<{ n: number; ids: number }>(
    dir,
    "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM events",
  );
  return c;
}

describe.skipIf(!available)("a deleted NATS consumer", () => {
  streamAroundTests(STREAM, SUBJECT);

  it("deleted between worker runs: recreated from the start, what was published is not published again", async () => {
    const dir = makeProject(projectYaml("between"));
    await publishNats(`${SUBJECT}.between`, eventPayloads(2_000));
    const first = await sluice(["worker", "--exit-when-idle", "1s"], dir);
    expect(first.code, first.stderr).toBe(0);
    expect(await counts(dir)).toEqual({ n: 2_000, ids: 2_000 });

    await deleteConsumer("between");
    await publishNats(`${SUBJECT}.between`, eventPayloads(500, 0, 2_001));
    const second = await sluice(["worker", "--exit-when-idle", "1s"], dir);
    expect(second.code, second.stderr).toBe(0);
    // The new consumer delivers all 2,500 again; the ledger knows 2,000 of them.
    expect(second.stderr).toMatch(
      /2500 message\(s\) acknowledged, 0 poison, 2000 redelivery\(ies\) recognised/,
    );
    expect(await counts(dir)).toEqual({ n: 2_500, ids: 2_500 });
  }, 180_000);

  it("deleted under a running worker: it says so, carries on, and publishes every message once", async () => {
    const dir = makeProject(projectYaml("running"));
    await publishNats(`${SUBJECT}.running`, eventPayloads(6_000));
    const worker = startWorker(dir, ["--exit-when-idle", "2s"]);
    await waitFor(() => worker.reports() >= 2, "two published batches");
    await deleteConsumer("running");
    await publishNats(`${SUBJECT}.running`, eventPayloads(1_000, 0, 6_001));
    expect(await worker.exited, worker.stderr()).toBe(0);
    expect(worker.stderr()).toMatch(/consumer running of stream \w+: it was deleted: created again/);
    // The new consumer delivered what was published before again, and the ledger recognised it.
    expect(worker.stderr()).toMatch(/, [1-9]\d* redelivery\(ies\) recognised/);
    expect(await counts(dir)).toEqual({ n: 7_000, ids: 7_000 });
  }, 180_000);
});

describe.skipIf(!available)("a deleted NATS stream", () => {
  const gone = natsTestStream("DELETEDSTREAM");

  it("stops the worker with an error naming the stream, not retried as an outage", async () => {
    await createNatsStream(gone.stream, gone.subject);
    const dir = makeProject(
      projectYaml("gone").replace(
        `stream: ${STREAM}, subject: "${SUBJECT}.gone"`,
        `stream: ${gone.stream}, subject: "${gone.subject}.gone"`,
      ),
    );
    try {
      await publishNats(`${gone.subject}.gone`, eventPayloads(1_000));
      // Without --exit-when-idle: only an error ends it.
      const worker = startWorker(dir);
      await waitFor(() => worker.reports() >= 1, "a published batch");
      await deleteNatsStream(gone.stream);
      const code = await Promise.race([worker.exited, sleep(45_000).then(() => "still running")]);
      if (code === "still running") worker.child.kill("SIGKILL");
      expect(code, worker.stderr()).toBe(1);
      expect(worker.stderr()).toContain(`stream ${gone.stream}: it no longer exists (deleted)`);
      // What was published before stays published, once.
      const c = await counts(dir);
      expect(c?.n).toBe(c?.ids);
      expect(c?.n).toBeGreaterThan(0);
    } finally {
      await deleteNatsStream(gone.stream);
    }
  }, 120_000);
});
