import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadProject } from "../../src/project/load-config.js";
import { createProjectContext } from "../../src/run/project-context.js";
import { runProject } from "../../src/runner/run-project.js";
import { makeProject, pipelineYaml } from "../support/cli.js";
import { writeWithDuckDb } from "../support/files.js";

// DuckDB reads a big CSV in parallel; a staged read that does not need file order is written in the
// order chunks finish (faster), so row positions are kept only where they mean something: dedupe ties,
// quarantine lines, change-event order. A file of ~12 MB spans several reader buffers, so without order
// its rows land out of place (a 4 MB one does not). Each key appears 300 times; the last one in the file
// is the row with id 299000 + key.

const rows = 300_000;
const keys = 1_000;

async function project(pipeline: string): Promise<string> {
  const dir = makeProject(pipelineYaml(pipeline));
  mkdirSync(join(dir, "landing", "in"), { recursive: true });
  await writeWithDuckDb(
    join(dir, "landing", "in", "events.csv"),
    `SELECT i AS id, i % ${keys} AS k, 'u' AS op, repeat('x', 30) AS pad FROM range(${rows}) t(i)`,
    "FORMAT csv, HEADER",
  );
  return dir;
}

async function runAndQuery(dir: string, sql: string): Promise<Record<string, number>> {
  const ctx = createProjectContext(await loadProject({ cwd: dir }));
  const [report] = await runProject(ctx);
  expect(report!.status, report!.error ?? "").toBe("succeeded");
  const warehouse = await ctx.openWarehouse({ readOnly: true });
  try {
    const row = (await warehouse.query(sql))[0]!;
    return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Number(v)]));
  } finally {
    await warehouse.close();
  }
}

const lastOfEachKey = `SELECT count(*) AS n, count(*) FILTER (WHERE id = ${rows - keys} + k) AS last FROM t`;

describe("file order where it matters", () => {
  it("dedupe keep: last without order_by keeps the last row of each key in the file", async () => {
    const dir = await project(
      `t:\n  source: { path: "in/*.csv" }\n  dedupe: { keys: [k], keep: last }\n  target: { table: t, mode: append }`,
    );
    expect(await runAndQuery(dir, lastOfEachKey)).toEqual({ n: keys, last: keys });
  });

  it("checks plus dedupe keep: first keeps the first row of each key", async () => {
    const dir = await project(
      `t:\n  source: { path: "in/*.csv" }\n  checks:\n    - { rule: not_null, columns: [id] }\n  dedupe: { keys: [k], keep: first }\n  target: { table: t, mode: append }`,
    );
    expect(
      await runAndQuery(dir, "SELECT count(*) AS n, count(*) FILTER (WHERE id = k) AS first FROM t"),
    ).toEqual({ n: keys, first: keys });
  });

  it("cdc of a flat table without order_by applies events in file order", async () => {
    const dir = await project(
      `t:\n  source: { path: "in/*.csv" }\n  target: { table: t, mode: cdc, keys: [k], cdc: { format: flat, op_column: op } }`,
    );
    expect(await runAndQuery(dir, lastOfEachKey)).toEqual({ n: keys, last: keys });
  });

  it("a staged append without checks loads every row whatever the order", async () => {
    const dir = await project(
      `t:\n  source: { path: "in/*.csv" }\n  columns: { id: { type: bigint } }\n  target: { table: t, mode: append }`,
    );
    const sum = (rows * (rows - 1)) / 2;
    expect(await runAndQuery(dir, "SELECT count(*) AS n, sum(id) AS s FROM t")).toEqual({ n: rows, s: sum });
  });
});
