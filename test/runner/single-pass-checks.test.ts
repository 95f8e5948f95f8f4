import { afterEach, describe, expect, it } from "vitest";
import { loadProject } from "../../src/project/load-config.js";
import { createProjectContext } from "../../src/run/project-context.js";
import type { RunReport } from "../../src/run/run-report.js";
import { runProject } from "../../src/runner/run-project.js";
import { addFile, makeProject, pipelineYaml } from "../support/cli.js";
import { runLog } from "../support/run-log.js";

// A checked or deduplicated CSV file is published in a single pass when it is clean, and checked the
// staged way otherwise. Which files are clean is found one of two ways:
// - checked in the write (no masks, every error/fatal row rule looks at its row alone): the write enforces the row
//   rules and dedupe (it stops at the first failing row or repeated key) and one aggregate over the
//   written rows, inside the publish transaction, counts warn rules and dataset rules;
// - counted (masks, or blocking rules such as unique/foreign_key/outlier): one aggregate read first.
// These tests pin that both give the report, rows and quarantine of the staged way, that they send
// exactly the files they must to the staged way (quarantined rows, repeated keys — NULL keys
// included —, blocking rules), and that a pipeline whose last run was not clean skips both.

interface Outcome {
  readonly report: Omit<RunReport, "run_id" | "started_at" | "finished_at" | "files" | "log"> & {
    files: unknown[];
  };
  readonly rows: unknown[];
  readonly quarantine: unknown[];
  /** The check results stored in the catalog (`sluice.checks`). */
  readonly storedChecks: unknown[];
  /** The `clean` field of each "counted" log line of the run. */
  readonly counts: boolean[];
  /** Per write with checks in it: whether it stood (clean after the write) or was undone. */
  readonly inWrite: boolean[];
}

const previous = process.env.SLUICE_SINGLE_PASS;
afterEach(() => {
  if (previous === undefined) delete process.env.SLUICE_SINGLE_PASS;
  else process.env.SLUICE_SINGLE_PASS = previous;
});

function countsOf(dir: string, runId: string): boolean[] {
  return runLog(dir, runId)
    .filter((l) => l.msg === "checks counted")
    .map((l) => l.clean === true);
}

/** A write with checks in it either stood or was undone: by a failing row, or by what followed it. */
function inWriteOf(dir: string, runId: string): boolean[] {
  return runLog(dir, runId).flatMap((l) =>
    l.msg === "checked after the write"
      ? [l.clean === true]
      : l.msg.startsWith("single pass undone") &&
          ["a row fails an error or fatal check", "a dedupe key repeats"].includes(String(l.reason))
        ? [false]
        : [],
  );
}

async function run(dir: string, singlePass: boolean): Promise<Outcome> {
  if (singlePass) delete process.env.SLUICE_SINGLE_PASS;
  else process.env.SLUICE_SINGLE_PASS = "0";
  const ctx = createProjectContext(await loadProject({ cwd: dir }));
  const [report] = await runProject(ctx);
  const warehouse = await ctx.openWarehouse({ readOnly: true });
  try {
    const hasTable = (await warehouse.query("SELECT 1 FROM duckdb_tables() WHERE table_name = 't'")).length;
    const rows = hasTable
      ? await warehouse.query(
          "SELECT * EXCLUDE (_sluice_run_id, _sluice_loaded_at) FROM t ORDER BY ALL NULLS FIRST",
        )
      : [];
    const quarantine = await warehouse.query(
      `SELECT file, line, rules, reasons, "values", raw FROM sluice.quarantine ORDER BY line`,
    );
    const storedChecks = await warehouse.query(
      "SELECT name, severity, failed FROM sluice.checks ORDER BY name",
    );
    const { run_id, started_at, finished_at, files, profile, log, ...rest } = report!;
    return {
      report: {
        ...rest,
        quarantine: rest.quarantine === null ? null : "quarantine/<run>",
        files: files.map(({ archived_to, ...f }) => ({ ...f, archived: archived_to !== null })),
        // The profile describes the same rows; only how it is read differs (and the order the rows were
        // written in, which moves the last digits of a floating-point mean or deviation).
        ...(profile ? { profile: roundedProfile(profile) } : {}),
      } as Outcome["report"],
      rows,
      quarantine,
      storedChecks,
      counts: countsOf(dir, run_id),
      inWrite: inWriteOf(dir, run_id),
    };
  } finally {
    await warehouse.close();
  }
}

