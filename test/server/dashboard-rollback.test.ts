import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addFile, makeProject, sluice } from "../support/cli.js";
import { type ServedDashboard, startServed } from "../support/dashboard.js";
import { createTestDatabase, pingPostgres } from "../support/postgres.js";
import { serviceAvailable } from "../support/require-service.js";

const pgAvailable = await serviceAvailable("PostgreSQL", pingPostgres);
const FORM = { "content-type": "application/x-www-form-urlencoded" };
// The CLI waits for the embedded file while the dashboard holds it for a read.
const WAIT = { env: { SLUICE_LOCK_WAIT: "20s" } };

interface RunsDoc {
  runs: { run_id: string }[];
}

/** Three loads of `orders` (append, then two more files); returns the project and each run's id. */
async function threeLoads(warehouse: string): Promise<{ dir: string; runs: string[]; afterFirst: unknown }> {
  const dir = makeProject(`warehouse: ${warehouse}
landing: landing
pipelines:
  orders:
    source: { path: "in/orders/*.csv" }
    columns:
      id: { type: bigint }
      note: { type: varchar }
    target: { table: orders }
`);
  const runs: string[] = [];
  let afterFirst: unknown;
  const files = ["id,note\n1,a\n2,b\n", "id,note\n3,c\n", "id,note\n4,d\n5,e\n"];
  for (const [i, content] of files.entries()) {
    addFile(dir, `landing/in/orders/f${i}.csv`, content);
    const run = await sluice(["run", "orders", "--json"], dir);
    if (run.code !== 0) throw new Error(`fixture run ${i}: ${run.stderr}`);
    runs.push(run.json<RunsDoc>().runs[0]!.run_id);
    if (i === 0) afterFirst = await rows(dir);
  }
  return { dir, runs, afterFirst };
}

async function rows(dir: string): Promise<unknown> {
  const r = await sluice(["query", "SELECT * FROM orders ORDER BY id", "--json"], dir, WAIT);
  if (r.code !== 0) throw new Error(`query: ${r.stderr}`);
  return r.json<unknown>();
}

describe.each([
  ["duckdb", true],
  ["postgres", pgAvailable],
] as const)("rollback from the dashboard on %s", (kind, available) => {
  let dir: string;
  let runs: string[];
  let afterFirst: unknown;
  let afterAllLoads: unknown;
  let served: ServedDashboard | undefined;
  let cleanup: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    if (!available) return;
    let warehouse = "duckdb:warehouse.duckdb";
    if (kind === "postgres") {
      const db = await createTestDatabase();
      warehouse = db.url;
      cleanup = db.cleanup;
    }
    ({ dir, runs, afterFirst } = await threeLoads(warehouse));
    afterAllLoads = await rows(dir);
  });
  afterAll(async () => {
    await served?.stop();
    await cleanup?.();
  });

  it.skipIf(!available)(
    "beyond loopback: no server without SLUICE_TOKEN; with one, a POST without it is refused and changes nothing",
    async () => {
      const bare = await sluice(["serve", "--host", "0.0.0.0", "--port", "0"], dir, {
        env: { SLUICE_TOKEN: "" },
      });
      expect(bare.code).toBe(2);
      const token = "rollback-test-token";
      const guarded = await startServed(dir, ["serve", "--host", "0.0.0.0", "--port", "0"], {
        SLUICE_TOKEN: token,
      });
      try {
        const url = `${guarded.url.replace("0.0.0.0", "127.0.0.1")}/tables/orders/rollback`;
        const page = await fetch(`${url}?to=${runs[0]}`);
        expect(page.status).toBe(401);
        const post = await fetch(url, { method: "POST", headers: FORM, body: `to=${runs[0]}` });
        expect(post.status).toBe(401);
        const api = await fetch(url.replace("/tables/", "/api/tables/"), {
          method: "POST",
          headers: { "content-type": "application/json", authorization: "Bearer wrong" },
          body: JSON.stringify({ to: runs[0] }),
        });
        expect(api.status).toBe(401);
      } finally {
        await guarded.stop();
      }
      expect(await rows(dir)).toEqual(afterAllLoads);
    },
  );

  it.skipIf(!available)(
    "confirmation page, then a POST: refused without the CSRF token, restores the table with it",
    async () => {
      served = await startServed(dir, ["serve", "--port", "0"]);
      const confirm = await fetch(`${served.url}/tables/orders/rollback?to=${runs[0]}`);
      expect(confirm.status).toBe(200);
      const page = await confirm.text();
      // It names the two loads the rollback undoes, and carries the form's CSRF token.
      expect(page).toContain("This undoes 2 loads");
      expect(page).toContain(runs[1]);
      expect(page).toContain(runs[2]);
      const csrf = /name="csrf" value="([0-9a-f]+)"/.exec(page)?.[1];
      expect(csrf).toBeDefined();

      const action = `${served.url}/tables/orders/rollback`;
      for (const body of [`to=${runs[0]}`, `to=${runs[0]}&csrf=${"0".repeat(csrf!.length)}`]) {
        const refused = await fetch(action, { method: "POST", headers: FORM, body });
        expect(refused.status, body).toBe(403);
      }
      // A page of another site carrying the right token is refused too.
      const crossSite = await fetch(action, {
        method: "POST",
        headers: { ...FORM, "sec-fetch-site": "cross-site" },
        body: `to=${runs[0]}&csrf=${csrf}`,
      });
      expect(crossSite.status).toBe(403);
      expect(await rows(dir)).toEqual(afterAllLoads);

      const done = await fetch(action, {
        method: "POST",
        headers: FORM,
        body: `to=${runs[0]}&csrf=${csrf}`,
        redirect: "manual",
      });
      expect(done.status).toBe(303);
      expect(done.headers.get("location")).toBe("/tables/orders");
      expect(await rows(dir)).toEqual(afterFirst);
      expect(afterFirst).not.toEqual(afterAllLoads);
      const history = await (await fetch(`${served.url}/tables/orders`)).text();
      expect(history.match(/rolled back by/g)).toHaveLength(2);
    },
  );
  it.skipIf(!available)(
    "the table page and its API read only the newest loads: they equal the full history's tail, with its count",
    async () => {
      const full = await sluice(["history", "orders", "--json"], dir, WAIT);
      expect(full.code, full.stderr).toBe(0);
      // Oldest first, as the API lists them: the three loads, two of them rolled back, then the rollback.
      const all = full.json<{ loads: { run_id: string; mode: string }[] }>().loads.reverse();
      expect(all.map((l) => l.mode)).toEqual(["append", "append", "append", "rollback"]);
      for (const limit of [1, 2, 3, 4, 10]) {
        const api = (await (
          await fetch(`${served!.url}/api/tables/orders/history?limit=${limit}`)
        ).json()) as {
          total: number;
          loads: unknown[];
        };
        expect(api.total, `limit ${limit}`).toBe(all.length);
        expect(api.loads, `limit ${limit}`).toEqual(all.slice(-limit));
      }
      const page = await (await fetch(`${served!.url}/tables/orders`)).text();
      // The first load is the newest in effect (the table as it stands): nothing to roll back to.
      expect(page).not.toContain('class="rollback"');
      expect(page).not.toContain('id="older-loads"');
    },
  );
});
