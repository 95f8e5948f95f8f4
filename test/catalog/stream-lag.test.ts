import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lastStreamLags, streamLagOf, streamLagText } from "../../src/catalog/stream-lag.js";
import { loadProject } from "../../src/project/load-config.js";
import { createProjectContext } from "../../src/run/project-context.js";
import type { Warehouse } from "../../src/warehouse/warehouse.js";
import { makeProject } from "../support/cli.js";
import { createTestDatabase, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

const pgAvailable = await serviceAvailable("PostgreSQL", pingPostgres);

describe("stream lag of a run", () => {
  it("reads pending and oldest age from the report's stream object, only there", () => {
    expect(streamLagOf({ run_id: "r", stream: { pending: 1200, oldest_age_ms: 3400, messages: 5 } })).toEqual(
      {
        pending: 1200,
        oldest_age_ms: 3400,
      },
    );
    expect(streamLagOf({ run_id: "r", stream: { pending: null, oldest_age_ms: null } })).toEqual({
      pending: null,
      oldest_age_ms: null,
    });
    expect(streamLagOf({ run_id: "r", files: [] })).toBeUndefined();
  });

  it("says it in words, leaving out what was not measured", () => {
    expect(streamLagText({ pending: 1200, oldest_age_ms: 3400 })).toBe("1200 pending, oldest 3.4 s");
    expect(streamLagText({ pending: 0, oldest_age_ms: 250 })).toBe("0 pending, oldest 250 ms");
    expect(streamLagText({ pending: 7, oldest_age_ms: 600_000 })).toBe("7 pending, oldest 10 min");
    expect(streamLagText({ pending: 7, oldest_age_ms: 3 * 3_600_000 })).toBe("7 pending, oldest 3.0 h");
    expect(streamLagText({ pending: 3, oldest_age_ms: null })).toBe("3 pending");
    expect(streamLagText({ pending: null, oldest_age_ms: null })).toBe("not measured");
  });
});

describe.each([
  ["duckdb", true],
  ["postgres", pgAvailable],
] as const)("lastStreamLags on %s", (kind, available) => {
  let warehouse: Warehouse;
  let cleanup: (() => Promise<void>) | undefined;

  const run = (id: string, pipeline: string, status: string, at: string, report: object) =>
    warehouse.query(
      `INSERT INTO sluice.runs (run_id, pipeline, seq, status, started_at, finished_at, rows_read, rows_loaded, rows_quarantined, rows_malformed, rows_duplicates, error, report)
       VALUES ('${id}', '${pipeline}', 1, '${status}', CAST('${at}' AS TIMESTAMPTZ), CAST('${at}' AS TIMESTAMPTZ), 0, 0, 0, 0, 0, NULL, '${JSON.stringify({ run_id: id, ...report })}')`,
    );

  beforeAll(async () => {
    if (!available) return;
    let url = "duckdb:warehouse.duckdb";
    if (kind === "postgres") {
      const db = await createTestDatabase();
      url = db.url;
      cleanup = db.cleanup;
    }
    const dir = makeProject(
      `warehouse: ${url}\npipelines:\n  p:\n    source: { path: "in/*.csv" }\n    target: { table: t }\n`,
    );
    warehouse = await createProjectContext(await loadProject({ cwd: dir })).openWarehouse();
    const lag = (pending: number, age: number | null) => ({ stream: { pending, oldest_age_ms: age } });
    await run("e1", "events", "succeeded", "2026-12-01T10:00:00Z", lag(500, 9000));
    await run("e2", "events", "succeeded", "2026-12-01T10:00:05Z", lag(40, 1200));
    // Newer, but failed (no stream facts) and one whose facts were never added: the reading stays e2's.
    await run("e3", "events", "failed", "2026-12-01T10:00:09Z", {});
    await run("e4", "events", "succeeded", "2026-12-01T10:00:08Z", {});
    await run("c1", "clicks", "succeeded", "2026-12-01T09:00:00Z", lag(3, null));
    await run("f1", "orders", "succeeded", "2026-12-01T11:00:00Z", { files: [] });
  });
  afterAll(async () => {
    await warehouse?.close();
    await cleanup?.();
  });

  it.skipIf(!available)("takes each stream pipeline's newest published batch that measured it", async () => {
    expect(await lastStreamLags(warehouse, ["events", "clicks", "orders", "nothing"])).toEqual([
      {
        pipeline: "events",
        run_id: "e2",
        measured_at: "2026-12-01T10:00:05.000Z",
        pending: 40,
        oldest_age_ms: 1200,
      },
      {
        pipeline: "clicks",
        run_id: "c1",
        measured_at: "2026-12-01T09:00:00.000Z",
        pending: 3,
        oldest_age_ms: null,
      },
    ]);
  });
});