/** The profile with means and deviations to 12 significant digits. */
function roundedProfile(profile: NonNullable<RunReport["profile"]>): unknown {
  const round = (x: number | null) => (x === null ? null : Number(x.toPrecision(12)));
  return {
    ...profile,
    columns: Object.fromEntries(
      Object.entries(profile.columns).map(([name, c]) => [
        name,
        { ...c, mean: round(c.mean), stddev: round(c.stddev) },
      ]),
    ),
  };
}

/** Runs the same project twice, counted (default) and staged only; both must give the same outcome. */
async function bothWays(yaml: string, files: Record<string, string>): Promise<Outcome> {
  const counted = await run(makeProject(yaml, files), true);
  const staged = await run(makeProject(yaml, files), false);
  expect(staged.counts).toEqual([]);
  expect(staged.inWrite).toEqual([]);
  expect(counted.report).toEqual(staged.report);
  expect(counted.rows).toEqual(staged.rows);
  expect(counted.quarantine).toEqual(staged.quarantine);
  expect(counted.storedChecks).toEqual(staged.storedChecks);
  return counted;
}

const checked = (extra = "") =>
  pipelineYaml(
    `t:\n  source: { path: "in/*.csv" }\n  columns:\n    email: { mask: email }\n  derive:\n    big: "amount > 50"\n  checks:\n    - { rule: not_null, columns: [id] }\n    - { rule: range, column: amount, min: 0, max: 100, severity: warn }\n    - { rule: completeness, column: email, min: 0.5, severity: warn }\n    - { rule: row_count, min: 1 }\n  dedupe: { keys: [id], keep: last, order_by: ts }\n${extra}  target: { table: t, mode: append }`,
  );

const header = "id,amount,email,ts\n";
const cleanRows = [
  "1,10.5,ann@example.com,2024-01-01",
  "2,250,bob@example.com,2024-01-02",
  "3,40,,2024-01-03",
  "4,99.5,dan@example.com,2024-01-04",
];

