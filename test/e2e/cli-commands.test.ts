import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeProject, pipelineYaml, type RunJson, sluice } from "../support/cli.js";

describe("sluice init / validate / schema", () => {
  it("init writes a starter project that validates and runs", async () => {
    const dir = makeProject("");
    const r = await sluice(["init", "proj"], dir);
    expect(r.code).toBe(0);
    const proj = join(dir, "proj");
    expect(existsSync(join(proj, "sluice.yaml"))).toBe(true);
    expect(existsSync(join(proj, "landing/in/orders/sample.csv"))).toBe(true);
    expect((await sluice(["init", "proj"], dir)).code).toBe(2);
    const v = await sluice(["validate"], proj);
    expect(v.code).toBe(0);
    expect(v.stdout).toContain("valid (1 pipeline: orders)");
    // The README's next steps work: the run loads the sample, quarantining its one malformed row.
    const run = await sluice(["run", "--json"], proj);
    const report = run.json<RunJson>().runs[0]!;
    expect(run.code, run.stdout).toBe(0);
    expect(report.rows).toMatchObject({ read: 24, loaded: 23, quarantined: 1, malformed: 1 });
    const q = await sluice(
      ["query", "select count(*) AS n, max(order_year) AS y from orders", "--json"],
      proj,
    );
    expect(q.code).toBe(0);
    expect(q.json()).toEqual([{ n: 23, y: 2026 }]);
  });

  it("mask: hash needs SLUICE_MASK_SALT to load, not to read what was loaded", async () => {
    const dir = makeProject(
      pipelineYaml(
        `t:\n  source: { path: "in/*.csv" }\n  columns: { email: { mask: hash } }\n  target: { table: t }`,
      ),
      { "landing/in/a.csv": "id,email\n1,ada@example.com\n" },
    );
    const withoutSalt = { SLUICE_MASK_SALT: "" };
    const noSalt = { env: withoutSalt };
    for (const args of [["validate"], ["run"]]) {
      const r = await sluice(args, dir, noSalt);
      expect([args[0], r.code]).toEqual([args[0], 2]);
      expect(r.stderr).toContain("mask: hash needs a salt: set the SLUICE_MASK_SALT environment variable");
    }
    expect((await sluice(["run"], dir, { env: { SLUICE_MASK_SALT: "s3cret" } })).code).toBe(0);
    // Reading commands do not apply masks: they work without the salt.
    for (const args of [
      ["query", "select count(*) AS n from t", "--json"],
      ["runs"],
      ["history", "t"],
      ["quarantine", "t"],
    ]) {
      const r = await sluice(args, dir, { env: withoutSalt });
      expect([args[0], r.code, r.stderr]).toEqual([args[0], 0, ""]);
    }
  });

  it("validate accepts warehouse sources on a PostgreSQL warehouse (the query runs on the server)", async () => {
    const dir = makeProject(
      `warehouse: postgres://sluice@127.0.0.1:5432/none\nlanding: landing\npipelines:\n  raw:\n    source: { path: "in/*.csv" }\n    target: { table: raw }\n  daily:\n    depends_on: [raw]\n    source: { sql: "select 1 as x from raw" }\n    target: { table: daily }\n  copy:\n    depends_on: [raw]\n    source: { table: raw }\n    incremental: { cursor: id }\n    target: { table: copy }\n`,
    );
    const r = await sluice(["validate"], dir);
    expect([r.code, r.stderr]).toEqual([0, ""]);
  });

  it("schema prints the JSON Schema", async () => {
    const r = await sluice(["schema"], makeProject(""));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).title).toBe("Sluice project (sluice.yaml)");
  });

  it("usage errors exit 2; --json errors are one JSON document", async () => {
    const dir = makeProject("");
    rmSync(join(dir, "sluice.yaml"));
    expect((await sluice(["frobnicate"], dir)).code).toBe(2);
    const r = await sluice(["runs", "--json"], dir);
    expect(r.code).toBe(2);
    expect(r.json<{ error: { code: string } }>().error.code).toBe("CONFIG_NOT_FOUND");
  });
});

