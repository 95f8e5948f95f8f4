import { DuckDBInstance } from "@duckdb/node-api";
import { describe, expect, it } from "vitest";
import { loadProject } from "../../src/project/load-config.js";
import { createProjectContext } from "../../src/run/project-context.js";
import { runStreamWorkers } from "../../src/runner/stream-worker.js";
import type { Warehouse } from "../../src/warehouse/warehouse.js";
import { makeProject } from "../support/cli.js";
import {
  eventPayloads,
  natsAvailable,
  natsTestStream,
  natsUrl,
  publishNats,
  streamAroundTests,
} from "../support/streams.js";

const available = await natsAvailable();
const { stream: STREAM, subject: SUBJECT } = natsTestStream("THREADS");

function projectYaml(maxRows: number): string {
  return `warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  small:
    source:
      stream: { kind: nats, url: "${natsUrl}", stream: ${STREAM}, subject: "${SUBJECT}.small", durable: small-${maxRows} }
      batch: { max_rows: 1000, max_wait: 300ms }
    target: { table: small }
  other:
    source:
      stream: { kind: nats, url: "${natsUrl}", stream: ${STREAM}, subject: "${SUBJECT}.other", durable: other-${maxRows} }
      batch: { max_rows: ${maxRows}, max_wait: 300ms }
    target: { table: other }
`;
}

/** The thread count of each warehouse the worker opened, read as it lets go of it. */
async function workerThreads(maxRows: number): Promise<number[]> {
  const dir = makeProject(projectYaml(maxRows));
  const ctx = createProjectContext(await loadProject({ configPath: `${dir}/sluice.yaml` }));
  const seen: number[] = [];
  const open = ctx.openWarehouse.bind(ctx);
  const spied = {
    ...ctx,
    openWarehouse: async (options?: { readOnly?: boolean }): Promise<Warehouse> => {
      const w = await open(options);
      const close = w.close.bind(w);
      return Object.assign(w, {
        close: async () => {
          const [row] = await w.query("SELECT current_setting('threads') AS t");
          seen.push(Number(row?.t));
          await close();
        },
      });
    },
  };
  const summary = await runStreamWorkers(spied, { exitWhenIdleMs: 1_000 });
  expect(summary.pipelines.reduce((n, p) => n + p.messages, 0)).toBe(200);
  return seen;
}

describe.skipIf(!available)("a stream worker's DuckDB engine", () => {
  streamAroundTests(STREAM, SUBJECT);

  it("runs on one thread when every pipeline's batches fit a row group, on DuckDB's default otherwise", async () => {
    const instance = await DuckDBInstance.create(":memory:");
    const con = await instance.connect();
    const defaultThreads = Number(
      (await con.runAndReadAll("SELECT current_setting('threads')")).getRows()[0]![0],
    );
    con.closeSync();
    instance.closeSync();

    await publishNats(`${SUBJECT}.small`, eventPayloads(100));
    await publishNats(`${SUBJECT}.other`, eventPayloads(100));
    const small = await workerThreads(122_880);
    expect(small.length).toBeGreaterThan(0);
    expect(new Set(small)).toEqual(new Set([1]));

    // One pipeline taking larger batches: the engine keeps DuckDB's default.
    const large = await workerThreads(122_881);
    expect(large.length).toBeGreaterThan(0);
    expect(new Set(large)).toEqual(new Set([defaultThreads]));
  }, 120_000);
});