describe("checked files, their failures counted first", () => {
  it("a clean file is published in one pass with the report, rows and warnings of the staged way", async () => {
    const out = await bothWays(checked(), { "landing/in/a.csv": header + cleanRows.join("\n") });
    // Masked columns: the written values are not the checked ones, so the file is counted.
    expect([out.counts, out.inWrite]).toEqual([[true], []]);
    expect(out.report.status).toBe("succeeded");
    expect(out.report.rows).toMatchObject({ read: 4, loaded: 4, quarantined: 0, duplicates: 0 });
    // The warn rule failed on one row: counted, reported, row kept.
    expect(out.report.checks.find((c) => c.name === "range(amount)")).toMatchObject({ failed: 1 });
    expect(JSON.stringify(out.report.files)).toContain("check range(amount) (warn)");
    // Masks and derived columns applied the same way.
    expect(out.rows).toContainEqual(
      expect.objectContaining({ id: "2", email: "b***@example.com", big: true }),
    );
    expect(out.report.profile).toBeDefined();
  });

  it("quarantined rows send the file to the staged way: same lines, rules and reasons", async () => {
    const rows = [...cleanRows, ",5,eve@example.com,2024-01-05", "6,7,fay@example.com,2024-01-06"];
    const out = await bothWays(checked("  max_failure_rate: 0.5\n"), {
      "landing/in/a.csv": header + rows.join("\n"),
    });
    expect(out.counts).toEqual([false]);
    expect(out.report.rows).toMatchObject({ read: 6, loaded: 5, quarantined: 1 });
    expect(out.quarantine).toEqual([expect.objectContaining({ line: "6", rules: ["not_null(id)"] })]);
  });

  it("repeated keys send the file to the staged way and are deduplicated as configured", async () => {
    const rows = [...cleanRows, "2,20,bo2@example.com,2024-02-01", "2,30,bo3@example.com,2023-01-01"];
    const out = await bothWays(checked(), { "landing/in/a.csv": header + rows.join("\n") });
    expect(out.counts).toEqual([false]);
    expect(out.report.rows).toMatchObject({ loaded: 4, duplicates: 2 });
    expect(out.rows).toContainEqual(expect.objectContaining({ id: "2", amount: 20 }));
  });

  it("two rows with a NULL key repeat (dedupe treats NULL keys as equal)", async () => {
    const yaml = pipelineYaml(
      `t:\n  source: { path: "in/*.csv" }\n  dedupe: { keys: [k], keep: first }\n  target: { table: t, mode: append }`,
    );
    const out = await bothWays(yaml, { "landing/in/a.csv": "k,v\n1,a\n,b\n2,c\n,d\n" });
    expect(out.inWrite).toEqual([false]);
    expect(out.report.rows).toMatchObject({ loaded: 3, duplicates: 1 });
    const single = await bothWays(yaml, { "landing/in/a.csv": "k,v\n1,a\n,b\n2,c\n" });
    expect(single.inWrite).toEqual([true]);
    expect(single.report.rows).toMatchObject({ loaded: 3, duplicates: 0 });
  });

  it("keys of several columns repeat only when every column matches", async () => {
    const yaml = pipelineYaml(
      `t:\n  source: { path: "in/*.csv" }\n  dedupe: { keys: [a, b], keep: last }\n  target: { table: t, mode: append }`,
    );
    const distinct = await bothWays(yaml, { "landing/in/a.csv": "a,b,v\n1,1,x\n1,2,y\n2,1,z\n,1,n\n,2,m\n" });
    expect(distinct.inWrite).toEqual([true]);
    const repeated = await bothWays(yaml, { "landing/in/a.csv": "a,b,v\n1,1,x\n1,2,y\n,2,z\n,2,w\n" });
    expect(repeated.inWrite).toEqual([false]);
    expect(repeated.report.rows).toMatchObject({ loaded: 3, duplicates: 1 });
  });

  it("a failing dataset rule fails the run the same way; nothing is published", async () => {
    const yaml = checked().replace("{ rule: row_count, min: 1 }", "{ rule: row_count, min: 10 }");
    const out = await bothWays(yaml, { "landing/in/a.csv": header + cleanRows.join("\n") });
    expect(out.counts).toEqual([false]);
    expect(out.report.status).toBe("failed");
    expect(out.report.error).toContain("row_count");
    expect(out.rows).toEqual([]);
  });

  it("malformed rows of a clean file are quarantined by the single pass like the staged way", async () => {
    const rows = [...cleanRows.slice(0, 2), "5,1,x@example.com,2024-01-05,extra", ...cleanRows.slice(2)];
    const out = await bothWays(checked("  max_failure_rate: 0.5\n"), {
      "landing/in/a.csv": header + rows.join("\n"),
    });
    expect(out.counts).toEqual([true]);
    expect(out.report.rows).toMatchObject({ loaded: 4, malformed: 1, quarantined: 1 });
    expect(out.quarantine).toEqual([expect.objectContaining({ line: "4", rules: ["malformed"] })]);
  });

  it.each(["append", "replace"])(
    "a run of a clean and a dirty file (%s): one published in the single pass, one checked",
    async (mode) => {
      const yaml = checked("  max_failure_rate: 0.5\n").replace("mode: append", `mode: ${mode}`);
      const out = await bothWays(yaml, {
        "landing/in/a.csv": header + cleanRows.join("\n"),
        "landing/in/b.csv": `${header}7,1,g@example.com,2024-02-01\n,2,h@example.com,2024-02-02\n`,
      });
      expect(out.counts).toEqual([true, false]);
      expect(out.report.rows).toMatchObject({ read: 6, loaded: 5, quarantined: 1 });
      expect(out.rows.map((r) => (r as { id: string }).id)).toEqual(["1", "2", "3", "4", "7"]);
    },
  );

  it("a pipeline whose last run quarantined rows skips counting until a run is clean again", async () => {
    const dir = makeProject(checked(), {
      "landing/in/a.csv": `${header + cleanRows.join("\n")}\n,1,x@example.com,2024-01-09\n`,
    });
    expect((await run(dir, true)).counts).toEqual([false]);
    addFile(dir, "landing/in/b.csv", `${header}10,1,a@example.com,2024-03-01\n`);
    const second = await run(dir, true);
    expect([second.report.status, second.counts]).toEqual(["succeeded", []]);
    addFile(dir, "landing/in/c.csv", `${header}11,1,a@example.com,2024-03-02\n`);
    expect((await run(dir, true)).counts).toEqual([true]);
  });
});

