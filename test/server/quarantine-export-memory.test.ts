import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadProject } from "../../src/project/load-config.js";
import { createProjectContext } from "../../src/run/project-context.js";
import { QUARANTINE_COUNTS_BACKFILL_SQL } from "../../src/warehouse/quarantine-counts.js";
import { makeProject } from "../support/cli.js";
import { type ServedDashboard, startServed } from "../support/dashboard.js";

const ROWS = 1_000_000;
const RUNS = 10_000;
// Far below what 1,000,000 rows take as objects and as one CSV text (several hundred MB): the export must
// hold a page at a time to answer at all.
const HEAP_MB = 128;

describe("/quarantine.csv of 1,000,000 quarantined rows", () => {
  let dir: string;
  let served: ServedDashboard | undefined;

  beforeAll(async () => {
    dir = makeProject(
      `warehouse: duckdb:warehouse.duckdb\npipelines:\n  p:\n    source: { path: "in/*.csv" }\n    target: { table: t }\n`,
    );
    const warehouse = await createProjectContext(await loadProject({ cwd: dir })).openWarehouse();
    try {
      // Runs of 100 rows written together, as runs write them, with their kept per-run counts.
      await warehouse.engine.run(
        `INSERT INTO sluice.quarantine (run_id, pipeline, file, line, rules, reasons, "values", raw, quarantined_at)
           SELECT 'r' || lpad(CAST(n AS VARCHAR), 6, '0'), 'p', 'in/f' || n || '.csv', i % 100, ['not_null(id)'], ['id is null'],
                  CAST('{"id":' || i || ',"email":"a***@example.com"}' AS JSON), NULL,
                  TIMESTAMPTZ '2026-01-01 00:00:00+00' + n * INTERVAL '1 minute'
             FROM (SELECT i, i // ${ROWS / RUNS} AS n FROM range(${ROWS}) t(i)) q`,
      );
      await warehouse.engine.run(QUARANTINE_COUNTS_BACKFILL_SQL);
    } finally {
      await warehouse.close();
    }
    served = await startServed(dir, ["serve", "--port", "0"], {
      NODE_OPTIONS: `--max-old-space-size=${HEAP_MB}`,
    });
  }, 300_000);
  afterAll(async () => {
    await served?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("streams every row with a heap of 128 MB", async () => {
    const r = await fetch(`${served!.url}/quarantine.csv?pipeline=p`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-disposition")).toContain("quarantine-p.csv");
    let lines = 0;
    let head = "";
    let tail = "";
    const decoder = new TextDecoder();
    for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
      const text = decoder.decode(chunk, { stream: true });
      if (head.length < 200) head += text.slice(0, 200);
      for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) lines++;
      tail = (tail + text).slice(-200);
    }
    expect(lines).toBe(ROWS + 1);
    // Newest run first, in line order; the oldest run's last line ends the file.
    expect(head).toMatch(/^run_id,file,line,rules,reasons,id,email,raw\r\nr009999,in\/f9999\.csv,0,/);
    expect(tail).toMatch(
      /\r\nr000000,in\/f0\.csv,99,not_null\(id\),id is null,99,a\*\*\*@example\.com,\r\n$/,
    );
    expect(served!.child.exitCode).toBeNull();
  }, 300_000);
});
