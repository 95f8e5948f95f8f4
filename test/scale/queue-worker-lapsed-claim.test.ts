import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadProject } from "../../src/project/load-config.js";
import { createProjectContext, type ProjectContext } from "../../src/run/project-context.js";
import { runProject } from "../../src/runner/run-project.js";
import { runQueueWorker } from "../../src/scale/run-queue-worker.js";
import type { Storage } from "../../src/storage/storage.js";
import { makeProject } from "../support/cli.js";
import { createTestDatabase, pgServer, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

const available = await serviceAvailable(`PostgreSQL at ${pgServer}`, pingPostgres);

const FILES = ["in/a.csv", "in/b.csv"];

/**
 * The project's landing zone, where the run's second look at `gated` (the check before reading, after
 * the run listed it) waits for `open()`: the moment a worker that claimed a unit has not read it yet.
 */
function gatedLanding(landing: Storage, gated: string) {
  let reached!: () => void;
  let open!: () => void;
  const atGate = new Promise<void>((r) => {
    reached = r;
  });
  const gate = new Promise<void>((r) => {
    open = r;
  });
  let looks = 0;
  const storage: Storage = {
    ...landing,
    async stat(path) {
      if (path === gated && ++looks === 2) {
        reached();
        await gate;
      }
      return landing.stat(path);
    },
  };
  return { storage, atGate, open };
}

// Under load (or with PostgreSQL restarting) a worker can go longer than its lease without a heartbeat:
// the queue gives its unit to another worker, which loads and archives the files while the first still
// holds the unit. The first then finds its files gone. That is no failed unit: the work is done, nothing is
// loaded twice, and the worker must not end with a non-zero code for it (as it did: "1 failed").
describe.skipIf(!available)(
  "sluice worker: a unit whose claim lapsed, run by another worker meanwhile",
  () => {
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    let dir: string;
    beforeAll(async () => {
      db = await createTestDatabase();
      dir = makeProject(
        `warehouse: "${db.url}"\npipelines:\n  parts:\n    source: { path: "in/*.csv" }\n    target: { table: parts, mode: append }\n`,
        { "landing/in/a.csv": "id,name\n1,a\n2,b\n", "landing/in/b.csv": "id,name\n3,c\n" },
      );
    });
    afterAll(async () => {
      await db?.cleanup();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("the worker finds its files loaded by the other run: no failed unit, each file loaded once", async () => {
      const notices: string[] = [];
      const project = await loadProject({ configPath: join(dir, "sluice.yaml") });
      const base = createProjectContext(project, { notice: (m) => notices.push(m) });
      const landing = gatedLanding(base.landing, "in/a.csv");
      const ctx: ProjectContext = { ...base, landing: landing.storage };
      const worker = runQueueWorker(ctx, { exitWhenIdleMs: 1_000, discoverEveryMs: 1_000, leaseSeconds: 5 });
      await landing.atGate;
      // The other worker: the same unit's files, loaded and archived while the first one is held.
      const other = createProjectContext(await loadProject({ configPath: join(dir, "sluice.yaml") }));
      const [report] = await runProject(other, { files: FILES, worker: "other-worker" });
      expect(report?.status).toBe("succeeded");
      landing.open();
      const summary = await worker;

      expect(summary, notices.join("\n")).toMatchObject({ units: 1, files: 2, failedUnits: 0 });
      expect(notices.join("\n")).toMatch(/in\/a\.csv, in\/b\.csv: loaded meanwhile by another run/);
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const rows = await client.query("SELECT id::int AS id FROM parts ORDER BY id");
        expect(rows.rows.map((r) => r.id)).toEqual([1, 2, 3]);
        const ledger = await client.query(
          "SELECT path, count(*)::int AS n FROM sluice.files WHERE status = 'loaded' GROUP BY 1 ORDER BY 1",
        );
        expect(ledger.rows).toEqual(FILES.map((path) => ({ path, n: 1 })));
      } finally {
        await client.end();
      }
      expect(readdirSync(join(dir, "landing/in"))).toEqual([]);
    }, 60_000);
  },
);
