import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openProject } from "../../src/index.js";
import { makeProject } from "../support/cli.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

const FILES = 3;
const work = { exitWhenIdleMs: 2_000, discoverEveryMs: 1_000, leaseSeconds: 5 };

describe.skipIf(!available)(
  "sluice worker --pipeline (project.work): only the named pipelines' units",
  () => {
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    let dir: string;
    beforeAll(async () => {
      db = await createTestDatabase();
      const files: Record<string, string> = {};
      for (let f = 0; f < FILES; f++) {
        files[`landing/in/a-${f}.csv`] = `id,name\n${f},a${f}\n`;
        files[`landing/in/b-${f}.csv`] = `id,name\n${f},b${f}\n`;
      }
      dir = makeProject(
        `warehouse: "${db.url}"\npipelines:\n  alpha:\n    source: { path: "in/a-*.csv" }\n    target: { table: alpha, mode: append }\n  beta:\n    source: { path: "in/b-*.csv" }\n    target: { table: beta, mode: append }\n`,
        files,
      );
    });
    afterAll(async () => {
      await db?.cleanup();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("a filtered worker leaves other pipelines' units queued; an unfiltered one takes them", async () => {
      const project = await openProject(join(dir, "sluice.yaml"));
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        await expect(project.work({ ...work, pipelines: ["nope"] })).rejects.toThrow(/nope/);

        const alpha = await project.work({ ...work, pipelines: ["alpha"] });
        expect(alpha.files).toBe(FILES);
        expect(readdirSync(join(dir, "landing/in")).sort()).toEqual(
          Array.from({ length: FILES }, (_, f) => `b-${f}.csv`),
        );
        expect((await client.query("SELECT count(*)::int AS n FROM alpha")).rows[0].n).toBe(FILES);
        // beta's files were discovered and queued, and are still there for another worker.
        const queued = await client.query(
          "SELECT count(*)::int AS n FROM sluice_queue.job WHERE name = 'sluice-files' AND state = 'created' AND data->>'pipeline' = 'beta'",
        );
        expect(queued.rows[0].n).toBeGreaterThan(0);
        expect((await client.query("SELECT to_regclass('public.beta') AS t")).rows[0].t).toBeNull();

        const rest = await project.work(work);
        expect(rest.files).toBe(FILES);
        expect((await client.query("SELECT count(*)::int AS n FROM beta")).rows[0].n).toBe(FILES);
        expect(existsSync(join(dir, "landing/in")) ? readdirSync(join(dir, "landing/in")) : []).toEqual([]);
      } finally {
        await client.end();
        await project.close();
      }
    });
  },
);
