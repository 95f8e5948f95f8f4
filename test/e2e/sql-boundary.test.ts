import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeProject, type RunJson, sluice } from "../support/cli.js";

/** A host file outside every project, standing for /etc/shadow. */
const outside = mkdtempSync(join(tmpdir(), "sluice-host-"));
const secretFile = join(outside, "shadow");
writeFileSync(secretFile, "TOPSECRET-42\n");

const orders = "id,amount\n1,10\n2,20\n";

function project(pipelineExtra: string): string {
  return makeProject(
    `warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  orders:
    source: { path: "in/*.csv" }
${pipelineExtra}    target: { table: orders, mode: append }
`,
    { "landing/in/a.csv": orders },
  );
}

type ErrorJson = { error: { code: string; message: string; details: string[] } };

describe("SQL from sluice.yaml cannot reach host files", () => {
  it("a derived column reading a host file fails validate, and a run loads nothing of it", async () => {
    const dir = project(`    derive: { x: "(select content from read_blob('${secretFile}'))" }\n`);
    const validate = await sluice(["validate", "--json"], dir);
    expect(validate.code).toBe(2);
    expect(validate.json<{ problems: { text: string }[] }>().problems.map((p) => p.text)).toEqual([
      `sluice.yaml: pipelines.orders.derive.x: reads ${secretFile}, outside the project: SQL from sluice.yaml or sluice query reaches only the landing zone, the lake and Sluice's scratch folder (see docs/security.md)`,
    ]);
    // Every command validates first: a run refuses the project before reading a row.
    const run = await sluice(["run", "--json"], dir);
    expect(run.code).toBe(2);
    expect(existsSync(join(dir, "warehouse.duckdb"))).toBe(false);
    expect(validate.stdout + validate.stderr + run.stdout + run.stderr).not.toContain("TOPSECRET");
  });

  it("a check that would print a host file's content in its error is refused without reading it", async () => {
    // validate used to pass this, and the run failed with a conversion error quoting the first line.
    const dir = project(
      `    checks:\n      - { rule: expression, sql: "CAST((SELECT content FROM read_text('${secretFile}')) AS INTEGER) > 0" }\n`,
    );
    const validate = await sluice(["validate"], dir);
    expect(validate.code).toBe(2);
    expect(validate.stderr).toContain("pipelines.orders.checks[0].sql: reads");
    expect(validate.stdout + validate.stderr).not.toContain("TOPSECRET");
  });

  it("a source.sql over a host file is refused by validate", async () => {
    const dir = makeProject(
      `warehouse: duckdb:warehouse.duckdb
landing: landing
pipelines:
  leak:
    source: { sql: "select content from read_text('${secretFile}')" }
    target: { table: leak }
`,
    );
    const validate = await sluice(["validate"], dir);
    expect(validate.code).toBe(2);
    expect(validate.stderr).toContain(`pipelines.leak.source.sql: reads ${secretFile}, outside the project`);
  });

  it("a declared column type is a type, never a statement validate would run", async () => {
    const dir = project(`    columns: { id: { type: "int; COPY (SELECT 1) TO 'landing/pwned.csv'" } }\n`);
    const validate = await sluice(["validate"], dir);
    expect(validate.code).toBe(2);
    expect(validate.stderr).toContain("pipelines.orders.columns.id.type: unknown type int; COPY");
    // validate used to run the COPY while checking that the type exists.
    expect(existsSync(join(dir, "landing", "pwned.csv"))).toBe(false);
  });

  it("the run engine refuses host files while Sluice itself reads, quarantines and archives as before", async () => {
    // A project whose own derive reads a landing file still works: the boundary is the project.
    const dir = project(
      `    derive: { n: "(select count(*) from read_csv('landing/in/a.csv'))" }\n    checks:\n      - { rule: range, column: amount, min: 15 }\n    max_failure_rate: 0.5\n`,
    );
    const run = await sluice(["run", "--json"], dir);
    expect(run.code).toBe(0);
    const report = run.json<RunJson>().runs[0]!;
    expect(report.rows).toMatchObject({ read: 2, loaded: 1, quarantined: 1 });
    expect(report.files[0]!.archived_to).toMatch(/^archive\/orders\//);
    const rows = await sluice(["query", "select id, n from orders", "--json"], dir);
    expect(rows.json()).toEqual([{ id: 2, n: 2 }]);
    const quarantine = await sluice(["quarantine", "orders", "--json"], dir);
    expect(quarantine.json<unknown[]>()).toHaveLength(1);
  });
});

describe("sluice query cannot reach host files or the network", () => {
  let dir: string;
  let requests = 0;
  const server = createServer((_req, res) => {
    requests++;
    res.end("id\n1\n");
  });
  let port = 0;
  beforeAll(async () => {
    dir = project("");
    expect((await sluice(["run"], dir)).code).toBe(0);
    await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((done) => server.close(() => done())));

  it.each([
    ["read_text", `select content from read_text('${secretFile}')`, secretFile],
    ["read_blob", `select content from read_blob('${secretFile}')`, secretFile],
    ["glob", `select * from glob('${outside}/*')`, `${outside}/*`],
    ["read_csv", `select * from read_csv('${secretFile}')`, secretFile],
    [
      "a relative path out of the project",
      "select * from read_text('../../../../../etc/passwd')",
      "etc/passwd",
    ],
  ])("%s outside the project is refused", async (_name, sql, named) => {
    const result = await sluice(["query", sql, "--json"], dir);
    expect(result.code).toBe(1);
    const error = result.json<ErrorJson>().error;
    expect(error.code).toBe("QUERY_FAILED");
    expect(error.message).toContain("outside the project");
    expect(error.message).toContain(named);
    expect(result.stdout).not.toContain("TOPSECRET");
    expect(result.stdout).not.toContain("root:");
  });

  it("an http:// path fetches nothing and installs no extension", async () => {
    const home = mkdtempSync(join(tmpdir(), "sluice-home-"));
    const result = await sluice(["query", `select * from read_csv('http://127.0.0.1:${port}/x.csv')`], dir, {
      env: { HOME: home },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("outside the project");
    expect(requests).toBe(0);
    // DuckDB used to try to download httpfs into ~/.duckdb/extensions.
    expect(existsSync(join(home, ".duckdb"))).toBe(false);
  });

  it("the project's own files stay readable, and --delta mounts a folder named on the command line", async () => {
    const own = await sluice(
      ["query", "select count(*) as n from read_csv('landing/archive/**/*.csv')", "--json"],
      dir,
    );
    expect(own.json()).toEqual([{ n: 2 }]);
    // A Delta table of another project: outside this one, reachable because the command line names it.
    const other = makeProject(
      'landing: landing\npipelines:\n  orders:\n    source: { path: "in/*.csv" }\n    target: { lake: { table: orders } }\n',
      { "landing/in/a.csv": orders },
    );
    expect((await sluice(["run"], other)).code).toBe(0);
    const table = join(other, "lake", "orders");
    const mounted = await sluice(
      ["query", "select count(*) as n from ext", "--delta", `ext=${table}`, "--json"],
      dir,
    );
    expect(mounted.stderr).toBe("");
    expect(mounted.json()).toEqual([{ n: 2 }]);
  });
});