/** Like `checked`, without masks: the write can enforce the checks. */
const inWriteYaml = (extra = "", checks = "") =>
  pipelineYaml(
    `t:\n  source: { path: "in/*.csv" }\n  derive:\n    big: "amount > 50"\n  checks:\n    - { rule: not_null, columns: [id] }\n    - { rule: accepted_values, column: email, values: [nobody@example.com], where: "amount > 1000" }\n    - { rule: range, column: amount, min: 0, max: 100, severity: warn }\n    - { rule: completeness, column: email, min: 0.5, severity: warn }\n    - { rule: row_count, min: 1 }\n${checks}  dedupe: { keys: [id], keep: last, order_by: ts }\n${extra}  target: { table: t, mode: append }`,
  );

describe("writes with checks in them (enforced by the write, counted after it)", () => {
  it("a clean file is published by its write with the report, rows and warnings of the staged way", async () => {
    const out = await bothWays(inWriteYaml(), { "landing/in/a.csv": header + cleanRows.join("\n") });
    expect([out.counts, out.inWrite]).toEqual([[], [true]]);
    expect(out.report.rows).toMatchObject({ read: 4, loaded: 4, quarantined: 0, duplicates: 0 });
    expect(out.report.checks.find((c) => c.name === "range(amount)")).toMatchObject({ failed: 1 });
    expect(out.report.checks.find((c) => c.name === "row_count")).toMatchObject({ failed: 0 });
    // Stored with the run in the catalog too (counted after the write, inside its transaction).
    expect(out.storedChecks).toContainEqual({ name: "range(amount)", severity: "warn", failed: "1" });
    expect(JSON.stringify(out.report.files)).toContain("check range(amount) (warn)");
    expect(out.rows).toContainEqual(
      expect.objectContaining({ id: "2", email: "bob@example.com", big: true }),
    );
  });

  it("a row failing an error rule stops the write; the staged way quarantines it", async () => {
    const rows = [...cleanRows, ",5,eve@example.com,2024-01-05", "6,7,fay@example.com,2024-01-06"];
    const out = await bothWays(inWriteYaml("  max_failure_rate: 0.5\n"), {
      "landing/in/a.csv": header + rows.join("\n"),
    });
    expect(out.inWrite).toEqual([false]);
    expect(out.report.rows).toMatchObject({ read: 6, loaded: 5, quarantined: 1 });
    expect(out.quarantine).toEqual([expect.objectContaining({ line: "6", rules: ["not_null(id)"] })]);
  });

  it("a rule scoped with where: stops the write only for rows in its scope", async () => {
    const inScope = await bothWays(inWriteYaml("  max_failure_rate: 0.5\n"), {
      "landing/in/a.csv": `${header + cleanRows.join("\n")}\n9,2000,x@example.com,2024-01-09\n`,
    });
    expect(inScope.inWrite).toEqual([false]);
    expect(inScope.quarantine).toEqual([expect.objectContaining({ line: "6" })]);
    // Out of scope (amount <= 1000), the same email passes.
    const outOfScope = await bothWays(inWriteYaml(), {
      "landing/in/a.csv": `${header + cleanRows.join("\n")}\n9,20,x@example.com,2024-01-09\n`,
    });
    expect(outOfScope.inWrite).toEqual([true]);
    expect(outOfScope.report.rows).toMatchObject({ loaded: 5, quarantined: 0 });
  });

  it("a fatal row rule failing fails the run the same way; nothing is published", async () => {
    const yaml = inWriteYaml("", "    - { rule: range, column: amount, max: 200, severity: fatal }\n");
    const out = await bothWays(yaml, {
      "landing/in/a.csv": `${header + cleanRows.join("\n")}\n9,500,x@example.com,2024-01-09\n`,
    });
    expect(out.inWrite).toEqual([false]);
    expect(out.report.status).toBe("failed");
    expect(out.rows).toEqual([]);
  });

  it("a blocking dataset rule failing after the write undoes it; the run fails the same way", async () => {
    const yaml = inWriteYaml().replace("{ rule: row_count, min: 1 }", "{ rule: row_count, min: 10 }");
    const out = await bothWays(yaml, { "landing/in/a.csv": header + cleanRows.join("\n") });
    expect(out.inWrite).toEqual([false]);
    expect(out.report.status).toBe("failed");
    expect(out.report.error).toContain("row_count");
    expect(out.rows).toEqual([]);
  });

  it("a repeated key stops the write; the staged way deduplicates", async () => {
    const rows = [...cleanRows, "2,20,bo2@example.com,2024-02-01"];
    const out = await bothWays(inWriteYaml(), { "landing/in/a.csv": header + rows.join("\n") });
    expect(out.inWrite).toEqual([false]);
    expect(out.report.rows).toMatchObject({ loaded: 4, duplicates: 1 });
    expect(out.rows).toContainEqual(expect.objectContaining({ id: "2", amount: 20 }));
  });

  it("a clean and a dirty file: the write of both is undone, both are checked the staged way", async () => {
    const out = await bothWays(inWriteYaml("  max_failure_rate: 0.5\n"), {
      "landing/in/a.csv": header + cleanRows.join("\n"),
      "landing/in/b.csv": `${header}7,1,g@example.com,2024-02-01\n,2,h@example.com,2024-02-02\n`,
    });
    expect(out.inWrite).toEqual([false]);
    expect(out.report.rows).toMatchObject({ read: 6, loaded: 5, quarantined: 1 });
    // Two clean files: each file's checks are counted over its own written rows.
    const clean = await bothWays(inWriteYaml(), {
      "landing/in/a.csv": header + cleanRows.join("\n"),
      // Amounts with decimals: the same type as in a.csv (a file whose columns were read in another type
      // than the table's is checked the staged way, see the last test).
      "landing/in/b.csv": `${header}7,1.5,g@example.com,2024-02-01\n8,200.5,,2024-02-02\n`,
    });
    expect(clean.inWrite).toEqual([true, true]);
    expect(clean.report.checks.find((c) => c.name === "range(amount)")).toMatchObject({ failed: 2 });
  });

  it.each([
    ["a blocking rule that needs the batch (unique)", "    - { rule: unique, columns: [email] }\n", ""],
    ["schema_evolution: discard_columns", "", "  schema_evolution: discard_columns\n"],
  ])("%s: the file is counted instead", async (_, checks, extra) => {
    const out = await bothWays(inWriteYaml(extra, checks), {
      "landing/in/a.csv": header + cleanRows.join("\n"),
    });
    expect([out.counts, out.inWrite]).toEqual([[true], []]);
  });

  it("a derived column named like a read one: the file is counted instead", async () => {
    const yaml = inWriteYaml().replace('big: "amount > 50"', 'amount: "amount * 2"');
    const out = await bothWays(yaml, { "landing/in/a.csv": header + cleanRows.join("\n") });
    expect([out.report.status, out.counts, out.inWrite]).toEqual(["succeeded", [true], []]);
  });

  it("a target holding a checked column in a wider type than the file undoes the write", async () => {
    const twice = async (singlePass: boolean) => {
      const dir = makeProject(inWriteYaml(), { "landing/in/a.csv": header + cleanRows.join("\n") });
      await run(dir, singlePass);
      // amount is DOUBLE in the table; this file's amounts read as integers.
      addFile(
        dir,
        "landing/in/b.csv",
        `${header}7,1,g@example.com,2024-02-01\n8,2,g@example.com,2024-02-02\n`,
      );
      return run(dir, singlePass);
    };
    const [single, staged] = [await twice(true), await twice(false)];
    expect(single.inWrite).toEqual([false]);
    expect(single.report).toEqual(staged.report);
    expect(single.rows).toEqual(staged.rows);
  });
});
