import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadProject } from "../../src/project/load-config.js";
import { createProjectContext } from "../../src/run/project-context.js";
import { runProject } from "../../src/runner/run-project.js";
import { makeProject, pipelineYaml } from "../support/cli.js";

// SQL expressions in sluice.yaml are checked for syntax by `validate`; their types only meet the data at
// run time. One that does not fit the file's columns fails the file with a sentence naming the key, the
// expression and the column types, and the file stays in the landing zone.

async function runOnce(pipeline: string, csv: string) {
  const dir = makeProject(pipelineYaml(pipeline), { "landing/in/a.csv": csv });
  const [report] = await runProject(createProjectContext(await loadProject({ cwd: dir })));
  return { dir, report: report! };
}

// `amount` holds text in this file ("n/a"), so it is read as VARCHAR.
const csv = "id,amount\n1,10\n2,n/a\n";

describe("expressions that do not fit the data", () => {
  it.each([
    ["derive", `derive:\n    big: "amount > 50"`, "derive.big: amount > 50"],
    [
      "an expression rule",
      `checks:\n    - { rule: expression, sql: "amount > 0" }`,
      "checks[0].sql: amount > 0",
    ],
    [
      "a where scope",
      `checks:\n    - { rule: not_null, columns: [id], where: "amount > 0" }`,
      "checks[0].where: amount > 0",
    ],
    ["dedupe order_by", `dedupe: { keys: [id], order_by: "amount + 1" }`, "dedupe.order_by: amount + 1"],
  ])("%s fails the file clearly; nothing is published", async (_, config, named) => {
    const { dir, report } = await runOnce(
      `t:\n  source: { path: "in/*.csv" }\n  ${config}\n  target: { table: t, mode: append }`,
      csv,
    );
    expect(report.status).toBe("failed");
    expect(report.files[0]!.error).toContain(`in/a.csv: ${named} does not fit the data: Binder Error`);
    expect(report.files[0]!.error).toContain("(in this file: amount VARCHAR)");
    expect(report.rows.loaded).toBe(0);
    expect(existsSync(join(dir, "landing/in/a.csv"))).toBe(true);
  });

  it("the same expressions load once the column is declared numeric (bad values quarantined)", async () => {
    const { report } = await runOnce(
      `t:\n  source: { path: "in/*.csv" }\n  columns: { amount: { type: double } }\n  derive:\n    big: "amount > 50"\n  checks:\n    - { rule: expression, sql: "amount > 0" }\n  max_failure_rate: 0.5\n  target: { table: t, mode: append }`,
      csv,
    );
    expect(report.status, report.error ?? "").toBe("succeeded");
    expect(report.rows).toMatchObject({ loaded: 1, malformed: 1 });
  });
});

describe("rule and dedupe columns a file does not have", () => {
  it.each([
    [
      "a rule",
      `checks: [{ rule: not_null, columns: [id] }]`,
      `checks[0].columns[0]: unknown column "id" (columns: x)`,
    ],
    ["dedupe keys", `dedupe: { keys: [id] }`, `dedupe.keys[0]: unknown column "id" (columns: x)`],
  ])("%s: only that file fails, named; the others load", async (_, config, named) => {
    const dir = makeProject(
      pipelineYaml(`t:\n  source: { path: "in/*.csv" }\n  ${config}\n  target: { table: t }`),
      {
        "landing/in/a.csv": "x\n1\n",
        "landing/in/b.csv": "id\n1\n",
      },
    );
    const [report] = await runProject(createProjectContext(await loadProject({ cwd: dir })));
    const byPath = Object.fromEntries(report!.files.map((f) => [f.path, f]));
    expect(byPath["in/a.csv"]).toMatchObject({
      status: "failed",
      error: `in/a.csv: ${named}; the file stays in the landing zone`,
    });
    expect(byPath["in/b.csv"]).toMatchObject({ status: "loaded" });
    expect(report!.rows.loaded).toBe(1);
    expect(existsSync(join(dir, "landing/in/a.csv"))).toBe(true);
    expect(existsSync(join(dir, "landing/in/b.csv"))).toBe(false);
  });
});