describe("sluice query / runs", () => {
  it("query prints a table, JSON or CSV; runs shows history and one run", async () => {
    const dir = makeProject(pipelineYaml(`t:\n  source: { path: "in/*.csv" }\n  target: { table: t }`), {
      "landing/in/a.csv": 'id,name\n1,"a, with comma"\n2,b\n',
    });
    const run = (await sluice(["run", "--json"], dir)).json<RunJson>().runs[0]!;
    // Only reading SQL runs: nothing writes a file, attaches a database or runs a second statement.
    const outside = join(dir, "copied.csv");
    for (const [sql, refused] of [
      [`COPY t TO '${outside}'`, /a COPY statement was refused \(nothing was run\)/],
      [`explain COPY t TO '${outside}'`, /a COPY statement was refused/],
      [`EXPORT DATABASE '${join(dir, "exported")}'`, /an? EXPORT statement was refused/],
      ["ATTACH ':memory:' AS other", /an? ATTACH statement was refused/],
      ["SET threads = 1", /an? SET statement was refused/],
      [`select 1; COPY t TO '${outside}'`, /holds 2 statements; sluice query runs one statement at a time/],
    ] as const) {
      const r = await sluice(["query", sql], dir);
      expect([sql, r.code]).toEqual([sql, 1]);
      expect(r.stderr).toMatch(refused);
    }
    expect(existsSync(outside)).toBe(false);
    expect(existsSync(join(dir, "exported"))).toBe(false);
    for (const sql of ["describe t", "show tables", "summarize t", "explain select * from t", "from t"]) {
      expect([sql, (await sluice(["query", sql], dir)).code]).toEqual([sql, 0]);
    }
    const csv = await sluice(["query", "select id, name from t order by id", "--csv"], dir);
    expect(csv.stdout).toBe('id,name\n1,"a, with comma"\n2,b\n');
    const text = await sluice(["query", "select id from t order by id"], dir);
    expect(text.stdout).toContain("(2 rows)");
    const bad = await sluice(["query", "select nope from t"], dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: .*nope/);
    const write = await sluice(["query", "drop table t"], dir);
    expect(write.code).toBe(1);
    expect(write.stderr).toMatch(/read-only/i);

    const runs = await sluice(["runs"], dir);
    expect(runs.stdout).toContain(run.run_id);
    const one = await sluice(["runs", run.run_id], dir);
    expect(one.stdout).toContain(`run ${run.run_id} — pipeline t — succeeded`);
    expect((await sluice(["runs", run.run_id, "--json"], dir)).json<{ run_id: string }>().run_id).toBe(
      run.run_id,
    );
    // Naming a run or table nothing was recorded for is a usage error, like an unknown pipeline.
    const unknown = await sluice(["runs", "nope"], dir);
    expect([unknown.code, unknown.stderr.trim()]).toEqual([2, "error: run nope: not found"]);
    const typo = await sluice(["runs", "--pipeline", "nope"], dir);
    expect([typo.code, typo.stderr.trim()]).toEqual([
      2,
      "error: unknown pipeline nope: not in sluice.yaml and no runs recorded",
    ]);
    expect((await sluice(["runs", "--pipeline", "t", "--json"], dir)).json<RunJson>().runs).toHaveLength(1);
    const rollback = await sluice(["rollback", "t", "--to", "nope"], dir);
    expect(rollback.code).toBe(2);
    expect(rollback.stderr).toContain("run nope did not load this table");
    const history = await sluice(["history", "never_loaded"], dir);
    expect([history.code, history.stdout.trim()]).toEqual([0, "no loads of never_loaded"]);
    const fresh = await sluice(
      ["history", "t"],
      makeProject(pipelineYaml(`t:\n  source: { path: "in/*.csv" }\n  target: { table: t }`)),
    );
    expect([fresh.code, fresh.stdout.trim()]).toEqual([0, "no loads of t"]);
    const log = readFileSync(
      join(dir, "landing", (await sluice(["runs", run.run_id, "--json"], dir)).json<{ log: string }>().log),
      "utf8",
    );
    expect(log).toContain('"msg":"run finished"');
  });
});
