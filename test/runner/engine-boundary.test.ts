import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { describe, expect, it } from "vitest";
import { confineEngine } from "../../src/engine/engine-boundary.js";
import { loadProject } from "../../src/project/load-config.js";
import { createProjectContext } from "../../src/run/project-context.js";
import { runProject } from "../../src/runner/run-project.js";
import { makeProject, pipelineYaml } from "../support/cli.js";

// `sluice validate` refuses SQL that names a host file; these runs skip validation (library use), so
// what stops them is the run engine itself, confined to the project.

const outside = mkdtempSync(join(tmpdir(), "sluice-host-"));
const secretFile = join(outside, "shadow");
writeFileSync(secretFile, "TOPSECRET-42\n");

async function run(pipeline: string) {
  const dir = makeProject(pipelineYaml(pipeline), { "landing/in/a.csv": "id,amount\n1,10\n2,20\n" });
  const ctx = createProjectContext(await loadProject({ cwd: dir }));
  const [report] = await runProject(ctx);
  return { ctx, report: report! };
}

describe("the run engine reaches only the project", () => {
  it.each([
    ["a derived column", `derive: { x: "(select content from read_blob('${secretFile}'))" }`],
    [
      "an expression rule",
      `checks:\n    - { rule: expression, sql: "(select content from read_text('${secretFile}')) <> ''" }`,
    ],
  ])("%s reading a host file fails the file; nothing of the file is loaded", async (_name, config) => {
    const { report } = await run(
      `t:\n  source: { path: "in/*.csv" }\n  ${config}\n  target: { table: t, mode: append }`,
    );
    expect(report.status).toBe("failed");
    expect(report.files[0]!.error).toContain(`reads ${secretFile}, outside the project`);
    expect(JSON.stringify(report)).not.toContain("TOPSECRET");
  });

  it("a source.sql reading a host file fails the run", async () => {
    const { report } = await run(
      `t:\n  source: { sql: "select content from read_text('${secretFile}')" }\n  target: { table: t }`,
    );
    expect(report.status).toBe("failed");
    expect(report.error).toContain(`source query failed: reads ${secretFile}, outside the project`);
  });

  it("the warehouse engine cannot be reopened to the host by later SQL", async () => {
    const { ctx } = await run(`t:\n  source: { path: "in/*.csv" }\n  target: { table: t, mode: append }`);
    const warehouse = await ctx.openWarehouse();
    try {
      await expect(warehouse.engine.run("SET enable_external_access = true")).rejects.toThrow(
        /Cannot enable external access/,
      );
      await expect(warehouse.engine.run("SET allowed_directories = ['/']")).rejects.toThrow(
        /Cannot change allowed_directories/,
      );
      await expect(warehouse.engine.run(`SELECT * FROM read_text('${secretFile}')`)).rejects.toThrow(
        /Permission Error/,
      );
    } finally {
      await warehouse.close();
    }
  });
});

describe("confineEngine", () => {
  it("allows the given folders (also by their real path) and nothing else; a locked engine refuses SET", async () => {
    const allowed = mkdtempSync(join(tmpdir(), "sluice-allowed-"));
    writeFileSync(join(allowed, "a.csv"), "x\n1\n");
    const instance = await DuckDBInstance.create(":memory:");
    const con = await instance.connect();
    try {
      await confineEngine(con, { directories: [allowed], lockConfiguration: true });
      const rows = await con.runAndReadAll(`SELECT count(*)::INT FROM read_csv('${join(allowed, "a.csv")}')`);
      expect(rows.getRows()).toEqual([[1]]);
      await expect(con.run(`SELECT * FROM read_text('${secretFile}')`)).rejects.toThrow(/Permission Error/);
      await expect(con.run(`COPY (SELECT 1) TO '${join(outside, "out.csv")}'`)).rejects.toThrow(
        /Permission Error/,
      );
      await expect(con.run("SET threads = 1")).rejects.toThrow(/configuration has been locked/);
    } finally {
      con.closeSync();
      instance.closeSync();
    }
  });
});
